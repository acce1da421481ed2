//! `sgguard audit`: reading the audit trail. The list answers "who opened port 22 to the
//! world on sg-… last Tuesday, and was it reverted?" with combinable filters served by the
//! store's indexes; `show` prints everything about one event, `rule` the history of one rule.

use std::io::{IsTerminal, Write};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand, ValueEnum};
use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Color, ContentArrangement, Table};
use owo_colors::{AnsiColors, OwoColorize};
use serde::Serialize;
use serde_json::Value;
use sgguard_core::time::parse_time_or_duration;
use sgguard_core::{Action, Outcome, RiskLevel};
use sgguard_responder::{
    AllowlistChange, AuditFilter, AuditLog, AuditReader, ChangeReport, EventReport, RuleSnapshot,
};

use crate::Exit;
use crate::output::{change_line, outcome_color, risk_color, short_actor};
use crate::store::{StoreArgs, StoreSpec};

const AUDIT_HELP: &str = "\
Filters combine (all must hold) and each is served by an index of the store: on DynamoDB
every combination is a Query, never a Scan. Results are newest first.

Time values (--since, --until) are RFC 3339 (2026-11-20T09:00:00Z), a date (2026-11-20:
--since takes its start, --until its end) or a duration back from now (7d, 12h, 30m).
On DynamoDB, a query that is not narrowed by --event-id, --rule, --group or an exact
--actor walks the days of its range; without --since that range is the last 30 days.

--actor is an exact ARN or a glob (`*`, `?`). It matches the caller or, for an assumed
role, the role behind the session: a role ARN finds the calls of all its sessions.

--format table (the default on a terminal) prints aligned columns, times in UTC; json
prints one object per line with the field names of the output contract (event_id,
event_time, actor, outcome, changes[], ...); csv prints the header
event_time,event_id,event_name,account,region,group_id,actor,outcome,max_risk,rule_ids,reason
(rule_ids separated by spaces). --kind allowlist lists changes to the allowlist instead:
at, by, action, entry_id, detail (only --actor, --since, --until and --limit apply).

Examples:
  # Who opened port 22 to the world on this group, and was it reverted?
  sgguard audit --group sg-0a1b2c3d4e5f60718 --min-risk critical
  sgguard audit --outcome reverted --outcome would_revert --since 7d
  sgguard audit --actor 'arn:aws:sts::*:assumed-role/NetworkAdmin/*' --since 2026-11-20
  sgguard audit --account 111122223333 --region eu-west-1 --format csv > week.csv
  sgguard audit --kind allowlist --since 30d
  sgguard audit show b61e6ba5-3682-4dd6-b804-69b84b2d451c
  sgguard audit rule sgr-0a7c3e5b9d1f2a4c6
  sgguard audit --store dynamodb --aws-region eu-west-1 --outcome reverted --since 24h";

const SHOW_HELP: &str = "\
Prints the event (who, what, where), the decision with its evidence (the allowlist entry
that approved each rule, or the risk reasons and the closest entry with the criterion it
failed), the remediation steps with their results, and the raw CloudTrail record.

--format table (default on a terminal) prints sections; json prints one object
{\"event\": <report>, \"raw\": <CloudTrail record>}; csv prints the changes, one per line.
An unknown event id is an error (exit status 1).

Examples:
  sgguard audit show b61e6ba5-3682-4dd6-b804-69b84b2d451c
  sgguard audit show b61e6ba5-3682-4dd6-b804-69b84b2d451c --format json | jq .raw
  sgguard audit show 479dd02e-5974-4f6b-8eeb-4467a5c46004 --store dynamodb --aws-region eu-west-1";

const RULE_HELP: &str = "\
Prints every recorded change of one security-group rule, oldest first: its creation, each
modification and its removal, with the content (protocol, ports, source), the risk, the
verdict (approved by an entry, or unapproved), what was done and by whom. Reverts and
restores show the remediation step under the change. A rule with no recorded change is an
error (exit status 1).

--format json prints one object per change (event_id, event_time, event_name, group_id,
actor, outcome, change{...}); csv prints the header
event_time,event_id,event_name,group_id,actor,outcome,kind,direction,content,risk,verdict,action,remediation.

Examples:
  sgguard audit rule sgr-0a7c3e5b9d1f2a4c6
  sgguard audit rule sgr-0a7c3e5b9d1f2a4c6 --format csv
  sgguard audit rule sgr-0a7c3e5b9d1f2a4c6 --store dynamodb --aws-region eu-west-1";

/// The header of `sgguard audit --format csv`.
pub const EVENTS_CSV_HEADER: [&str; 11] = [
    "event_time",
    "event_id",
    "event_name",
    "account",
    "region",
    "group_id",
    "actor",
    "outcome",
    "max_risk",
    "rule_ids",
    "reason",
];

/// The header of `sgguard audit --kind allowlist --format csv`.
pub const ALLOWLIST_CSV_HEADER: [&str; 5] = ["at", "by", "action", "entry_id", "detail"];

/// The header of `sgguard audit show --format csv`: one line per change.
pub const CHANGES_CSV_HEADER: [&str; 16] = [
    "event_id",
    "rule_id",
    "direction",
    "kind",
    "protocol",
    "from_port",
    "to_port",
    "source",
    "source_kind",
    "description",
    "risk",
    "risk_reasons",
    "approved_by",
    "closest_entry",
    "action",
    "remediation",
];

/// The header of `sgguard audit rule --format csv`.
pub const RULE_CSV_HEADER: [&str; 13] = [
    "event_time",
    "event_id",
    "event_name",
    "group_id",
    "actor",
    "outcome",
    "kind",
    "direction",
    "content",
    "risk",
    "verdict",
    "action",
    "remediation",
];

/// `sgguard audit`: the list, or one of its subcommands.
#[derive(Debug, Clone, Args)]
// The store and format flags are global: `sgguard audit --store X show ID` and
// `sgguard audit show ID --store X` both work; `audit()` hands them to the subcommand.
#[command(
    after_help = AUDIT_HELP,
    mut_arg("store", |a| a.global(true)),
    mut_arg("audit_table", |a| a.global(true)),
    mut_arg("allowlist_table", |a| a.global(true)),
    mut_arg("endpoint_url", |a| a.global(true)),
    mut_arg("region", |a| a.global(true)),
    mut_arg("format", |a| a.global(true)),
)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,

    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Everything about one event: changes, decision and evidence, remediation, raw record.
    #[command(after_help = SHOW_HELP)]
    Show(ShowArgs),
    /// The history of one rule, from its creation through modifications to its removal.
    #[command(after_help = RULE_HELP)]
    Rule(RuleArgs),
}

/// How `sgguard audit` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Aligned text for people, times in UTC.
    Table,
    /// One JSON object per line.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// What `sgguard audit` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AuditKind {
    /// Recorded security-group events.
    #[default]
    Events,
    /// Changes to the allowlist (who, when, what).
    Allowlist,
}

/// The filters and output of the list. `--region` filters events; the region of the
/// DynamoDB tables is `--aws-region` (or `AWS_REGION`).
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Events of this security group (its id, or its name when the call named only the name).
    #[arg(long, value_name = "SG")]
    pub group: Option<String>,

    /// Events by this caller: an exact ARN (a role ARN also matches its sessions) or a glob.
    #[arg(long, value_name = "ARN|GLOB")]
    pub actor: Option<String>,

    /// Events that changed this rule.
    #[arg(long, value_name = "SGR")]
    pub rule: Option<String>,

    /// The event with this CloudTrail eventID.
    #[arg(long, value_name = "ID")]
    pub event_id: Option<String>,

    /// Events with this outcome; repeat for any of several.
    #[arg(long, value_name = "OUTCOME", value_parser = outcome_parser())]
    pub outcome: Vec<Outcome>,

    /// Events with a change at or above this risk.
    #[arg(long, value_name = "LEVEL", value_parser = risk_parser())]
    pub min_risk: Option<RiskLevel>,

    /// Events in this AWS account.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,

    /// Events in this AWS region (the region of the DynamoDB tables is --aws-region).
    #[arg(id = "event_region", long = "region", value_name = "REGION")]
    pub region: Option<String>,

    /// Events at or after this time: RFC 3339, a date, or a duration back from now (7d, 12h).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,

    /// Events at or before this time: RFC 3339, a date (its end), or a duration back from now.
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<DateTime<Utc>>,

    /// At most this many results, newest first; 0 for all.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,

    /// `events`, or `allowlist` for the changes to the allowlist.
    #[arg(long, value_enum, default_value_t = AuditKind::Events)]
    pub kind: AuditKind,

    /// `table` (default on a terminal), `json` (default when piped) or `csv`.
    #[arg(long, value_enum)]
    pub format: Option<AuditFormat>,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl Default for ListArgs {
    fn default() -> Self {
        Self {
            group: None,
            actor: None,
            rule: None,
            event_id: None,
            outcome: Vec::new(),
            min_risk: None,
            account: None,
            region: None,
            since: None,
            until: None,
            limit: 50,
            kind: AuditKind::Events,
            format: None,
            store: StoreArgs::default(),
        }
    }
}

impl ListArgs {
    /// The store query these flags describe.
    pub fn filter(&self) -> AuditFilter {
        AuditFilter {
            group_id: self.group.clone(),
            actor: self.actor.clone(),
            rule_id: self.rule.clone(),
            event_id: self.event_id.clone(),
            outcomes: self.outcome.clone(),
            min_risk: self.min_risk,
            account: self.account.clone(),
            region: self.region.clone(),
            since: self.since,
            until: self.until,
            limit: (self.limit > 0).then_some(self.limit),
        }
    }

    /// The filters given (store, format and the defaults of --limit and --kind aside).
    fn filter_flags(&self) -> Vec<&'static str> {
        let mut flags = self.event_only_flags();
        for (flag, given) in [
            ("--actor", self.actor.is_some()),
            ("--since", self.since.is_some()),
            ("--until", self.until.is_some()),
            ("--limit", self.limit != 50),
            ("--kind", self.kind != AuditKind::Events),
        ] {
            if given {
                flags.push(flag);
            }
        }
        flags
    }

    /// The flags that describe events, which `--kind allowlist` cannot honour.
    fn event_only_flags(&self) -> Vec<&'static str> {
        [
            ("--group", self.group.is_some()),
            ("--rule", self.rule.is_some()),
            ("--event-id", self.event_id.is_some()),
            ("--outcome", !self.outcome.is_empty()),
            ("--min-risk", self.min_risk.is_some()),
            ("--account", self.account.is_some()),
            ("--region", self.region.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// `sgguard audit show EVENT_ID`. The store and format flags are the list's (global to `audit`).
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The CloudTrail eventID.
    #[arg(value_name = "EVENT_ID")]
    pub event_id: String,

    /// `table` (default on a terminal), `json` (default when piped) or `csv` (the changes).
    #[arg(skip)]
    pub format: Option<AuditFormat>,

    #[arg(skip)]
    pub store: StoreArgs,
}

/// `sgguard audit rule SGR`. The store and format flags are the list's (global to `audit`).
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// The security-group rule id (`sgr-…`).
    #[arg(value_name = "SGR")]
    pub rule_id: String,

    /// `table` (default on a terminal), `json` (default when piped) or `csv`.
    #[arg(skip)]
    pub format: Option<AuditFormat>,

    #[arg(skip)]
    pub store: StoreArgs,
}

fn outcome_parser() -> impl TypedValueParser<Value = Outcome> {
    PossibleValuesParser::new(Outcome::ALL.map(Outcome::as_str)).try_map(|s| s.parse::<Outcome>())
}

fn risk_parser() -> impl TypedValueParser<Value = RiskLevel> {
    PossibleValuesParser::new(RiskLevel::ALL.map(RiskLevel::as_str))
        .try_map(|s| s.parse::<RiskLevel>())
}

fn bad_time(text: &str) -> String {
    format!(
        "`{text}` is not a time: use RFC 3339 (2026-11-20T09:00:00Z), a date (2026-11-20) or a duration back from now (7d, 12h, 30m)"
    )
}

/// `--since`: a time, a date (its start) or a duration back from now.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time_or_duration(text, Utc::now(), true).ok_or_else(|| bad_time(text))
}

/// `--until`: a time, a date (its end, so `--until 2026-11-20` includes that day) or a
/// duration back from now.
pub fn parse_until(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let end = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
        return Ok(day.and_time(end).and_utc());
    }
    parse_since(text)
}

/// `table` on a terminal, `json` when piped.
fn format_or_default(format: Option<AuditFormat>) -> AuditFormat {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        AuditFormat::Table
    } else {
        AuditFormat::Json
    })
}

/// Colour only on a terminal, and never with `NO_COLOR`.
fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn store_label(store: &StoreArgs) -> String {
    match &store.store {
        StoreSpec::Sqlite(_) => store.store.to_string(),
        StoreSpec::DynamoDb => format!("dynamodb table {}", store.audit_table),
    }
}

/// Runs `sgguard audit` (the list, `show` or `rule`), printing to `out`.
pub async fn audit(args: &AuditArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let Some(command) = &args.command else {
        return list(&args.list, out).await;
    };
    let name = match command {
        AuditCommand::Show(_) => "show",
        AuditCommand::Rule(_) => "rule",
    };
    if let Some(flag) = args.list.filter_flags().first() {
        bail!("`{flag}` filters the list; `audit {name}` does not take it");
    }
    let (store, format) = (args.list.store.clone(), args.list.format);
    match command {
        AuditCommand::Show(a) => {
            show(
                &ShowArgs {
                    store,
                    format,
                    ..a.clone()
                },
                out,
            )
            .await
        }
        AuditCommand::Rule(a) => {
            rule(
                &RuleArgs {
                    store,
                    format,
                    ..a.clone()
                },
                out,
            )
            .await
        }
    }
}

/// `sgguard audit [FILTERS]`: events (or allowlist changes) newest first.
pub async fn list(args: &ListArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let filter = args.filter();
    if let Some(flag) = args
        .event_only_flags()
        .first()
        .filter(|_| args.kind == AuditKind::Allowlist)
    {
        bail!(
            "`{flag}` does not apply to `--kind allowlist`: allowlist changes are filtered by --actor, --since, --until and --limit"
        );
    }
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since > until
    {
        bail!(
            "`--since` ({}) is after `--until` ({})",
            sgguard_core::time::format_time(&since),
            sgguard_core::time::format_time(&until)
        );
    }
    let stores = args.store.open().await.map_err(|e| {
        if e.to_string().contains("needs a region") {
            anyhow::anyhow!(
                "`--store dynamodb` needs the tables' region: pass `--aws-region` or set AWS_REGION"
            )
        } else {
            e
        }
    })?;
    let label = store_label(&args.store);
    let format = format_or_default(args.format);
    match args.kind {
        AuditKind::Events => {
            let reports = stores
                .audit
                .query(&filter)
                .await
                .with_context(|| format!("cannot query {label}"))?;
            write_events(
                out,
                &reports,
                format,
                use_color() && format == AuditFormat::Table,
            )?;
            if format == AuditFormat::Table {
                writeln!(out, "\n{}", footer(reports.len(), "event", filter.limit))?;
            }
        }
        AuditKind::Allowlist => {
            let changes = stores
                .audit
                .allowlist_changes(&filter)
                .await
                .with_context(|| format!("cannot query the allowlist changes in {label}"))?;
            write_allowlist_changes(out, &changes, format)?;
            if format == AuditFormat::Table {
                writeln!(
                    out,
                    "\n{}",
                    footer(changes.len(), "allowlist change", filter.limit)
                )?;
            }
        }
    }
    Ok(Exit::Success)
}

fn footer(n: usize, what: &str, limit: Option<usize>) -> String {
    let plural = if n == 1 { "" } else { "s" };
    match limit {
        Some(limit) if n >= limit => {
            format!("{n} {what}{plural}, newest first (the --limit; older ones may exist)")
        }
        _ => format!("{n} {what}{plural}, newest first"),
    }
}

/// `sgguard audit show EVENT_ID`.
pub async fn show(args: &ShowArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let label = store_label(&args.store);
    let Some(report) = stores
        .audit
        .event(&args.event_id)
        .await
        .with_context(|| format!("cannot read event `{}` from {label}", args.event_id))?
    else {
        bail!("no event `{}` in {label}", args.event_id);
    };
    let raw = stores
        .audit
        .raw_event(&args.event_id)
        .await
        .with_context(|| format!("cannot read the raw record of `{}`", args.event_id))?
        .unwrap_or(Value::Null);
    match format_or_default(args.format) {
        AuditFormat::Json => {
            serde_json::to_writer(
                &mut *out,
                &Shown {
                    event: &report,
                    raw: &raw,
                },
            )?;
            writeln!(out)?;
        }
        AuditFormat::Csv => write_changes_csv(out, &report)?,
        AuditFormat::Table => out.write_all(render_event(&report, &raw, use_color()).as_bytes())?,
    }
    Ok(Exit::Success)
}

/// `audit show --format json`: the stored report (field order as in the output contract)
/// and the raw record.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    event: &'a EventReport,
    raw: &'a Value,
}

/// `sgguard audit rule SGR`.
pub async fn rule(args: &RuleArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let label = store_label(&args.store);
    let history = stores
        .audit
        .rule_history(&args.rule_id)
        .await
        .with_context(|| format!("cannot read the history of `{}` from {label}", args.rule_id))?;
    if history.is_empty() {
        bail!("no recorded change of rule `{}` in {label}", args.rule_id);
    }
    match format_or_default(args.format) {
        AuditFormat::Json => {
            for snapshot in &history {
                serde_json::to_writer(&mut *out, snapshot)?;
                writeln!(out)?;
            }
        }
        AuditFormat::Csv => write_rule_csv(out, &history)?,
        AuditFormat::Table => {
            writeln!(out, "{}", render_rule(&args.rule_id, &history, use_color()))?;
            let n = history.len();
            writeln!(
                out,
                "\n{n} change{} of {}, oldest first",
                if n == 1 { "" } else { "s" },
                args.rule_id
            )?;
        }
    }
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------

fn max_risk(report: &EventReport) -> RiskLevel {
    report
        .changes
        .iter()
        .map(|c| c.risk)
        .max()
        .unwrap_or(RiskLevel::None)
}

fn group_of(report: &EventReport) -> &str {
    report
        .group_id
        .as_deref()
        .or(report.group_name.as_deref())
        .unwrap_or("")
}

fn rule_ids(report: &EventReport) -> String {
    let mut ids: Vec<&str> = report
        .changes
        .iter()
        .filter_map(|c| c.rule_id.as_deref())
        .collect();
    ids.dedup();
    ids.join(" ")
}

/// `tcp 22 from 0.0.0.0/0`, or `-` when the change carried no content (a revoke by id).
fn content(change: &ChangeReport) -> String {
    let ports = match (change.from_port, change.to_port) {
        (Some(a), Some(b)) if a == b && a >= 0 => format!(" {a}"),
        (Some(a), Some(b)) if a >= 0 => format!(" {a}-{b}"),
        _ => String::new(),
    };
    match (&change.protocol, &change.source) {
        (Some(p), Some(s)) => format!(
            "{p}{ports} {} {s}",
            if change.direction.is_ingress() {
                "from"
            } else {
                "to"
            }
        ),
        _ => "-".into(),
    }
}

fn verdict(change: &ChangeReport) -> String {
    match (change.kind.opens_access(), &change.approved_by) {
        (false, _) => "-".into(),
        (true, Some(entry)) => format!("approved by {entry}"),
        (true, None) => "unapproved".into(),
    }
}

fn table(header: &[&str], color: bool) -> Table {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table.set_header(header.to_vec());
    table
}

fn colored(text: &str, color: Option<Color>, on: bool) -> Cell {
    let cell = Cell::new(text);
    match color {
        Some(c) if on => cell.fg(c),
        _ => cell,
    }
}

fn csv_writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new().from_writer(out)
}

/// The list of events in `format`.
pub fn write_events(
    out: &mut dyn Write,
    reports: &[EventReport],
    format: AuditFormat,
    color: bool,
) -> anyhow::Result<()> {
    match format {
        AuditFormat::Json => {
            for report in reports {
                crate::output::write_json(out, report)?;
            }
        }
        AuditFormat::Csv => {
            let mut w = csv_writer(out);
            w.write_record(EVENTS_CSV_HEADER)?;
            for r in reports {
                w.write_record([
                    r.event_time.as_deref().unwrap_or(""),
                    r.event_id.as_deref().unwrap_or(""),
                    r.event_name.as_deref().unwrap_or(""),
                    r.account.as_deref().unwrap_or(""),
                    r.region.as_deref().unwrap_or(""),
                    group_of(r),
                    r.actor.as_deref().unwrap_or(""),
                    r.outcome.as_str(),
                    max_risk(r).as_str(),
                    &rule_ids(r),
                    &r.reason,
                ])?;
            }
            w.flush()?;
        }
        AuditFormat::Table => {
            writeln!(out, "{}", render_events(reports, color))?;
        }
    }
    Ok(())
}

/// Events as an aligned table: one row per event, its changes (and remediation) stacked.
pub fn render_events(reports: &[EventReport], color: bool) -> String {
    let mut t = table(
        &[
            "TIME (UTC)",
            "EVENT ID",
            "EVENT",
            "GROUP",
            "ACTOR",
            "OUTCOME",
            "RISK",
            "CHANGES",
        ],
        color,
    );
    for r in reports {
        let risk = max_risk(r);
        let mut lines = Vec::new();
        let mut steps: Vec<&str> = Vec::new();
        for change in &r.changes {
            lines.push(change_line(change));
            if let Some(step) = change
                .remediation
                .as_deref()
                .filter(|s| change.action != Action::None && !steps.contains(s))
            {
                steps.push(step);
                lines.push(format!("  -> {step}"));
            }
        }
        if lines.is_empty() {
            lines.push(r.reason.clone());
        }
        t.add_row(vec![
            Cell::new(r.event_time.as_deref().unwrap_or("-")),
            Cell::new(r.event_id.as_deref().unwrap_or("-")),
            Cell::new(r.event_name.as_deref().unwrap_or("-")),
            Cell::new(if group_of(r).is_empty() {
                "-"
            } else {
                group_of(r)
            }),
            Cell::new(
                r.actor
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_actor),
            ),
            colored(r.outcome.as_str(), outcome_color(r.outcome), color),
            colored(risk.as_str(), risk_color(risk), color),
            Cell::new(lines.join("\n")),
        ]);
    }
    t.to_string()
}

/// Allowlist changes in `format`.
pub fn write_allowlist_changes(
    out: &mut dyn Write,
    changes: &[AllowlistChange],
    format: AuditFormat,
) -> anyhow::Result<()> {
    match format {
        AuditFormat::Json => {
            for change in changes {
                serde_json::to_writer(&mut *out, change)?;
                writeln!(out)?;
            }
        }
        AuditFormat::Csv => {
            let mut w = csv_writer(out);
            w.write_record(ALLOWLIST_CSV_HEADER)?;
            for c in changes {
                w.write_record([&c.at, &c.by, &c.action, &c.entry_id, &c.detail])?;
            }
            w.flush()?;
        }
        AuditFormat::Table => {
            let mut t = table(&["AT (UTC)", "BY", "ACTION", "ENTRY", "DETAIL"], false);
            for c in changes {
                t.add_row(vec![&c.at, &c.by, &c.action, &c.entry_id, &c.detail]);
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

fn write_changes_csv(out: &mut dyn Write, report: &EventReport) -> anyhow::Result<()> {
    let mut w = csv_writer(out);
    w.write_record(CHANGES_CSV_HEADER)?;
    let event_id = report.event_id.clone().unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
    for c in &report.changes {
        w.write_record([
            event_id.clone(),
            text(&c.rule_id),
            c.direction.as_str().to_owned(),
            c.kind.as_str().to_owned(),
            text(&c.protocol),
            number(c.from_port),
            number(c.to_port),
            text(&c.source),
            c.source_kind
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
            text(&c.description),
            c.risk.as_str().to_owned(),
            c.risk_reasons.join("; "),
            text(&c.approved_by),
            text(&c.closest_entry),
            c.action.as_str().to_owned(),
            text(&c.remediation),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_rule_csv(out: &mut dyn Write, history: &[RuleSnapshot]) -> anyhow::Result<()> {
    let mut w = csv_writer(out);
    w.write_record(RULE_CSV_HEADER)?;
    for s in history {
        let c = &s.change;
        w.write_record([
            s.event_time.as_str(),
            s.event_id.as_str(),
            s.event_name.as_str(),
            s.group_id.as_deref().unwrap_or(""),
            s.actor.as_deref().unwrap_or(""),
            s.outcome.as_str(),
            c.kind.as_str(),
            c.direction.as_str(),
            &content(c),
            c.risk.as_str(),
            &verdict(c),
            c.action.as_str(),
            c.remediation.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// One rule's history as an aligned table, oldest first.
pub fn render_rule(rule_id: &str, history: &[RuleSnapshot], color: bool) -> String {
    let mut t = table(
        &[
            "TIME (UTC)",
            "EVENT ID",
            "EVENT",
            "KIND",
            "CONTENT",
            "RISK",
            "VERDICT",
            "ACTOR",
            "ACTION",
        ],
        color,
    );
    for s in history {
        let c = &s.change;
        let mut action = c.action.as_str().to_owned();
        if let Some(step) = c
            .remediation
            .as_deref()
            .filter(|_| c.action != Action::None)
        {
            action.push_str(&format!("\n-> {step}"));
        }
        let risk = if c.kind.opens_access() {
            colored(c.risk.as_str(), risk_color(c.risk), color)
        } else {
            Cell::new("-")
        };
        t.add_row(vec![
            Cell::new(&s.event_time),
            Cell::new(&s.event_id),
            Cell::new(&s.event_name),
            Cell::new(format!("{} {}", c.kind.as_str(), c.direction)),
            Cell::new(content(c)),
            risk,
            Cell::new(verdict(c)),
            Cell::new(
                s.actor
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_actor),
            ),
            colored(
                &action,
                Outcome::from_action(c.action).and_then(outcome_color),
                color,
            ),
        ]);
    }
    let group = history
        .iter()
        .rev()
        .find_map(|s| s.group_id.as_deref())
        .unwrap_or("an unknown group");
    format!("Rule {rule_id} in {group}\n\n{t}")
}

fn paint(text: &str, color: Option<Color>, on: bool) -> String {
    let ansi = match color {
        Some(Color::Red) => Some(AnsiColors::Red),
        Some(Color::Magenta) => Some(AnsiColors::Magenta),
        Some(Color::Yellow) => Some(AnsiColors::Yellow),
        Some(Color::Green) => Some(AnsiColors::Green),
        _ => None,
    };
    match ansi {
        Some(a) if on => text.color(a).to_string(),
        _ => text.to_owned(),
    }
}

fn field(out: &mut String, indent: usize, label: &str, value: &str) {
    if !value.is_empty() {
        out.push_str(&format!("{:indent$}{label:<13} {value}\n", ""));
    }
}

/// `audit show` for people: the event, the decision, each change with its evidence and
/// remediation, and the raw record.
pub fn render_event(report: &EventReport, raw: &Value, color: bool) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let title = |t: &str| {
        if color {
            t.bold().to_string()
        } else {
            t.to_owned()
        }
    };
    let mut s = title("Event");
    s.push('\n');
    for (label, value) in [
        ("event id", &report.event_id),
        ("name", &report.event_name),
        ("time (UTC)", &report.event_time),
        ("account", &report.account),
        ("region", &report.region),
        ("group", &report.group_id),
        ("group name", &report.group_name),
        ("actor", &report.actor),
    ] {
        field(&mut s, 2, label, &opt(value));
    }
    if report.principal != report.actor {
        field(&mut s, 2, "principal", &opt(&report.principal));
    }
    field(&mut s, 2, "source ip", &opt(&report.source_ip));
    field(&mut s, 2, "user agent", &opt(&report.user_agent));

    s.push('\n');
    s.push_str(&title("Decision"));
    s.push('\n');
    field(
        &mut s,
        2,
        "outcome",
        &paint(
            report.outcome.as_str(),
            outcome_color(report.outcome),
            color,
        ),
    );
    field(&mut s, 2, "reason", &report.reason);

    s.push('\n');
    s.push_str(&title(&format!("Changes ({})", report.changes.len())));
    s.push('\n');
    for (i, c) in report.changes.iter().enumerate() {
        s.push_str(&format!(
            "  {}. {} {} {}{}\n",
            i + 1,
            c.kind.as_str(),
            c.direction,
            content(c),
            c.rule_id
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        ));
        if let Some(d) = &c.description {
            field(&mut s, 5, "description", d);
        }
        let reasons = if c.risk_reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", c.risk_reasons.join("; "))
        };
        field(
            &mut s,
            5,
            "risk",
            &format!(
                "{}{reasons}",
                paint(c.risk.as_str(), risk_color(c.risk), color)
            ),
        );
        if c.kind.opens_access() {
            match (&c.approved_by, &c.closest_entry) {
                (Some(entry), _) => field(&mut s, 5, "approved by", entry),
                (None, Some(closest)) => {
                    field(&mut s, 5, "approved by", "no entry");
                    field(&mut s, 5, "closest entry", closest);
                }
                (None, None) => field(&mut s, 5, "approved by", "no entry"),
            }
        }
        field(
            &mut s,
            5,
            "action",
            &paint(
                c.action.as_str(),
                Outcome::from_action(c.action).and_then(outcome_color),
                color,
            ),
        );
        if let Some(step) = &c.remediation {
            field(&mut s, 5, "remediation", step);
        }
    }
    if report.changes.is_empty() {
        s.push_str("  (none)\n");
    }

    s.push('\n');
    s.push_str(&title("Raw CloudTrail record"));
    s.push('\n');
    let raw_text = serde_json::to_string_pretty(raw).unwrap_or_else(|_| raw.to_string());
    for l in raw_text.lines() {
        s.push_str("  ");
        s.push_str(l);
        s.push('\n');
    }
    s
}
