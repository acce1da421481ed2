//! [`Ec2Remediator`]: carries out remediation steps with the EC2 API. Revokes by rule id
//! (exact), falls back to the exact permissions for records without ids, restores modified
//! rules in place, and confirms every step with `DescribeSecurityGroupRules`.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroupRule,
    SecurityGroupRuleRequest, SecurityGroupRuleUpdate, UserIdGroupPair,
};
use sgguard_core::{Direction, Protocol, RuleContent, Source};
use sgguard_responder::{PortError, RemediationStep, Remediator, StepKind, StepResult, StepStatus};

use crate::accounts::{Access, AccountAccess};
use crate::error::Error;

/// Error codes that mean "that rule is not there (any more)".
const NOT_FOUND_CODES: &[&str] = &[
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidGroup.NotFound",
];

/// Which client a step uses: the account's access (home or a member role) and the region.
type ClientKey = (Option<String>, String);

/// EC2 clients, one per account and region, built on first use from one shared
/// configuration (and, for member accounts, the member role's credentials).
#[derive(Debug)]
pub struct Ec2Remediator {
    config: SdkConfig,
    accounts: AccountAccess,
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl Ec2Remediator {
    /// A remediator acting in the home account of `config`'s credentials only.
    pub fn new(config: SdkConfig) -> Self {
        Self {
            accounts: AccountAccess::new(config.clone()),
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Acts on events of other accounts through the role of this name in each of them
    /// (see [`AccountAccess`]); without one, their reverts fail instead.
    pub fn with_member_role(mut self, role_name: Option<String>) -> Self {
        self.accounts = self.accounts.with_member_role(role_name);
        self
    }

    /// Uses `client` for home-account steps in `region` instead of building one from the
    /// shared configuration: a client with its own interceptors (interceptors are
    /// per-client configuration, not part of an `SdkConfig`), e.g. one that counts requests.
    pub fn with_client(mut self, region: impl Into<String>, client: Client) -> Self {
        if let Ok(clients) = self.clients.get_mut() {
            clients.insert((None, region.into()), client);
        }
        self
    }

    /// The client for an event's account and region (EventBridge rules are regional, but a
    /// replayed or forwarded event may come from another region or account).
    async fn client(&self, account: &str, region: &str) -> Result<Client, Error> {
        let access = self.accounts.access(account).await?;
        let key = match &access {
            Access::Home => (None, region.to_owned()),
            Access::Member(_) => (Some(account.to_owned()), region.to_owned()),
        };
        let build = || {
            let mut builder = aws_sdk_ec2::config::Builder::from(&self.config);
            if !region.is_empty() {
                builder = builder.region(aws_sdk_ec2::config::Region::new(region.to_owned()));
            }
            if let Access::Member(credentials) = &access {
                builder = builder.credentials_provider(credentials.clone());
            }
            Client::from_conf(builder.build())
        };
        Ok(match self.clients.lock() {
            Ok(mut clients) => clients.entry(key).or_insert_with(build).clone(),
            Err(_) => build(),
        })
    }

    async fn execute_inner(&self, step: &RemediationStep) -> Result<StepResult, Error> {
        let client = self.client(&step.account, &step.region).await?;
        match &step.kind {
            StepKind::RevokeRules { rule_ids } => revoke_rules(&client, step, rule_ids).await,
            StepKind::RevokePermissions { contents } => {
                revoke_permissions(&client, step, contents).await
            }
            StepKind::Restore {
                rule_id, content, ..
            } => restore(&client, step, rule_id, content).await,
        }
    }
}

impl Remediator for Ec2Remediator {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        Ok(self.execute_inner(step).await?)
    }

    async fn rule_direction(
        &self,
        account: &str,
        region: &str,
        rule_id: &str,
    ) -> Result<Option<Direction>, PortError> {
        let client = self.client(account, region).await?;
        let rules = existing_rules(&client, &[rule_id.to_owned()]).await?;
        Ok(rules.first().and_then(|r| r.is_egress()).map(|egress| {
            if egress {
                Direction::Egress
            } else {
                Direction::Ingress
            }
        }))
    }
}

fn is_not_found(err: &Error) -> bool {
    err.code().is_some_and(|c| NOT_FOUND_CODES.contains(&c))
}

fn failed(detail: impl Into<String>) -> StepResult {
    StepResult {
        status: StepStatus::Failed,
        detail: detail.into(),
    }
}

/// The rules among `rule_ids` that still exist. The filter form returns only existing
/// rules instead of failing on the missing ones.
async fn existing_rules(
    client: &Client,
    rule_ids: &[String],
) -> Result<Vec<SecurityGroupRule>, Error> {
    let mut rules = Vec::new();
    let mut token = None;
    loop {
        let output = client
            .describe_security_group_rules()
            .filters(
                Filter::builder()
                    .name("security-group-rule-id")
                    .set_values(Some(rule_ids.to_vec()))
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::from_sdk("DescribeSecurityGroupRules", e))?;
        rules.extend(
            output
                .security_group_rules
                .unwrap_or_default()
                .into_iter()
                .filter(|r| {
                    r.security_group_rule_id()
                        .is_some_and(|id| rule_ids.iter().any(|wanted| wanted == id))
                }),
        );
        token = output.next_token;
        if token.is_none() {
            break;
        }
    }
    Ok(rules)
}

async fn revoke_rules(
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
            let present = existing_rules(client, rule_ids).await?;
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
                let still: Vec<String> = existing_rules(client, &ids)
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
    let remaining = existing_rules(client, rule_ids).await?;
    if !remaining.is_empty() {
        let ids: Vec<&str> = remaining
            .iter()
            .filter_map(|r| r.security_group_rule_id())
            .collect();
        return Ok(failed(format!(
            "still present after revoke: {}",
            ids.join(", ")
        )));
    }
    if revoked.is_empty() {
        return Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: format!("already gone: {} no longer exist", rule_ids.join(", ")),
        });
    }
    let gone: Vec<&str> = rule_ids
        .iter()
        .filter(|id| !revoked.contains(id))
        .map(String::as_str)
        .collect();
    let mut detail = format!(
        "revoked {} from {group_id}; confirmed absent by DescribeSecurityGroupRules",
        revoked.join(", ")
    );
    if !gone.is_empty() {
        detail.push_str(&format!("; already gone: {}", gone.join(", ")));
    }
    Ok(StepResult {
        status: StepStatus::Reverted,
        detail,
    })
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

async fn revoke_permissions(
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

async fn restore(
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
    let result = client
        .modify_security_group_rules()
        .group_id(group_id)
        .security_group_rules(update)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ModifySecurityGroupRules", e));
    match result {
        Ok(_) => {}
        Err(err) if is_not_found(&err) => {
            return Ok(StepResult {
                status: StepStatus::AlreadyGone,
                detail: format!("already gone: {rule_id} no longer exists, nothing to restore"),
            });
        }
        Err(err) => return Err(err),
    }
    let now = existing_rules(client, &[rule_id.to_owned()]).await?;
    match now.first() {
        None => Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: format!("already gone: {rule_id} was removed meanwhile"),
        }),
        Some(rule) if matches_content(rule, content) => Ok(StepResult {
            status: StepStatus::Restored,
            detail: format!(
                "restored {rule_id} in {group_id}; confirmed by DescribeSecurityGroupRules"
            ),
        }),
        Some(_) => Ok(failed(format!(
            "{rule_id} does not hold the restored content after ModifySecurityGroupRules"
        ))),
    }
}

/// Whether a described rule holds `content` (networks compared, not strings).
fn matches_content(rule: &SecurityGroupRule, content: &RuleContent) -> bool {
    let protocol_ok = rule.ip_protocol().and_then(Protocol::parse) == Some(content.protocol);
    let ports_ok = content.protocol == Protocol::All
        || (rule.from_port() == content.from_port.or(Some(-1))
            && rule.to_port() == content.to_port.or(Some(-1)));
    let source_ok = match &content.source {
        Source::CidrV4(_) | Source::CidrV6(_) => {
            rule.cidr_ipv4()
                .or(rule.cidr_ipv6())
                .and_then(|c| c.parse::<ipnet::IpNet>().ok())
                .map(|n| n.trunc())
                == content.source.network()
        }
        Source::PrefixList(id) => rule.prefix_list_id() == Some(id.as_str()),
        Source::SecurityGroup { group_id, .. } => {
            rule.referenced_group_info().and_then(|g| g.group_id()) == Some(group_id.as_str())
        }
    };
    protocol_ok && ports_ok && source_ok
}
