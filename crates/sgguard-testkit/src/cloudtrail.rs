//! CloudTrail records built from what EC2 actually did (the emulator emits none), in the
//! shapes CloudTrail writes: camelCase request parameters with `items`, the response's
//! `securityGroupRuleSet`, and the EventBridge envelope around it.

use aws_sdk_ec2::types::{IpPermission, SecurityGroupRule};
use serde_json::{Value, json};

/// Who makes a call in a test.
#[derive(Debug, Clone)]
pub struct Caller {
    pub arn: String,
    /// The role behind an assumed-role session.
    pub role_arn: Option<String>,
}

impl Caller {
    pub fn user(account: &str, name: &str) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            role_arn: None,
        }
    }

    pub fn role(account: &str, role: &str, session: &str) -> Self {
        Self {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            role_arn: Some(format!("arn:aws:iam::{account}:role/{role}")),
        }
    }

    fn identity(&self, account: &str) -> Value {
        match &self.role_arn {
            Some(role) => json!({
                "type": "AssumedRole", "arn": self.arn, "accountId": account, "principalId": "AROAEXAMPLE:session",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": account}}
            }),
            None => {
                json!({"type": "IAMUser", "arn": self.arn, "accountId": account, "principalId": "AIDAEXAMPLE"})
            }
        }
    }
}

fn items(values: Vec<Value>) -> Value {
    if values.is_empty() {
        json!({})
    } else {
        json!({ "items": values })
    }
}

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

/// The common fields of a record.
#[allow(clippy::too_many_arguments)]
pub fn record(
    event_id: &str,
    event_name: &str,
    account: &str,
    region: &str,
    caller: &Caller,
    request: Value,
    response: Value,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": caller.identity(account),
        "eventTime": sgguard_core::time::format_time(&chrono::Utc::now()),
        "eventSource": "ec2.amazonaws.com",
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.10",
        "userAgent": "aws-cli/2.17.0",
        "requestParameters": request,
        "responseElements": response,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    })
}

/// An `AuthorizeSecurityGroupIngress`/`Egress` record from the call and what it returned.
#[allow(clippy::too_many_arguments)]
pub fn authorize(
    event_id: &str,
    egress: bool,
    account: &str,
    region: &str,
    caller: &Caller,
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
    let response = json!({"requestId": format!("req-{event_id}"), "_return": true, "securityGroupRuleSet": items(created.iter().map(rule_json).collect())});
    record(event_id, name, account, region, caller, request, response)
}

/// A `RevokeSecurityGroupIngress` record that names the rules by id.
pub fn revoke_by_ids(
    event_id: &str,
    account: &str,
    region: &str,
    caller: &Caller,
    group_id: &str,
    rule_ids: &[String],
) -> Value {
    let request = json!({
        "groupId": group_id,
        "securityGroupRuleIds": items(rule_ids.iter().map(|id| json!({"securityGroupRuleId": id})).collect()),
    });
    let response = json!({"requestId": format!("req-{event_id}"), "_return": true});
    record(
        event_id,
        "RevokeSecurityGroupIngress",
        account,
        region,
        caller,
        request,
        response,
    )
}

/// A `ModifySecurityGroupRules` record (PascalCase, as CloudTrail writes it).
#[allow(clippy::too_many_arguments)]
pub fn modify(
    event_id: &str,
    account: &str,
    region: &str,
    caller: &Caller,
    group_id: &str,
    rule_id: &str,
    content: Value,
) -> Value {
    let request = json!({"ModifySecurityGroupRulesRequest": {
        "GroupId": group_id,
        "SecurityGroupRule": {"SecurityGroupRuleId": rule_id, "SecurityGroupRule": content}
    }});
    let response = json!({"ModifySecurityGroupRulesResponse": {"_return": true, "requestId": format!("req-{event_id}")}});
    record(
        event_id,
        "ModifySecurityGroupRules",
        account,
        region,
        caller,
        request,
        response,
    )
}

/// A `ModifyManagedPrefixList` record that adds `add` to the list at `current_version`, in
/// the PascalCase wrapper form CloudTrail uses for this call.
pub fn modify_prefix_list(
    event_id: &str,
    account: &str,
    region: &str,
    caller: &Caller,
    prefix_list_id: &str,
    current_version: i64,
    add: &[&str],
) -> Value {
    let entries: Vec<Value> = add
        .iter()
        .map(|cidr| json!({"Cidr": cidr, "Description": "added"}))
        .collect();
    let request = json!({"ModifyManagedPrefixListRequest": {
        "PrefixListId": prefix_list_id,
        "CurrentVersion": current_version,
        "AddEntry": entries,
    }});
    // As AWS answers: the modification is in progress, at the version it started from.
    let response = json!({"ModifyManagedPrefixListResponse": {
        "requestId": format!("req-{event_id}"),
        "prefixList": {"prefixListId": prefix_list_id, "version": current_version, "state": "modify-in-progress"}
    }});
    record(
        event_id,
        "ModifyManagedPrefixList",
        account,
        region,
        caller,
        request,
        response,
    )
}

/// The EventBridge envelope that delivers a record to the Lambda.
pub fn envelope(record: &Value) -> Value {
    json!({
        "version": "0",
        "id": format!("eb-{}", record["eventID"].as_str().unwrap_or_default()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record
    })
}

/// What the deployed function's OnFailure destination keeps in the dead-letter queue for
/// one event: the EventBridge event in `requestPayload`, the error beside it.
pub fn dead_letter(event: &Value) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-26T10:00:00.000Z",
        "requestContext": {
            "requestId": "6f1a3c52-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:sgguard:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Retryable", "errorMessage": "retryable: audit log: throttled"}
    })
}
