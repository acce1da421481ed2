//! EC2 on the local emulator: a fresh VPC to create security groups in, ingress rules
//! added and read back as EC2 holds them, and builders for the permissions tests add.
// Test support: an emulator call that fails is a broken test setup, so it panics.
#![expect(
    clippy::unwrap_used,
    reason = "test support: an emulator call that fails is a broken test setup"
)]

use serde_json::Value;

use crate::cloudtrail::{self, Caller};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::builders::IpPermissionBuilder;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, SecurityGroupRule, SecurityGroupRuleRequest,
    SecurityGroupRuleUpdate,
};

/// A VPC created on the emulator for one test, and the client that created it.
#[derive(Debug, Clone)]
pub struct Vpc {
    /// The EC2 client, for calls the helpers here do not cover.
    pub ec2: Client,
    /// The VPC's id.
    pub id: String,
    /// The description given to every group created in it.
    description: String,
}

impl Vpc {
    /// Creates a VPC (10.0.0.0/16); groups created in it are described as `description`.
    pub async fn create(ec2: Client, description: &str) -> Self {
        let id = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        Self {
            ec2,
            id,
            description: description.to_owned(),
        }
    }

    /// Creates a security group named `name` plus a unique suffix; returns its id.
    pub async fn group(&self, name: &str) -> String {
        self.ec2
            .create_security_group()
            .group_name(crate::aws::unique(name))
            .description(&self.description)
            .vpc_id(&self.id)
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap()
    }

    /// Adds `permissions` to `group`'s ingress in one call; returns the rules EC2 created.
    pub async fn authorize(
        &self,
        group: &str,
        permissions: Vec<IpPermission>,
    ) -> Vec<SecurityGroupRule> {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .unwrap()
            .security_group_rules
            .unwrap_or_default()
    }

    /// Adds ingress `permissions` to `group` as `caller` in `account` and `region`, and
    /// returns the rules EC2 created with the CloudTrail record of that call, built from
    /// EC2's answer (the emulator emits no CloudTrail of its own).
    pub async fn authorize_as(
        &self,
        event_id: &str,
        caller: &Caller,
        account: &str,
        region: &str,
        group: &str,
        permissions: Vec<IpPermission>,
    ) -> (Vec<SecurityGroupRule>, Value) {
        let created = self.authorize(group, permissions.clone()).await;
        let record = cloudtrail::authorize(
            cloudtrail::Call {
                event_id,
                account,
                region,
                caller,
            },
            false,
            group,
            &permissions,
            &created,
        );
        (created, record)
    }

    /// The ingress rules EC2 holds for `group` now.
    pub async fn ingress_rules(&self, group: &str) -> Vec<SecurityGroupRule> {
        self.ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(group).build())
            .send()
            .await
            .unwrap()
            .security_group_rules
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.is_egress() == Some(false))
            .collect()
    }

    /// Replaces the content of `group`'s rule `rule_id` in place (ModifySecurityGroupRules).
    pub async fn modify_rule(&self, group: &str, rule_id: &str, content: SecurityGroupRuleRequest) {
        self.ec2
            .modify_security_group_rules()
            .group_id(group)
            .security_group_rules(
                SecurityGroupRuleUpdate::builder()
                    .security_group_rule_id(rule_id)
                    .security_group_rule(content)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// The ids of the ingress rules EC2 holds for `group` now, sorted.
    pub async fn ingress_ids(&self, group: &str) -> Vec<String> {
        ids(&self.ingress_rules(group).await)
    }
}

/// A tcp permission for one port, to which the sources are still to be added.
pub fn tcp(port: i32) -> IpPermissionBuilder {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
}

/// An IPv4 source range.
pub fn v4(cidr: &str) -> IpRange {
    IpRange::builder().cidr_ip(cidr).build()
}

/// The ids of `rules`, sorted.
pub fn ids(rules: &[SecurityGroupRule]) -> Vec<String> {
    let mut ids: Vec<String> = rules
        .iter()
        .filter_map(|r| r.security_group_rule_id().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The id of the first of `rules` that `pred` holds for; panics if there is none.
pub fn rule_id_of(
    rules: &[SecurityGroupRule],
    pred: impl Fn(&SecurityGroupRule) -> bool,
) -> String {
    rules
        .iter()
        .find(|r| pred(r))
        .and_then(|r| r.security_group_rule_id())
        .unwrap()
        .to_owned()
}
