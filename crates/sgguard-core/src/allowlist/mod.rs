//! The allowlist: exceptions people grant, each with an owner, a reason and an expiry.
//! Matching is pure and explains itself: a rule is approved by a named entry, or the
//! closest entry says which criterion failed.

mod file;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use wildmatch::WildMatch;

pub use file::{EntrySpec, Scalar, from_toml, to_toml, to_toml_line};

use crate::event::Identity;
use crate::model::{Direction, PortRange, Protocol, RuleContent, Source};

/// One exception. Every criterion that is given must hold; empty lists mean "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub id: String,
    pub owner: String,
    pub reason: String,
    pub expires: Option<DateTime<Utc>>,
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: PortRange,
    pub cidrs: Vec<IpNet>,
    pub prefix_lists: Vec<String>,
    pub source_groups: Vec<String>,
    /// The groups being changed.
    pub groups: Vec<String>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Globs on the caller: its ARN, or for an assumed role, the role ARN.
    pub principals: Vec<String>,
}

impl AllowEntry {
    /// An entry with only its bookkeeping set: it approves any ingress rule until narrowed.
    pub fn new(id: impl Into<String>, owner: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            owner: owner.into(),
            reason: reason.into(),
            expires: None,
            direction: Direction::Ingress,
            protocol: Protocol::All,
            ports: PortRange::ALL,
            cidrs: Vec::new(),
            prefix_lists: Vec::new(),
            source_groups: Vec::new(),
            groups: Vec::new(),
            accounts: Vec::new(),
            regions: Vec::new(),
            principals: Vec::new(),
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }

    fn names_a_source(&self) -> bool {
        !(self.cidrs.is_empty() && self.prefix_lists.is_empty() && self.source_groups.is_empty())
    }

    /// The criteria this entry fails for `rule`; empty means it approves the rule.
    pub fn failures(&self, rule: &RuleFacts<'_>, now: DateTime<Utc>) -> Vec<Failure> {
        let mut failed = Vec::new();
        let mut fail =
            |criterion: &'static str, detail: String| failed.push(Failure { criterion, detail });
        if let Some(expires) = self.expires.filter(|_| self.is_expired(now)) {
            fail(
                "expires",
                format!("expired at {}", crate::time::format_time(&expires)),
            );
        }
        let rule_direction = if rule.direction.is_ingress() {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        if self.direction != rule_direction {
            fail(
                "direction",
                format!("entry is {}, rule is {}", self.direction, rule_direction),
            );
        }
        let content = rule.content;
        if content.protocol == Protocol::All {
            if self.protocol != Protocol::All || !self.ports.is_all() {
                fail(
                    "protocol",
                    "an all-protocols rule needs protocol = \"all\" and ports = \"all\"".into(),
                );
            }
        } else if self.protocol != Protocol::All && self.protocol != content.protocol {
            fail(
                "protocol",
                format!(
                    "entry allows {}, rule is {}",
                    self.protocol, content.protocol
                ),
            );
        } else if !self.ports.contains(content.port_range()) {
            fail(
                "ports",
                format!(
                    "rule range {} is not inside {}",
                    content.port_range(),
                    self.ports
                ),
            );
        }
        if self.names_a_source()
            && let Some(detail) = self.source_failure(&content.source)
        {
            fail("source", detail);
        }
        let listed = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l == v))
        };
        if !listed(&self.groups, rule.group_id) {
            fail(
                "groups",
                format!(
                    "group {} is not listed",
                    rule.group_id.unwrap_or("(unknown)")
                ),
            );
        }
        if !listed(&self.accounts, Some(rule.account)) {
            fail(
                "accounts",
                format!("account {} is not listed", rule.account),
            );
        }
        if !listed(&self.regions, Some(rule.region)) {
            fail("regions", format!("region {} is not listed", rule.region));
        }
        if !self.principals.is_empty() {
            let matches = |arn: &str| {
                self.principals
                    .iter()
                    .any(|p| WildMatch::new(p).matches(arn))
            };
            if !matches(&rule.identity.principal) && !matches(&rule.identity.actor) {
                fail(
                    "principals",
                    format!("caller {} matches no principal", rule.identity.principal),
                );
            }
        }
        failed
    }

    fn source_failure(&self, source: &Source) -> Option<String> {
        match source {
            Source::CidrV4(_) | Source::CidrV6(_) => {
                let net = source.network()?;
                let inside = self.cidrs.iter().any(|c| c.trunc().contains(&net));
                (!inside).then(|| format!("{source} is not inside any of the entry's cidrs"))
            }
            Source::PrefixList(id) => (!self.prefix_lists.contains(id))
                .then(|| format!("prefix list {id} is not in the entry's prefix_lists")),
            Source::SecurityGroup { group_id, .. } => (!self.source_groups.contains(group_id))
                .then(|| format!("security group {group_id} is not in the entry's source_groups")),
        }
    }
}

/// One criterion an entry failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub criterion: &'static str,
    pub detail: String,
}

/// Everything the allowlist needs to know about one rule.
#[derive(Debug, Clone, Copy)]
pub struct RuleFacts<'a> {
    pub direction: Direction,
    pub content: &'a RuleContent,
    pub group_id: Option<&'a str>,
    pub account: &'a str,
    pub region: &'a str,
    pub identity: &'a Identity,
}

/// The allowlist's answer for one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approved {
        entry_id: String,
    },
    /// No entry approves. `closest` is the entry that failed the fewest criteria.
    NotApproved {
        closest: Option<(String, Vec<Failure>)>,
    },
}

/// A loaded set of entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    pub entries: Vec<AllowEntry>,
}

impl Allowlist {
    /// Entries are kept in id order, whatever the store returned, so every store (and a
    /// file) credits the same entry when several approve a rule.
    pub fn new(mut entries: Vec<AllowEntry>) -> Self {
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Self { entries }
    }

    /// The first entry (in id order) that approves the rule, or the closest miss.
    pub fn evaluate(&self, rule: &RuleFacts<'_>, now: DateTime<Utc>) -> Approval {
        let mut closest: Option<(String, Vec<Failure>)> = None;
        for entry in &self.entries {
            let failures = entry.failures(rule, now);
            if failures.is_empty() {
                return Approval::Approved {
                    entry_id: entry.id.clone(),
                };
            }
            if closest
                .as_ref()
                .is_none_or(|(_, f)| failures.len() < f.len())
            {
                closest = Some((entry.id.clone(), failures));
            }
        }
        Approval::NotApproved { closest }
    }

    pub fn get(&self, id: &str) -> Option<&AllowEntry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests;
