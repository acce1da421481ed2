//! Restoring a modified rule in place to content the policy accepts, confirmed by reading
//! the rule back: `restored` only when it holds the target, `reverted` only when it is gone.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{SecurityGroupRuleRequest, SecurityGroupRuleUpdate};
use sgguard_core::{Protocol, RuleContent, Source};
use sgguard_responder::{RemediationStep, StepResult, StepStatus};

use super::observe::{observed, rules_by_id};
use super::{failed, is_not_found};
use crate::error::Error;

pub(crate) async fn rule(
    client: &Client,
    step: &RemediationStep,
    rule_id: &str,
    content: &RuleContent,
) -> Result<StepResult, Error> {
    let Some(group_id) = step.group_id.as_deref() else {
        return Ok(failed("the event names no group id; cannot restore"));
    };
    let mut request = SecurityGroupRuleRequest::builder()
        .ip_protocol(content.protocol.as_ec2())
        .set_from_port(
            content
                .from_port
                .or((content.protocol == Protocol::All).then_some(-1)),
        )
        .set_to_port(
            content
                .to_port
                .or((content.protocol == Protocol::All).then_some(-1)),
        )
        .set_description(content.description.clone());
    request = match &content.source {
        Source::CidrV4(net) => request.cidr_ipv4(net.to_string()),
        Source::CidrV6(net) => request.cidr_ipv6(net.to_string()),
        Source::PrefixList(id) => request.prefix_list_id(id),
        Source::SecurityGroup { group_id, .. } => request.referenced_group_id(group_id),
    };
    let update = SecurityGroupRuleUpdate::builder()
        .security_group_rule_id(rule_id)
        .security_group_rule(request.build())
        .build();
    let refused = match client
        .modify_security_group_rules()
        .group_id(group_id)
        .security_group_rules(update)
        .send()
        .await
    {
        Ok(_) => None,
        Err(err) => {
            let err = Error::from_sdk("ModifySecurityGroupRules", err);
            // "Not found" may name the group the target references, not this rule: only
            // EC2's own description of the rule says whether it is gone.
            if !is_not_found(&err) {
                return Err(err);
            }
            Some(err)
        }
    };
    let now = rules_by_id(client, &[rule_id.to_owned()]).await?;
    let Some(rule) = now.first() else {
        return Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: format!(
                "already gone: {rule_id} no longer exists; confirmed by DescribeSecurityGroupRules"
            ),
        });
    };
    let holds = observed(rule)?.content;
    match refused {
        Some(err) => Ok(failed(format!(
            "ModifySecurityGroupRules refused ({}); {rule_id} still holds {holds}",
            err.code().unwrap_or("error")
        ))),
        None if holds.same_access(content) => Ok(StepResult {
            status: StepStatus::Restored,
            detail: format!(
                "restored {rule_id} in {group_id}; confirmed by DescribeSecurityGroupRules"
            ),
        }),
        None => Ok(failed(format!(
            "{rule_id} holds {holds} after ModifySecurityGroupRules, not the restored content"
        ))),
    }
}
