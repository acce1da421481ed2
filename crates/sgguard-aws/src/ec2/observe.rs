//! Reading what EC2 holds now, in domain terms: rules by id or by group, converted to
//! [`ObservedRule`]s, so the responder compares before it acts.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, SecurityGroupRule};
use sgguard_core::{Direction, ObservedRule, Protocol, RuleContent, Source};

use crate::error::Error;

/// How many ids one `DescribeSecurityGroupRules` filter carries (the API caps filter values).
const IDS_PER_REQUEST: usize = 200;

/// The rules among `rule_ids` that exist now. The filter form returns only existing rules
/// instead of failing on the missing ones.
pub(crate) async fn rules_by_id(
    client: &Client,
    rule_ids: &[String],
) -> Result<Vec<SecurityGroupRule>, Error> {
    let mut rules = Vec::new();
    for chunk in rule_ids.chunks(IDS_PER_REQUEST) {
        let filter = Filter::builder()
            .name("security-group-rule-id")
            .set_values(Some(chunk.to_vec()))
            .build();
        rules.extend(
            described(client, Some(filter))
                .await?
                .into_iter()
                .filter(|r| {
                    r.security_group_rule_id()
                        .is_some_and(|id| chunk.iter().any(|wanted| wanted == id))
                }),
        );
    }
    Ok(rules)
}

/// Every rule of one group.
pub(crate) async fn rules_of_group(
    client: &Client,
    group_id: &str,
) -> Result<Vec<SecurityGroupRule>, Error> {
    let filter = Filter::builder().name("group-id").values(group_id).build();
    Ok(described(client, Some(filter))
        .await?
        .into_iter()
        .filter(|r| r.group_id() == Some(group_id))
        .collect())
}

/// Every rule of the region (paginated), for the rules that reference a prefix list.
pub(crate) async fn all_rules(client: &Client) -> Result<Vec<SecurityGroupRule>, Error> {
    described(client, None).await
}

async fn described(
    client: &Client,
    filter: Option<Filter>,
) -> Result<Vec<SecurityGroupRule>, Error> {
    let mut rules = Vec::new();
    let mut token = None;
    loop {
        let output = client
            .describe_security_group_rules()
            .set_filters(filter.clone().map(|f| vec![f]))
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::from_sdk("DescribeSecurityGroupRules", e))?;
        rules.extend(output.security_group_rules.unwrap_or_default());
        token = output.next_token.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(rules);
        }
    }
}

/// A described rule in domain terms. A rule EC2 describes in a way we cannot read is an
/// error, never a guess: acting on it would be acting blind.
pub(crate) fn observed(rule: &SecurityGroupRule) -> Result<ObservedRule, Error> {
    let id = rule.security_group_rule_id().unwrap_or_default();
    let bad = |what: &str| Error::Inconsistent(format!("EC2 describes {id} with {what}"));
    let protocol = rule
        .ip_protocol()
        .and_then(Protocol::parse)
        .ok_or_else(|| bad("no protocol we know"))?;
    let source = if let Some(cidr) = rule.cidr_ipv4().or(rule.cidr_ipv6()) {
        Source::parse(cidr).map_err(|_| bad("an unreadable CIDR"))?
    } else if let Some(list) = rule.prefix_list_id() {
        Source::PrefixList(list.to_owned())
    } else if let Some(group) = rule.referenced_group_info() {
        Source::SecurityGroup {
            group_id: group
                .group_id()
                .ok_or_else(|| bad("a referenced group without id"))?
                .to_owned(),
            user_id: group.user_id().map(str::to_owned),
            vpc_peering_connection_id: group.vpc_peering_connection_id().map(str::to_owned),
        }
    } else {
        return Err(bad("no source"));
    };
    Ok(ObservedRule {
        rule_id: id.to_owned(),
        group_id: rule.group_id().unwrap_or_default().to_owned(),
        direction: match rule.is_egress() {
            Some(true) => Direction::Egress,
            Some(false) => Direction::Ingress,
            None => Direction::Unknown,
        },
        content: RuleContent {
            protocol,
            from_port: rule.from_port(),
            to_port: rule.to_port(),
            source,
            description: rule.description().map(str::to_owned),
        },
    })
}

pub(crate) fn observed_all(rules: &[SecurityGroupRule]) -> Result<Vec<ObservedRule>, Error> {
    rules.iter().map(observed).collect()
}
