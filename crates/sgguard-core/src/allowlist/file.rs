//! The TOML interchange form of the allowlist. Loading validates every entry and reports
//! all problems at once; nothing half-valid is ever returned.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::AllowEntry;
use crate::error::{AllowlistProblem, Error};
use crate::model::{Direction, PortRange, Protocol};
use crate::time::format_time;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistToml {
    #[serde(default)]
    allow: Vec<EntrySpec>,
}

/// The document as read: entries stay tables so that an unknown key or a mistyped value
/// is reported against its entry, with every other problem, instead of failing the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistTables {
    #[serde(default)]
    allow: Vec<toml::Table>,
}

/// The keys an entry may have, in the order the documentation lists them.
const ENTRY_KEYS: [&str; 14] = [
    "id",
    "owner",
    "reason",
    "expires",
    "direction",
    "protocol",
    "ports",
    "cidrs",
    "prefix_lists",
    "source_groups",
    "groups",
    "accounts",
    "regions",
    "principals",
];

/// One entry in its interchange form: plain strings and lists, as written in TOML and
/// stored as DynamoDB attributes. [`EntrySpec::validate`] turns it into an [`AllowEntry`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    pub id: Option<String>,
    pub owner: Option<String>,
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_lists: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
}

/// A value people write either quoted or bare: `ports = 22`, `expires = 2027-01-31T00:00:00Z`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Integer(i64),
    Time(toml::value::Datetime),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(s) => f.write_str(s),
            Self::Integer(n) => write!(f, "{n}"),
            Self::Time(t) => write!(f, "{t}"),
        }
    }
}

impl EntrySpec {
    /// Validates the entry; `label` names it in problems when its id is missing.
    pub fn validate(self, label: &str) -> Result<AllowEntry, Vec<AllowlistProblem>> {
        let label = self
            .id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .map_or_else(|| label.to_owned(), |id| format!("`{id}`"));
        let mut problems = Vec::new();
        match validate(self, &label, &mut problems) {
            Some(entry) if problems.is_empty() => Ok(entry),
            _ => Err(problems),
        }
    }
}

impl From<&AllowEntry> for EntrySpec {
    fn from(e: &AllowEntry) -> Self {
        Self {
            id: Some(e.id.clone()),
            owner: Some(e.owner.clone()),
            reason: Some(e.reason.clone()),
            expires: e.expires.map(|t| Scalar::Text(format_time(&t))),
            direction: Some(e.direction.to_string()),
            protocol: Some(Scalar::Text(e.protocol.to_string())),
            ports: Some(Scalar::Text(e.ports.to_string())),
            cidrs: e.cidrs.iter().map(ToString::to_string).collect(),
            prefix_lists: e.prefix_lists.clone(),
            source_groups: e.source_groups.clone(),
            groups: e.groups.clone(),
            accounts: e.accounts.clone(),
            regions: e.regions.clone(),
            principals: e.principals.clone(),
        }
    }
}

/// Parses and validates an allowlist. `file` names the source in every error.
pub fn from_toml(text: &str, file: &str) -> Result<Vec<AllowEntry>, Error> {
    let parsed: AllowlistTables =
        toml::from_str(text).map_err(|source| Error::AllowlistSyntax {
            file: file.to_owned(),
            source: Box::new(source),
        })?;
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    for (index, mut table) in parsed.allow.into_iter().enumerate() {
        let id = table
            .get("id")
            .and_then(toml::Value::as_str)
            .filter(|id| !id.trim().is_empty());
        let label = id.map_or_else(|| format!("#{}", index + 1), |id| format!("`{id}`"));
        let before = problems.len();
        let unknown: Vec<String> = table
            .keys()
            .filter(|k| !ENTRY_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            table.remove(&key);
            problems.push(problem(
                &label,
                &key,
                format!(
                    "is not a known field (expected one of {})",
                    ENTRY_KEYS.join(", ")
                ),
            ));
        }
        let raw: EntrySpec = match serde_path_to_error::deserialize(toml::Value::Table(table)) {
            Ok(raw) => raw,
            Err(err) => {
                let field = err.path().to_string();
                problems.push(problem(&label, &field, err.into_inner().message()));
                continue;
            }
        };
        let entry = validate(raw, &label, &mut problems);
        if let Some(entry) = entry.filter(|_| problems.len() == before) {
            if !seen.insert(entry.id.clone()) {
                problems.push(problem(&label, "id", "is used by an earlier entry"));
            }
            entries.push(entry);
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(Error::InvalidAllowlist {
            file: file.to_owned(),
            problems,
        })
    }
}

fn problem(entry: &str, field: &str, message: impl Into<String>) -> AllowlistProblem {
    AllowlistProblem {
        entry: entry.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

fn validate(
    raw: EntrySpec,
    label: &str,
    problems: &mut Vec<AllowlistProblem>,
) -> Option<AllowEntry> {
    let mut required =
        |value: Option<String>, field: &str| match value.filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(v),
            None => {
                problems.push(problem(label, field, "is required"));
                None
            }
        };
    let id = required(raw.id, "id");
    let owner = required(raw.owner, "owner");
    let reason = required(raw.reason, "reason");
    // Keep validating an entry that lacks its bookkeeping, so all its problems are reported.
    let complete = id.is_some() && owner.is_some() && reason.is_some();
    let (id, owner, reason) = (
        id.unwrap_or_default(),
        owner.unwrap_or_default(),
        reason.unwrap_or_default(),
    );
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        problems.push(problem(
            label,
            "id",
            "may hold only letters, digits, `-`, `_` and `.`",
        ));
    }
    let mut entry = AllowEntry::new(id, owner, reason);

    if let Some(value) = raw.expires {
        let text = value.to_string();
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => entry.expires = Some(t.with_timezone(&Utc)),
            Err(_) => problems.push(problem(
                label,
                "expires",
                format!("`{text}` is not an RFC 3339 time like 2027-01-31T00:00:00Z"),
            )),
        }
    }
    if let Some(text) = raw.direction {
        match text.as_str() {
            "ingress" => entry.direction = Direction::Ingress,
            "egress" => entry.direction = Direction::Egress,
            _ => problems.push(problem(
                label,
                "direction",
                format!("`{text}` is not `ingress` or `egress`"),
            )),
        }
    }
    if let Some(value) = raw.protocol {
        let text = value.to_string();
        match Protocol::parse(&text) {
            Some(p) => entry.protocol = p,
            None => problems.push(problem(
                label,
                "protocol",
                format!("`{text}` is not tcp, udp, icmp, icmpv6, all or a protocol number"),
            )),
        }
    }
    if let Some(value) = raw.ports {
        match PortRange::parse(&value.to_string()) {
            Ok(r) => entry.ports = r,
            Err(message) => problems.push(problem(label, "ports", message)),
        }
    }
    for (i, text) in raw.cidrs.iter().enumerate() {
        match text.trim().parse::<IpNet>() {
            Ok(net) => entry.cidrs.push(net),
            Err(_) => problems.push(problem(
                label,
                &format!("cidrs[{i}]"),
                format!("`{text}` is not a CIDR"),
            )),
        }
    }
    let mut prefixed = |list: Vec<String>, field: &str, prefix: &str, target: &mut Vec<String>| {
        for (i, text) in list.into_iter().enumerate() {
            if text.starts_with(prefix) && text.len() > prefix.len() {
                target.push(text);
            } else {
                problems.push(problem(
                    label,
                    &format!("{field}[{i}]"),
                    format!("`{text}` does not start with `{prefix}`"),
                ));
            }
        }
    };
    prefixed(
        raw.prefix_lists,
        "prefix_lists",
        "pl-",
        &mut entry.prefix_lists,
    );
    prefixed(
        raw.source_groups,
        "source_groups",
        "sg-",
        &mut entry.source_groups,
    );
    prefixed(raw.groups, "groups", "sg-", &mut entry.groups);
    for (i, account) in raw.accounts.iter().enumerate() {
        if account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) {
            entry.accounts.push(account.clone());
        } else {
            problems.push(problem(
                label,
                &format!("accounts[{i}]"),
                format!("`{account}` is not a 12-digit account id"),
            ));
        }
    }
    for (i, region) in raw.regions.iter().enumerate() {
        if !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            entry.regions.push(region.clone());
        } else {
            problems.push(problem(
                label,
                &format!("regions[{i}]"),
                format!("`{region}` is not a region name"),
            ));
        }
    }
    for (i, principal) in raw.principals.iter().enumerate() {
        if principal.trim().is_empty() {
            problems.push(problem(label, &format!("principals[{i}]"), "is empty"));
        } else {
            entry.principals.push(principal.clone());
        }
    }
    complete.then_some(entry)
}

/// Writes entries in the canonical TOML form, which [`from_toml`] reads back identically.
pub fn to_toml(entries: &[AllowEntry]) -> Result<String, Error> {
    let doc = AllowlistToml {
        allow: entries.iter().map(EntrySpec::from).collect(),
    };
    toml::to_string(&doc).map_err(|source| Error::AllowlistExport { source })
}

/// One entry as a TOML inline table on one line, e.g. `{ id = "office-ssh", owner = …,
/// ports = "22", cidrs = ["203.0.113.0/24"] }`: the change log's record of what an entry
/// was. It holds exactly the keys [`to_toml`] writes.
pub fn to_toml_line(entry: &AllowEntry) -> Result<String, Error> {
    let mut line = String::new();
    EntrySpec::from(entry)
        .serialize(toml::ser::ValueSerializer::new(&mut line))
        .map_err(|source| Error::AllowlistExport { source })?;
    Ok(line)
}
