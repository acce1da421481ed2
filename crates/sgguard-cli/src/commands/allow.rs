//! `sgguard allow`: the allowlist people manage day to day. List it (expired entries are
//! marked, `--expiring` shows what is about to lapse), add and remove entries, import and
//! export the TOML form, and check which entry approves a rule, or why none does.
//!
//! Every change is recorded in the store's allowlist change log: who (the STS caller on
//! AWS, the OS user locally), when, what (`add`, `replace`, `remove`, `import`) and the
//! entry as one line of TOML.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Color, ContentArrangement, Table};
use serde::Serialize;
use sgguard_core::allowlist::{
    EntrySpec, Failure, RuleFacts, Scalar, from_toml, to_toml, to_toml_line,
};
use sgguard_core::event::RecordClass;
use sgguard_core::time::{format_time, parse_time_or_duration};
use sgguard_core::{
    AllowEntry, Allowlist, AllowlistProblem, Approval, ChangeKind, Direction, Identity, PortRange,
    Protocol, RiskLevel, RiskTable, RuleChange, RuleContent, Source, classify_record, normalize,
};
use sgguard_responder::{AllowlistChange, AllowlistStore, Origin};

use crate::Exit;
use crate::input::read_file;
use crate::store::{StoreArgs, StoreSpec, Stores, file_allowlist};

const ALLOW_HELP: &str = "\
Entries are the TOML form `import`, `export` and `replay --allowlist` use (see the README,
\"The allowlist\"). Every change (add, remove, import) is recorded in the store's audit
trail with who made it (the STS caller on AWS, the OS user locally) and when.

Examples:
  sgguard allow list
  sgguard allow list --expiring 7d
  sgguard allow add office-ssh --owner netops@example.com --reason 'NET-123 office SSH' \\
      --expires 90d --protocol tcp --ports 22 --cidr 203.0.113.0/24
  sgguard allow check --group sg-0123456789abcdef0 --protocol tcp --ports 22 --source 203.0.113.0/24
  sgguard allow check event.json
  sgguard allow export --output allowlist.toml
  sgguard allow import allowlist.toml
  sgguard allow remove office-ssh";

/// `sgguard allow`.
#[derive(Debug, Clone, Args)]
#[command(after_help = ALLOW_HELP)]
pub struct AllowArgs {
    #[command(subcommand)]
    pub command: AllowCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AllowCommand {
    /// List the entries; expired ones are shown as expired (they approve nothing).
    List(ListArgs),
    /// Add one entry (or replace one, with --replace).
    Add(AddArgs),
    /// Remove one entry.
    Remove(RemoveArgs),
    /// Add or replace every entry of a TOML file: all of them, or none when any is invalid.
    Import(ImportArgs),
    /// Print the allowlist as TOML (the form `import` and `replay --allowlist` read).
    Export(ExportArgs),
    /// Explain which entry approves each rule of an event (or of one rule given by flags), or why none does.
    Check(CheckArgs),
}

/// How `list` and `check` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AllowFormat {
    /// Aligned text for people.
    Table,
    /// One JSON object per line.
    Json,
}

/// `table` on a terminal, `json` when piped.
fn format_or_default(format: Option<AllowFormat>) -> AllowFormat {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        AllowFormat::Table
    } else {
        AllowFormat::Json
    })
}

/// Runs one `sgguard allow` subcommand, printing to `out` (colours only on a terminal).
pub async fn allow(args: &AllowArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match &args.command {
        AllowCommand::List(a) => list_styled(a, out, color).await,
        AllowCommand::Add(a) => add(a, out).await,
        AllowCommand::Remove(a) => remove(a, out).await,
        AllowCommand::Import(a) => import(a, out).await,
        AllowCommand::Export(a) => export(a, out).await,
        AllowCommand::Check(a) => check_styled(a, out, color).await,
    }
}

/// How the store is named in messages.
fn store_label(store: &StoreArgs) -> String {
    match &store.store {
        StoreSpec::Sqlite(_) => store.store.to_string(),
        StoreSpec::DynamoDb => format!("dynamodb table {}", store.allowlist_table),
    }
}

/// An allowlist change record made now by `by`.
fn change(by: &str, action: &str, entry_id: &str, detail: String) -> AllowlistChange {
    AllowlistChange {
        at: format_time(&Utc::now()),
        by: by.to_owned(),
        action: action.to_owned(),
        entry_id: entry_id.to_owned(),
        detail,
    }
}

// ---------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------

const LIST_HELP: &str = "\
EXPIRES shows the expiry and how far away it is (`in 5d`), or `expired`: an expired entry
approves nothing but stays listed until it is removed. `--format json` prints one object
per entry with every criterion and `expired`.

Examples:
  sgguard allow list
  sgguard allow list --expiring 7d                 # what lapses within a week
  sgguard allow list --format json | jq -r 'select(.expired) | .id'
  sgguard allow list --store dynamodb --aws-region eu-west-1";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = LIST_HELP)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Only entries that expire within this duration and have not expired yet: `7d`, `72h`, `2w`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expiring: Option<Duration>,

    /// `table` for people (default on a terminal), `json` for one object per line.
    #[arg(long, value_enum)]
    pub format: Option<AllowFormat>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration like 7d, 72h or 30m"))
}

/// One entry as `list --format json` prints it: every criterion, always present.
#[derive(Debug, Serialize)]
struct EntryJson<'a> {
    id: &'a str,
    owner: &'a str,
    reason: &'a str,
    expires: Option<String>,
    expired: bool,
    direction: String,
    protocol: String,
    ports: String,
    cidrs: Vec<String>,
    prefix_lists: &'a [String],
    source_groups: &'a [String],
    groups: &'a [String],
    accounts: &'a [String],
    regions: &'a [String],
    principals: &'a [String],
}

impl<'a> EntryJson<'a> {
    fn new(e: &'a AllowEntry, now: DateTime<Utc>) -> Self {
        Self {
            id: &e.id,
            owner: &e.owner,
            reason: &e.reason,
            expires: e.expires.map(|t| format_time(&t)),
            expired: e.is_expired(now),
            direction: e.direction.to_string(),
            protocol: e.protocol.to_string(),
            ports: e.ports.to_string(),
            cidrs: e.cidrs.iter().map(ToString::to_string).collect(),
            prefix_lists: &e.prefix_lists,
            source_groups: &e.source_groups,
            groups: &e.groups,
            accounts: &e.accounts,
            regions: &e.regions,
            principals: &e.principals,
        }
    }
}

/// `sgguard allow list`.
pub async fn list(args: &ListArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    list_styled(args, out, false).await
}

async fn list_styled(args: &ListArgs, out: &mut dyn Write, color: bool) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let entries = stores.allowlist.entries().await.with_context(|| {
        format!(
            "cannot read the allowlist from {}",
            store_label(&args.store)
        )
    })?;
    let now = Utc::now();
    let total = entries.len();
    let window = args
        .expiring
        .map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    let shown: Vec<&AllowEntry> = entries
        .iter()
        .filter(|e| {
            window.is_none_or(|w| {
                e.expires.is_some_and(|t| {
                    t > now && now.checked_add_signed(w).is_none_or(|end| t <= end)
                })
            })
        })
        .collect();
    match format_or_default(args.format) {
        AllowFormat::Json => {
            for e in &shown {
                serde_json::to_writer(&mut *out, &EntryJson::new(e, now))?;
                writeln!(out)?;
            }
        }
        AllowFormat::Table => {
            let within = args
                .expiring
                .map(|d| span(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
            if shown.is_empty() {
                match &within {
                    Some(w) => {
                        writeln!(out, "no entry expires within {w} ({})", entries_word(total))?
                    }
                    None => writeln!(out, "the allowlist is empty ({})", store_label(&args.store))?,
                }
                return Ok(Exit::Success);
            }
            writeln!(out, "{}", entry_table(&shown, now, color))?;
            let expired = shown.iter().filter(|e| e.is_expired(now)).count();
            let summary = match &within {
                Some(w) => format!(
                    "{} of {} expire{} within {w}",
                    shown.len(),
                    entries_word(total),
                    if shown.len() == 1 { "s" } else { "" }
                ),
                None if expired > 0 => format!("{}, {expired} expired", entries_word(total)),
                None => entries_word(total),
            };
            writeln!(out, "\n{summary}")?;
        }
    }
    Ok(Exit::Success)
}

fn entries_word(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

/// `5d`, `36h`, `12m`: rounded, in the largest unit that still reads precisely.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let round = |unit: i64| (secs + unit / 2) / unit;
    if secs >= 2 * 86_400 {
        format!("{}d", round(86_400))
    } else if secs >= 2 * 3_600 {
        format!("{}h", round(3_600))
    } else if secs >= 120 {
        format!("{}m", round(60))
    } else {
        format!("{secs}s")
    }
}

/// `in 5d`, `in 36h`, `in 12m`.
fn relative(delta: chrono::Duration) -> String {
    format!("in {}", span(delta.num_seconds()))
}

fn expires_text(e: &AllowEntry, now: DateTime<Utc>) -> String {
    match e.expires {
        None => "never".into(),
        Some(t) if e.is_expired(now) => format!("{} (expired)", format_time(&t)),
        Some(t) => format!("{} ({})", format_time(&t), relative(t - now)),
    }
}

fn sources_text(e: &AllowEntry) -> String {
    let sources: Vec<String> = e
        .cidrs
        .iter()
        .map(ToString::to_string)
        .chain(e.prefix_lists.iter().cloned())
        .chain(e.source_groups.iter().cloned())
        .collect();
    if sources.is_empty() {
        "any".into()
    } else {
        sources.join(", ")
    }
}

fn scope_text(e: &AllowEntry) -> String {
    let parts: Vec<String> = [
        ("groups", &e.groups),
        ("accounts", &e.accounts),
        ("regions", &e.regions),
        ("principals", &e.principals),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(name, list)| format!("{name}: {}", list.join(", ")))
    .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join("\n")
    }
}

fn entry_table(entries: &[&AllowEntry], now: DateTime<Utc>, color: bool) -> String {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header([
        "ID",
        "OWNER",
        "REASON",
        "EXPIRES",
        "DIRECTION",
        "PROTOCOL",
        "PORTS",
        "SOURCES",
        "SCOPE",
    ]);
    let soon = now + chrono::Duration::days(7);
    for e in entries {
        let mut expires = Cell::new(expires_text(e, now));
        if color {
            if e.is_expired(now) {
                expires = expires.fg(Color::Red);
            } else if e.expires.is_some_and(|t| t <= soon) {
                expires = expires.fg(Color::Yellow);
            }
        }
        table.add_row(vec![
            Cell::new(&e.id),
            Cell::new(&e.owner),
            Cell::new(&e.reason),
            expires,
            Cell::new(e.direction),
            Cell::new(e.protocol),
            Cell::new(e.ports),
            Cell::new(sources_text(e)),
            Cell::new(scope_text(e)),
        ]);
    }
    table.to_string()
}

// ---------------------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "The removal is recorded in the audit trail with the entry as it was.\n\nExamples:\n  sgguard allow remove office-ssh\n  sgguard allow remove office-ssh --store dynamodb --aws-region eu-west-1"
)]
pub struct RemoveArgs {
    /// The id of the entry to remove.
    pub id: String,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `sgguard allow remove`: an error naming the id when there is no such entry.
pub async fn remove(args: &RemoveArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let label = store_label(&args.store);
    let entries = stores
        .allowlist
        .entries()
        .await
        .with_context(|| format!("cannot read the allowlist from {label}"))?;
    let Some(entry) = entries.iter().find(|e| e.id == args.id) else {
        bail!("no allowlist entry `{}` in {label}", args.id);
    };
    let line = to_toml_line(entry)?;
    let by = crate::identity::caller(&stores).await?;
    let removed = stores
        .allowlist
        .remove(&args.id, &change(&by, "remove", &args.id, line.clone()))
        .await
        .with_context(|| format!("cannot remove entry `{}`", args.id))?;
    if !removed {
        bail!("no allowlist entry `{}` in {label}", args.id);
    }
    writeln!(out, "removed {}: {line}", args.id)?;
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------
// import / export
// ---------------------------------------------------------------------------------------

const IMPORT_HELP: &str = "\
The whole file is validated first: if any entry is invalid, every problem is reported
(file, entry, field) and nothing is written. Entries with a new id are added, entries
with an existing id are replaced, identical ones are left alone; entries in the store but
not in the file are kept. On SQLite the import is one transaction. On DynamoDB up to 50
entries are one transaction; a larger file is written 50 entries at a time after all of
it was validated (re-running the import finishes an interrupted one).

Examples:
  sgguard allow import allowlist.toml
  sgguard allow export --store sqlite:old.db | sgguard allow import --store dynamodb -";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// The TOML file (`[[allow]]` entries), or `-` for stdin.
    #[arg(value_name = "FILE.toml")]
    pub file: PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `sgguard allow import`: all or nothing.
pub async fn import(args: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let label = if args.file.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        args.file.display().to_string()
    };
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin().lock())
            .context("cannot read the allowlist from stdin")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read allowlist `{label}`"))?
    };
    let entries = from_toml(&text, &label)?;
    let stores = args.store.open().await?;
    let store = store_label(&args.store);
    let existing: BTreeMap<String, AllowEntry> = stores
        .allowlist
        .entries()
        .await
        .with_context(|| format!("cannot read the allowlist from {store}"))?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let mut writes = Vec::new();
    let mut lines = Vec::new();
    let (mut added, mut replaced, mut unchanged) = (0, 0, 0);
    for entry in entries {
        let verb = match existing.get(&entry.id) {
            Some(old) if *old == entry => {
                unchanged += 1;
                lines.push(format!("unchanged {}", entry.id));
                continue;
            }
            Some(_) => {
                replaced += 1;
                "replaced"
            }
            None => {
                added += 1;
                "added"
            }
        };
        let line = to_toml_line(&entry)?;
        lines.push(format!("{verb} {}", entry.id));
        writes.push((entry, format!("{verb} from {label}: {line}")));
    }
    if !writes.is_empty() {
        let by = crate::identity::caller(&stores).await?;
        let changes: Vec<AllowlistChange> = writes
            .iter()
            .map(|(entry, detail)| change(&by, "import", &entry.id, detail.clone()))
            .collect();
        let entries: Vec<AllowEntry> = writes.into_iter().map(|(e, _)| e).collect();
        stores
            .allowlist
            .put_many(&entries, &changes)
            .await
            .with_context(|| format!("cannot import `{label}` into {store}"))?;
    }
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "imported {label} into {store}: {added} added, {replaced} replaced, {unchanged} unchanged"
    )?;
    Ok(Exit::Success)
}

#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "The output is canonical: entries in id order, fixed key order, times in UTC to the second.\nExporting, importing into an empty store and exporting again gives the same bytes.\n\nExamples:\n  sgguard allow export > allowlist.toml\n  sgguard allow export --output allowlist.toml --store dynamodb --aws-region eu-west-1\n  sgguard allow export | sgguard allow import --store sqlite:copy.db -"
)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `sgguard allow export`.
pub async fn export(args: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let entries = stores.allowlist.entries().await.with_context(|| {
        format!(
            "cannot read the allowlist from {}",
            store_label(&args.store)
        )
    })?;
    let text = to_toml(&entries)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            writeln!(
                out,
                "exported {} entries from {} to {}",
                entries.len(),
                store_label(&args.store),
                path.display()
            )?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------

const CHECK_HELP: &str = "\
Give an event file (EventBridge event, CloudTrail record or log file, JSON Lines, gzip,
or `-` for stdin), or describe one rule with --source and --protocol (plus --ports,
--group, --direction, --account, --region, --principal as the entries you test need).
For each rule that adds or widens access, prints its risk and the entry that approves
it, or the closest entry and every criterion it failed. Judges against the stored
allowlist, or against --allowlist FILE (what-if, before importing it). The store's AWS
region is --aws-region (or AWS_REGION) here, since --region is the rule's region.

Exit status: 0 when every rule is approved, 2 when any is not, 1 on an error.

Examples:
  sgguard allow check --group sg-0123456789abcdef0 --protocol tcp --ports 22 --source 203.0.113.0/24
  sgguard allow check --protocol tcp --ports 443 --source 0.0.0.0/0 --group sg-0fedcba9876543210 \\
      --principal arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci
  sgguard allow check examples/events/03-envelope-authorize-ingress-ipv4-ipv6-and-office-ssh.json
  sgguard allow check --allowlist proposed.toml event.json && echo approved";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = CHECK_HELP)]
pub struct CheckArgs {
    /// An event file, or `-` for stdin. Leave it out to describe one rule with flags.
    #[arg(
        value_name = "EVENT_FILE",
        conflicts_with_all = ["group", "protocol", "ports", "source", "direction", "account", "rule_region", "principal"]
    )]
    pub event: Option<PathBuf>,

    /// The group the rule is added to (`sg-…`).
    #[arg(long, value_name = "SG_ID")]
    pub group: Option<String>,

    /// tcp, udp, icmp, icmpv6, all or a protocol number.
    #[arg(long)]
    pub protocol: Option<String>,

    /// `22`, `8000-8100` or `all` (default); for ICMP, the type.
    #[arg(long)]
    pub ports: Option<String>,

    /// The rule's source: a CIDR, a prefix list (`pl-…`) or a security group (`sg-…`).
    #[arg(long)]
    pub source: Option<String>,

    /// `ingress` (default) or `egress`.
    #[arg(long)]
    pub direction: Option<String>,

    /// The account of the group.
    #[arg(long)]
    pub account: Option<String>,

    /// The region of the group.
    #[arg(long = "region", value_name = "REGION")]
    pub rule_region: Option<String>,

    /// The caller's ARN (an assumed-role session ARN also matches its role).
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,

    /// Judge against this allowlist file (TOML) instead of the stored allowlist.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// `table` for people (default on a terminal), `json` for one object per rule.
    #[arg(long, value_enum)]
    pub format: Option<AllowFormat>,
}

/// What `check` found for one rule; `--format json` prints it as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVerdict {
    /// The input record (none for a rule given by flags).
    pub origin: Option<Origin>,
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub group_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub actor: Option<String>,
    pub principal: Option<String>,
    pub rule_id: Option<String>,
    pub direction: Direction,
    pub kind: ChangeKind,
    pub protocol: String,
    pub ports: String,
    pub source: String,
    pub risk: RiskLevel,
    pub risk_reasons: Vec<String>,
    pub approved: bool,
    pub approved_by: Option<String>,
    /// When not approved: the entry that failed the fewest criteria.
    pub closest_entry: Option<String>,
    /// The criteria the closest entry failed.
    pub failures: Vec<FailedCriterion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedCriterion {
    pub criterion: String,
    pub detail: String,
}

/// The result of `check`: every verdict, and the records that were not rules.
#[derive(Debug, Default)]
pub struct CheckRun {
    /// The allowlist judged against, e.g. `sqlite:sgguard.db (4 entries)`.
    pub judged_against: String,
    pub allowlist: Allowlist,
    pub verdicts: Vec<RuleVerdict>,
    /// Records and changes with nothing to approve, and why (skipped, removals).
    pub notes: Vec<String>,
    /// Records that could not be read.
    pub invalid: Vec<String>,
}

impl CheckRun {
    pub fn unapproved(&self) -> usize {
        self.verdicts.iter().filter(|v| !v.approved).count()
    }

    /// 2 when any rule is unapproved, else 0.
    pub fn exit(&self) -> Exit {
        if self.unapproved() > 0 {
            Exit::Unapproved
        } else {
            Exit::Success
        }
    }
}

/// What is known about the event a rule comes from.
struct RuleContext<'a> {
    origin: Option<Origin>,
    event_id: Option<&'a str>,
    event_name: Option<&'a str>,
    group_id: Option<&'a str>,
    account: &'a str,
    region: &'a str,
    identity: &'a Identity,
    /// For a rule given by flags: which of the scope flags were given.
    given: Option<[bool; 4]>,
}

const NOT_GIVEN: &str = "(not given)";

fn judge(
    change: &RuleChange,
    content: &RuleContent,
    ctx: &RuleContext<'_>,
    allowlist: &Allowlist,
    now: DateTime<Utc>,
) -> RuleVerdict {
    let risk = RiskTable::default().classify(change);
    let facts = RuleFacts {
        direction: change.direction,
        content,
        group_id: ctx.group_id,
        account: ctx.account,
        region: ctx.region,
        identity: ctx.identity,
    };
    let (approved_by, closest, failures) = match allowlist.evaluate(&facts, now) {
        Approval::Approved { entry_id } => (Some(entry_id), None, Vec::new()),
        Approval::NotApproved { closest } => match closest {
            Some((id, failures)) => (None, Some(id), hinted(failures, ctx.given)),
            None => (None, None, Vec::new()),
        },
    };
    let known = |s: &str| (s != NOT_GIVEN).then(|| s.to_owned());
    RuleVerdict {
        origin: ctx.origin.clone(),
        event_id: ctx.event_id.map(str::to_owned),
        event_name: ctx.event_name.map(str::to_owned),
        group_id: ctx.group_id.map(str::to_owned),
        account: known(ctx.account),
        region: known(ctx.region),
        actor: known(&ctx.identity.actor),
        principal: known(&ctx.identity.principal),
        rule_id: change.rule_id.clone(),
        direction: change.direction,
        kind: change.kind,
        protocol: content.protocol.to_string(),
        ports: content.port_range().to_string(),
        source: content.source.to_string(),
        risk: risk.level,
        risk_reasons: risk.reasons,
        approved: approved_by.is_some(),
        approved_by,
        closest_entry: closest,
        failures,
    }
}

/// For a rule given by flags, a scope criterion that failed because its flag was left out
/// says which flag to pass.
fn hinted(failures: Vec<Failure>, given: Option<[bool; 4]>) -> Vec<FailedCriterion> {
    failures
        .into_iter()
        .map(|f| {
            let flag = match f.criterion {
                "groups" => Some((0, "--group")),
                "accounts" => Some((1, "--account")),
                "regions" => Some((2, "--region")),
                "principals" => Some((3, "--principal")),
                _ => None,
            };
            let detail = match (flag, given) {
                (Some((i, flag)), Some(given)) if !given[i] => {
                    format!("{} (pass {flag} to check one)", f.detail)
                }
                _ => f.detail,
            };
            FailedCriterion {
                criterion: f.criterion.to_owned(),
                detail,
            }
        })
        .collect()
}

impl CheckArgs {
    /// The one rule the flags describe.
    fn rule(&self) -> anyhow::Result<(RuleChange, RuleContent)> {
        let Some(source) = &self.source else {
            bail!(
                "--source: give an EVENT_FILE, or describe a rule with --source and --protocol (see `sgguard allow check --help`)"
            );
        };
        let source = Source::parse(source).map_err(|e| anyhow!("--source: {e}"))?;
        let Some(protocol) = &self.protocol else {
            bail!("--protocol: required with --source (tcp, udp, icmp, icmpv6, all or a number)");
        };
        let protocol = Protocol::parse(protocol).ok_or_else(|| {
            anyhow!(
                "--protocol: `{protocol}` is not tcp, udp, icmp, icmpv6, all or a protocol number"
            )
        })?;
        let ports = match &self.ports {
            Some(text) => PortRange::parse(text).map_err(|e| anyhow!("--ports: {e}"))?,
            None => PortRange::ALL,
        };
        let (from_port, to_port) = match protocol {
            Protocol::Tcp | Protocol::Udp => {
                (Some(i32::from(ports.from)), Some(i32::from(ports.to)))
            }
            Protocol::Icmp | Protocol::Icmpv6 if ports.is_all() => (None, None),
            Protocol::Icmp | Protocol::Icmpv6 if ports.from == ports.to => {
                (Some(i32::from(ports.from)), None)
            }
            Protocol::Icmp | Protocol::Icmpv6 => {
                bail!("--ports: for ICMP give one type (e.g. 8) or `all`, not a range")
            }
            Protocol::All | Protocol::Number(_) if ports.is_all() => (None, None),
            Protocol::All | Protocol::Number(_) => {
                bail!("--ports: protocol {protocol} has no ports; leave --ports out")
            }
        };
        let direction = match self.direction.as_deref() {
            None | Some("ingress") => Direction::Ingress,
            Some("egress") => Direction::Egress,
            Some(other) => bail!("--direction: `{other}` is not `ingress` or `egress`"),
        };
        let content = RuleContent {
            protocol,
            from_port,
            to_port,
            source,
            description: None,
        };
        let change = RuleChange {
            rule_id: None,
            direction,
            kind: ChangeKind::Added,
            content: Some(content.clone()),
        };
        Ok((change, content))
    }
}

/// Judges what `args` describes against the allowlist it names; prints nothing.
pub async fn check_rules(args: &CheckArgs) -> anyhow::Result<CheckRun> {
    let (entries, judged_against) = match &args.allowlist {
        Some(file) => {
            let entries = file_allowlist(file)?.entries().await?;
            (entries, file.display().to_string())
        }
        None => {
            let stores: Stores = args.store.open().await?;
            let label = store_label(&args.store);
            let entries = stores
                .allowlist
                .entries()
                .await
                .with_context(|| format!("cannot read the allowlist from {label}"))?;
            (entries, label)
        }
    };
    let judged_against = format!("{judged_against} ({})", entries_word(entries.len()));
    let allowlist = Allowlist::new(entries);
    let now = Utc::now();
    let mut run = CheckRun {
        judged_against,
        ..CheckRun::default()
    };
    match &args.event {
        None => {
            let (change, content) = args.rule()?;
            let identity = match &args.principal {
                Some(arn) => Identity::from_arn(arn.trim()),
                None => Identity {
                    kind: "Unknown".into(),
                    actor: NOT_GIVEN.into(),
                    principal: NOT_GIVEN.into(),
                    invoked_by: None,
                },
            };
            let ctx = RuleContext {
                origin: None,
                event_id: None,
                event_name: None,
                group_id: args.group.as_deref(),
                account: args.account.as_deref().unwrap_or(NOT_GIVEN),
                region: args.rule_region.as_deref().unwrap_or(NOT_GIVEN),
                identity: &identity,
                given: Some([
                    args.group.is_some(),
                    args.account.is_some(),
                    args.rule_region.is_some(),
                    args.principal.is_some(),
                ]),
            };
            run.verdicts
                .push(judge(&change, &content, &ctx, &allowlist, now));
        }
        Some(path) => {
            let records =
                read_file(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            for input in records {
                let origin = input.origin;
                let record = match input.record {
                    Ok(record) => record,
                    Err(bad) => {
                        run.invalid.push(format!("{origin}: {}", bad.message));
                        continue;
                    }
                };
                match classify_record(&record) {
                    RecordClass::Unrelated { event_name } => {
                        let name = event_name.unwrap_or_else(|| "no eventName".into());
                        run.notes.push(format!(
                            "{origin}: skipped, not an EC2 security-group call ({name})"
                        ));
                        continue;
                    }
                    RecordClass::FailedCall {
                        event_name,
                        error_code,
                    } => {
                        run.notes.push(format!(
                            "{origin}: skipped, {event_name} failed with {error_code} and changed nothing"
                        ));
                        continue;
                    }
                    RecordClass::SecurityGroupCall { .. } => {}
                }
                let set = match normalize(&record) {
                    Ok(set) => set,
                    Err(err) => {
                        run.invalid.push(format!("{origin}: {err}"));
                        continue;
                    }
                };
                let ctx = RuleContext {
                    origin: Some(origin.clone()),
                    event_id: Some(&set.meta.event_id),
                    event_name: Some(&set.meta.event_name),
                    group_id: set.group_id.as_deref(),
                    account: &set.meta.account,
                    region: &set.meta.region,
                    identity: &set.meta.identity,
                    given: None,
                };
                let mut judged = 0;
                for change in &set.changes {
                    match change
                        .content
                        .as_ref()
                        .filter(|_| change.kind.opens_access())
                    {
                        Some(content) => {
                            judged += 1;
                            run.verdicts
                                .push(judge(change, content, &ctx, &allowlist, now));
                        }
                        None => {
                            let what = change
                                .rule_id
                                .clone()
                                .or_else(|| change.content.as_ref().map(describe_content))
                                .unwrap_or_else(|| "a rule".into());
                            run.notes.push(format!(
                                "{origin}: {} {} {what}: nothing to approve",
                                change.kind.as_str(),
                                change.direction
                            ));
                        }
                    }
                }
                if judged == 0 && set.changes.is_empty() {
                    run.notes.push(format!(
                        "{origin}: {} on {}: no rule added or widened",
                        set.meta.event_name,
                        set.group_label()
                    ));
                }
            }
        }
    }
    run.allowlist = allowlist;
    Ok(run)
}

fn describe_content(content: &RuleContent) -> String {
    let range = content.port_range();
    let ports = if range.is_all() {
        String::new()
    } else {
        format!(" {range}")
    };
    format!("{}{ports} {}", content.protocol, content.source)
}

fn describe_verdict(v: &RuleVerdict) -> String {
    let ports = if v.ports == "all" {
        String::new()
    } else {
        format!(" {}", v.ports)
    };
    let preposition = if v.direction.is_ingress() {
        "from"
    } else {
        "to"
    };
    let unknown = if v.direction == Direction::Unknown {
        " (direction unknown: judged as ingress)"
    } else {
        ""
    };
    // A rule given by flags is hypothetical: no "added".
    let kind = if v.origin.is_some() {
        format!("{} ", v.kind.as_str())
    } else {
        String::new()
    };
    format!(
        "{kind}{} {}{ports} {preposition} {}{unknown}",
        v.direction, v.protocol, v.source
    )
}

/// `sgguard allow check`: prints the verdicts; exit 2 when any rule is unapproved.
pub async fn check(args: &CheckArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    check_styled(args, out, false).await
}

async fn check_styled(args: &CheckArgs, out: &mut dyn Write, color: bool) -> anyhow::Result<Exit> {
    let run = check_rules(args).await?;
    let paint = |text: String, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    };
    match format_or_default(args.format) {
        AllowFormat::Json => {
            for v in &run.verdicts {
                serde_json::to_writer(&mut *out, v)?;
                writeln!(out)?;
            }
        }
        AllowFormat::Table => {
            let mut last_event: Option<(String, usize)> = None;
            for v in &run.verdicts {
                let key = v.origin.as_ref().map(|o| (o.file.clone(), o.index));
                if key.is_some() && key != last_event {
                    let by = v.actor.as_deref().unwrap_or("?");
                    writeln!(
                        out,
                        "{}: {} on {} by {} ({}, {})",
                        v.origin
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        v.event_name.as_deref().unwrap_or("?"),
                        v.group_id.as_deref().unwrap_or("(group by name)"),
                        by,
                        v.account.as_deref().unwrap_or("?"),
                        v.region.as_deref().unwrap_or("?"),
                    )?;
                    last_event = key;
                } else if key.is_none() {
                    let mut scope = Vec::new();
                    if let Some(g) = &v.group_id {
                        scope.push(format!("group {g}"));
                    }
                    if let Some(a) = &v.account {
                        scope.push(format!("account {a}"));
                    }
                    if let Some(r) = &v.region {
                        scope.push(format!("region {r}"));
                    }
                    if let Some(p) = &v.actor {
                        scope.push(format!("caller {p}"));
                    }
                    let scope = if scope.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", scope.join(", "))
                    };
                    writeln!(out, "rule given by flags{scope}:")?;
                }
                let reasons = if v.risk_reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.risk_reasons.join("; "))
                };
                writeln!(out, "  {}  [{}]{reasons}", describe_verdict(v), v.risk)?;
                match (&v.approved_by, &v.closest_entry) {
                    (Some(id), _) => {
                        let about = run
                            .allowlist
                            .get(id)
                            .map(|e| {
                                let expires = e
                                    .expires
                                    .map(|t| {
                                        format!(
                                            ", expires {}, {}",
                                            format_time(&t),
                                            relative(t - Utc::now())
                                        )
                                    })
                                    .unwrap_or_default();
                                format!(" (owner {}, reason \"{}\"{expires})", e.owner, e.reason)
                            })
                            .unwrap_or_default();
                        writeln!(out, "    {} {id}{about}", paint("approved by".into(), "32"))?;
                    }
                    (None, Some(id)) => {
                        writeln!(
                            out,
                            "    {}; closest entry {id} failed:",
                            paint("NOT APPROVED".into(), "31;1")
                        )?;
                        for f in &v.failures {
                            writeln!(out, "      {}: {}", f.criterion, f.detail)?;
                        }
                    }
                    (None, None) => writeln!(
                        out,
                        "    {}: the allowlist has no entries",
                        paint("NOT APPROVED".into(), "31;1")
                    )?,
                }
            }
            for note in &run.notes {
                writeln!(out, "{note}")?;
            }
            for bad in &run.invalid {
                writeln!(out, "{bad}")?;
            }
            let total = run.verdicts.len();
            let unapproved = run.unapproved();
            let rules = if total == 1 { "rule" } else { "rules" };
            writeln!(
                out,
                "\n{total} {rules} checked against {}: {} approved, {unapproved} not approved",
                run.judged_against,
                total - unapproved
            )?;
        }
    }
    if !run.invalid.is_empty() {
        bail!(
            "{} record(s) could not be read: {}",
            run.invalid.len(),
            run.invalid.join("; ")
        );
    }
    Ok(run.exit())
}
