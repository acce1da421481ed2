//! `sgguard allow list`: the entries, as a table or one JSON object per line.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use sgguard_core::AllowEntry;
use sgguard_core::time::format_time;
use sgguard_responder::AllowlistStore;

use crate::Exit;
use crate::store::StoreArgs;

use super::render::{entries_word, entry_table, span};
use super::{AllowFormat, format_or_default, store_label};

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

pub(super) async fn list_styled(
    args: &ListArgs,
    out: &mut dyn Write,
    color: bool,
) -> anyhow::Result<Exit> {
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
