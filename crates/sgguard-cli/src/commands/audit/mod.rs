//! `sgguard audit`: reading the audit trail. The list answers "who opened port 22 to the
//! world on sg-… last Tuesday, and was it reverted?" with combinable filters served by the
//! store's indexes; `show` prints everything about one event, `rule` the history of one rule.

use std::io::{IsTerminal, Write};

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};

use crate::Exit;
use crate::store::{StoreArgs, StoreSpec};

mod args;
mod formats;
mod list;
mod render;
mod rule;
mod show;

pub use args::{ListArgs, RuleArgs, ShowArgs, parse_since, parse_until};
pub use formats::{
    ALLOWLIST_CSV_HEADER, CHANGES_CSV_HEADER, EVENTS_CSV_HEADER, RULE_CSV_HEADER,
    write_allowlist_changes, write_events,
};
pub use list::list;
pub use render::{render_event, render_events, render_rule};
pub use rule::rule;
pub use show::show;

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
