//! Revoking what an event added: by rule id (exact, and only the rules named), or offline
//! by the exact permissions of a record without ids.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use sgguard_core::{Direction, Protocol, RuleContent, Source};
use sgguard_responder::{RemediationStep, StepResult, StepStatus};

use super::observe::rules_by_id;
use super::{failed, is_not_found};
use crate::error::Error;

pub(crate) async fn rules(
    client: &Client,
    step: &RemediationStep,
    rule_ids: &[String],
) -> Result<StepResult, Error> {
    let Some(group_id) = step.group_id.as_deref() else {
        return Ok(failed(
            "the event names no group id; cannot revoke by rule id",
        ));
    };
    // The direction is known from the record's `isEgress`; only a modified rule without
    // history needs a look first.
    let (ingress, egress): (Vec<String>, Vec<String>) = match step.direction {
        Direction::Ingress => (rule_ids.to_vec(), Vec::new()),
        Direction::Egress => (Vec::new(), rule_ids.to_vec()),
        Direction::Unknown => {
            let present = rules_by_id(client, rule_ids).await?;
            let ids = |egress: bool| -> Vec<String> {
                present
                    .iter()
                    .filter(|r| r.is_egress() == Some(egress))
                    .filter_map(|r| r.security_group_rule_id().map(str::to_owned))
                    .collect()
            };
            (ids(false), ids(true))
        }
    };
    let mut revoked = Vec::new();
    for (is_egress, ids) in [(false, ingress), (true, egress)] {
        if ids.is_empty() {
            continue;
        }
        match revoke_ids(client, group_id, is_egress, &ids).await {
            Ok(()) => revoked.extend(ids),
            // Some were removed by someone else: revoke the ones still there, once.
            Err(err) if is_not_found(&err) => {
                let still: Vec<String> = rules_by_id(client, &ids)
                    .await?
                    .iter()
                    .filter_map(|r| r.security_group_rule_id().map(str::to_owned))
                    .collect();
                if !still.is_empty() {
                    revoke_ids(client, group_id, is_egress, &still).await?;
                    revoked.extend(still);
                }
            }
            Err(err) => return Err(err),
        }
    }
    let remaining = rules_by_id(client, rule_ids).await?;
    if !remaining.is_empty() {
        let ids: Vec<&str> = remaining
            .iter()
            .filter_map(|r| r.security_group_rule_id())
            .collect();
        return Ok(failed(format!(
            "still present after revoke: {}",
            sample(&ids)
        )));
    }
    // The change each rule belongs to names it: the detail stays short whatever the count.
    if revoked.is_empty() {
        return Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: "already gone; confirmed absent by DescribeSecurityGroupRules".into(),
        });
    }
    let gone = rule_ids.len() - revoked.len();
    let mut detail =
        format!("revoked from {group_id}; confirmed absent by DescribeSecurityGroupRules");
    if gone > 0 {
        detail.push_str(&format!("; {gone} of the step's rules were already gone"));
    }
    Ok(StepResult {
        status: StepStatus::Reverted,
        detail,
    })
}

/// At most five ids, and how many more.
fn sample(ids: &[&str]) -> String {
    let shown = ids.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    match ids.len() {
        n if n > 5 => format!("{shown} and {} more", n - 5),
        _ => shown,
    }
}

async fn revoke_ids(
    client: &Client,
    group_id: &str,
    egress: bool,
    ids: &[String],
) -> Result<(), Error> {
    let answer = if egress {
        client
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(ids.to_vec()))
            .send()
            .await
            .map(|o| o.r#return)
            .map_err(|e| Error::from_sdk("RevokeSecurityGroupEgress", e))?
    } else {
        client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_security_group_rule_ids(Some(ids.to_vec()))
            .send()
            .await
            .map(|o| o.r#return)
            .map_err(|e| Error::from_sdk("RevokeSecurityGroupIngress", e))?
    };
    match answer {
        Some(false) => Err(Error::Inconsistent(format!(
            "EC2 answered false to revoking {}",
            ids.join(", ")
        ))),
        _ => Ok(()),
    }
}

fn permission(content: &RuleContent) -> IpPermission {
    let mut p = IpPermission::builder().ip_protocol(content.protocol.as_ec2());
    if content.protocol != Protocol::All {
        p = p
            .set_from_port(content.from_port)
            .set_to_port(content.to_port);
    }
    match &content.source {
        Source::CidrV4(net) => p = p.ip_ranges(IpRange::builder().cidr_ip(net.to_string()).build()),
        Source::CidrV6(net) => {
            p = p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(net.to_string()).build())
        }
        Source::PrefixList(id) => {
            p = p.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).build())
        }
        Source::SecurityGroup {
            group_id,
            user_id,
            vpc_peering_connection_id,
        } => {
            p = p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(group_id)
                    .set_user_id(user_id.clone())
                    .set_vpc_peering_connection_id(vpc_peering_connection_id.clone())
                    .build(),
            );
        }
    }
    p.build()
}

pub(crate) async fn permissions(
    client: &Client,
    step: &RemediationStep,
    contents: &[RuleContent],
) -> Result<StepResult, Error> {
    let permissions: Vec<IpPermission> = contents.iter().map(permission).collect();
    let (unknown, operation) = if step.direction == Direction::Egress {
        let Some(group_id) = step.group_id.as_deref() else {
            return Ok(failed("egress revokes need a group id"));
        };
        let output = client
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(|e| Error::from_sdk("RevokeSecurityGroupEgress", e));
        (
            output.map(|o| o.unknown_ip_permissions.unwrap_or_default().len()),
            "RevokeSecurityGroupEgress",
        )
    } else {
        let output = client
            .revoke_security_group_ingress()
            .set_group_id(step.group_id.clone())
            .set_group_name(if step.group_id.is_none() {
                step.group_name.clone()
            } else {
                None
            })
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(|e| Error::from_sdk("RevokeSecurityGroupIngress", e));
        (
            output.map(|o| o.unknown_ip_permissions.unwrap_or_default().len()),
            "RevokeSecurityGroupIngress",
        )
    };
    match unknown {
        Ok(n) if n == contents.len() => Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: "already gone: no such permission".into(),
        }),
        Ok(n) => {
            let mut detail = format!("{operation} with the exact permissions of the request");
            if n > 0 {
                detail.push_str(&format!("; {n} already gone"));
            }
            Ok(StepResult {
                status: StepStatus::Reverted,
                detail,
            })
        }
        Err(err) if is_not_found(&err) => Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: "already gone: no such permission".into(),
        }),
        Err(err) => Err(err),
    }
}
