//! `sgguard allow add`: one entry from flags, validated like an allowlist file entry.

use std::io::Write;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use sgguard_core::allowlist::{EntrySpec, Scalar, to_toml_line};
use sgguard_core::time::{format_time, parse_time_or_duration};
use sgguard_core::{AllowEntry, AllowlistProblem};
use sgguard_responder::AllowlistStore;

use crate::Exit;
use crate::store::StoreArgs;

use super::render::relative;
use super::{change, store_label};

const ADD_HELP: &str = "\
Every criterion is optional and all that are given must hold; repeat a list flag for
several values. Without a source flag (--cidr, --prefix-list, --source-group) the entry
approves any source, so narrow it. Values are checked exactly as in an allowlist file.

--expires takes an RFC 3339 time, a date (2027-01-31, midnight UTC) or a duration from
now (72h, 30d); it is kept to the second. --region is the entry's region criterion; the
store's AWS region is --aws-region (or AWS_REGION).

Examples:
  sgguard allow add office-ssh --owner netops@example.com --reason 'NET-123 office SSH' \\
      --expires 2027-01-31 --protocol tcp --ports 22 --cidr 203.0.113.0/24 --cidr 2001:db8::/32
  sgguard allow add terraform-https --owner platform@example.com --reason 'PLAT-77 public LBs' \\
      --protocol tcp --ports 443 --group sg-0fedcba9876543210 \\
      --principal 'arn:aws:iam::*:role/terraform-*'
  sgguard allow add office-ssh --replace --owner netops@example.com --reason 'NET-124 new office' \\
      --expires 30d --protocol tcp --ports 22 --cidr 198.51.100.0/24";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = ADD_HELP)]
pub struct AddArgs {
    /// The entry's id: letters, digits, `-`, `_` and `.`.
    pub id: String,

    /// Who is responsible for the exception (a person or team).
    #[arg(long)]
    pub owner: String,

    /// Why it exists, ideally with a ticket reference.
    #[arg(long)]
    pub reason: String,

    /// When it stops approving: RFC 3339, a date like 2027-01-31, or a duration like 72h or 30d.
    #[arg(long, value_name = "DATE|DURATION")]
    pub expires: Option<String>,

    /// `ingress` (default) or `egress`.
    #[arg(long)]
    pub direction: Option<String>,

    /// tcp, udp, icmp, icmpv6, all (default) or a protocol number.
    #[arg(long)]
    pub protocol: Option<String>,

    /// `22`, `8000-8100` or `all` (default); for ICMP, the type.
    #[arg(long)]
    pub ports: Option<String>,

    /// A source network the rule's source must lie inside (IPv4 or IPv6). Repeatable.
    #[arg(long = "cidr", value_name = "CIDR")]
    pub cidrs: Vec<String>,

    /// A managed prefix list source (`pl-…`). Repeatable.
    #[arg(long = "prefix-list", value_name = "PL_ID")]
    pub prefix_lists: Vec<String>,

    /// A referenced security-group source (`sg-…`). Repeatable.
    #[arg(long = "source-group", value_name = "SG_ID")]
    pub source_groups: Vec<String>,

    /// A group the rule may be added to (`sg-…`). Repeatable.
    #[arg(long = "group", value_name = "SG_ID")]
    pub groups: Vec<String>,

    /// An account the group may be in (12 digits). Repeatable.
    #[arg(long = "account", value_name = "ACCOUNT")]
    pub accounts: Vec<String>,

    /// A region the group may be in. Repeatable.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// A glob on the caller's ARN (for an assumed role, the role ARN). Repeatable.
    #[arg(long = "principal", value_name = "ARN_GLOB")]
    pub principals: Vec<String>,

    /// Overwrite an existing entry with this id.
    #[arg(long)]
    pub replace: bool,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// The TOML field each `add` flag fills, for errors that name both.
fn flag_of(field: &str) -> &'static str {
    match field.split('[').next().unwrap_or(field) {
        "id" => "ID",
        "owner" => "--owner",
        "reason" => "--reason",
        "expires" => "--expires",
        "direction" => "--direction",
        "protocol" => "--protocol",
        "ports" => "--ports",
        "cidrs" => "--cidr",
        "prefix_lists" => "--prefix-list",
        "source_groups" => "--source-group",
        "groups" => "--group",
        "accounts" => "--account",
        "regions" => "--region",
        "principals" => "--principal",
        _ => "the entry",
    }
}

fn problems_line(problems: &[AllowlistProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {p}", flag_of(&p.field)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses `--expires`: a time, a date or a duration from `now`, to the whole second.
fn parse_expires(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let time = parse_time_or_duration(text, now, false).ok_or_else(|| {
        anyhow!(
            "--expires: `{text}` is not an RFC 3339 time, a date like 2027-01-31 or a duration like 72h or 30d"
        )
    })?;
    let time = DateTime::from_timestamp(time.timestamp(), 0)
        .ok_or_else(|| anyhow!("--expires: `{text}` is out of range"))?;
    if time <= now {
        bail!(
            "--expires: `{text}` ({}) is in the past; the entry would approve nothing",
            format_time(&time)
        );
    }
    Ok(time)
}

impl AddArgs {
    /// The entry these flags describe, validated exactly as an allowlist file entry is.
    pub fn entry(&self, now: DateTime<Utc>) -> anyhow::Result<AllowEntry> {
        let expires = self
            .expires
            .as_deref()
            .map(|text| parse_expires(text, now))
            .transpose()?;
        let spec = EntrySpec {
            id: Some(self.id.clone()),
            owner: Some(self.owner.clone()),
            reason: Some(self.reason.clone()),
            expires: expires.map(|t| Scalar::Text(format_time(&t))),
            direction: self.direction.clone(),
            protocol: self.protocol.clone().map(Scalar::Text),
            ports: self.ports.clone().map(Scalar::Text),
            cidrs: self.cidrs.clone(),
            prefix_lists: self.prefix_lists.clone(),
            source_groups: self.source_groups.clone(),
            groups: self.groups.clone(),
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            principals: self.principals.clone(),
        };
        spec.validate("(no id)")
            .map_err(|problems| anyhow!(problems_line(&problems)))
    }
}

/// `sgguard allow add`.
pub async fn add(args: &AddArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let entry = args.entry(Utc::now())?;
    let stores = args.store.open().await?;
    let existing = stores.allowlist.entries().await.with_context(|| {
        format!(
            "cannot read the allowlist from {}",
            store_label(&args.store)
        )
    })?;
    let action = match existing.iter().find(|e| e.id == entry.id) {
        Some(_) if !args.replace => bail!(
            "entry `{}` already exists; pass --replace to overwrite it (see `sgguard allow list`)",
            entry.id
        ),
        Some(_) => "replace",
        None => "add",
    };
    let line = to_toml_line(&entry)?;
    let by = crate::identity::caller(&stores).await?;
    stores
        .allowlist
        .put(&entry, &change(&by, action, &entry.id, line.clone()))
        .await
        .with_context(|| format!("cannot write entry `{}`", entry.id))?;
    let verb = if action == "add" { "added" } else { "replaced" };
    writeln!(out, "{verb} {}: {line}", entry.id)?;
    if let Some(t) = entry.expires {
        writeln!(
            out,
            "expires {} ({})",
            format_time(&t),
            relative(t - Utc::now())
        )?;
    }
    Ok(Exit::Success)
}
