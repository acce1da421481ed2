//! CloudTrail records of what EC2 actually did on the emulator (which emits none): the
//! shared JSON builders of `sgguard_core::testing`, fed with the SDK's own types.

use aws_sdk_ec2::types::{IpPermission, SecurityGroupRule};
use serde_json::{Value, json};
pub use sgguard_core::testing::{Caller, dead_letter, envelope, items};
use sgguard_core::testing::{
    Record, modify_prefix_list as prefix_list_record, revoke_by_ids as revoke_record,
};

/// `IpPermission` as CloudTrail records it in `requestParameters.ipPermissions.items`.
pub fn permission_json(p: &IpPermission) -> Value {
    let mut v = json!({
        "ipProtocol": p.ip_protocol(),
        "ipRanges": items(p.ip_ranges().iter().map(|r| json!({"cidrIp": r.cidr_ip()})).collect()),
        "ipv6Ranges": items(p.ipv6_ranges().iter().map(|r| json!({"cidrIpv6": r.cidr_ipv6()})).collect()),
        "prefixListIds": items(p.prefix_list_ids().iter().map(|r| json!({"prefixListId": r.prefix_list_id()})).collect()),
        "groups": items(p.user_id_group_pairs().iter().map(|g| json!({"groupId": g.group_id(), "userId": g.user_id()})).collect()),
    });
    if let Some(from) = p.from_port() {
        v["fromPort"] = json!(from);
    }
    if let Some(to) = p.to_port() {
        v["toPort"] = json!(to);
    }
    v
}

/// A rule as the response's `securityGroupRuleSet.items` lists it.
pub fn rule_json(rule: &SecurityGroupRule) -> Value {
    let mut v = json!({
        "securityGroupRuleId": rule.security_group_rule_id(),
        "groupId": rule.group_id(),
        "groupOwnerId": rule.group_owner_id(),
        "isEgress": rule.is_egress(),
        "ipProtocol": rule.ip_protocol(),
        "fromPort": rule.from_port(),
        "toPort": rule.to_port(),
    });
    if let Some(c) = rule.cidr_ipv4() {
        v["cidrIpv4"] = json!(c);
    }
    if let Some(c) = rule.cidr_ipv6() {
        v["cidrIpv6"] = json!(c);
    }
    if let Some(p) = rule.prefix_list_id() {
        v["prefixListId"] = json!(p);
    }
    if let Some(g) = rule.referenced_group_info() {
        v["referencedGroupInfo"] = json!({"groupId": g.group_id(), "userId": g.user_id()});
    }
    v
}

/// Where and by whom a call was made.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub event_id: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub caller: &'a Caller,
}

impl Call<'_> {
    fn record(&self, base: Record) -> Value {
        Record {
            account: self.account.to_owned(),
            region: self.region.to_owned(),
            caller: self.caller.clone(),
            time: sgguard_core::time::format_time(&chrono::Utc::now()),
            ..base
        }
        .build()
    }
}

/// A record of any call, made now.
pub fn record(call: Call<'_>, event_name: &str, request: Value, response: Value) -> Value {
    call.record(Record::new(call.event_id, event_name, request, response))
}

/// An `AuthorizeSecurityGroupIngress`/`Egress` record from the call and what EC2 created.
/// The rule set must list every rule the call created: build it from a describe of the
/// group before and after, since the emulator's reply lists only the last permission's.
pub fn authorize(
    call: Call<'_>,
    egress: bool,
    group_id: &str,
    permissions: &[IpPermission],
    created: &[SecurityGroupRule],
) -> Value {
    let name = if egress {
        "AuthorizeSecurityGroupEgress"
    } else {
        "AuthorizeSecurityGroupIngress"
    };
    let request = json!({"groupId": group_id, "ipPermissions": items(permissions.iter().map(permission_json).collect())});
    let response = json!({"requestId": format!("req-{}", call.event_id), "_return": true, "securityGroupRuleSet": items(created.iter().map(rule_json).collect())});
    call.record(Record::new(call.event_id, name, request, response))
}

/// A `ModifySecurityGroupRules` record of one rule (PascalCase, as CloudTrail writes it).
pub fn modify(call: Call<'_>, group_id: &str, rule_id: &str, content: Value) -> Value {
    call.record(sgguard_core::testing::modify_rules(
        call.event_id,
        call.caller,
        group_id,
        &[(rule_id, content)],
    ))
}

/// A `RevokeSecurityGroupIngress` record that names the rules by id.
pub fn revoke_by_ids(call: Call<'_>, group_id: &str, rule_ids: &[String]) -> Value {
    call.record(revoke_record(
        call.event_id,
        call.caller,
        group_id,
        rule_ids,
    ))
}

/// A `ModifyManagedPrefixList` record that adds `add` to the list at `current_version`.
pub fn modify_prefix_list(
    call: Call<'_>,
    prefix_list_id: &str,
    current_version: i64,
    add: &[&str],
) -> Value {
    call.record(prefix_list_record(
        call.event_id,
        call.caller,
        prefix_list_id,
        current_version,
        add,
    ))
}
