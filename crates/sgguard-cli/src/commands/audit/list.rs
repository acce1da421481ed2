//! `sgguard audit` (no subcommand): the filtered list of events or allowlist changes.

use std::io::Write;

use anyhow::{Context, bail};
use sgguard_responder::AuditReader;

use crate::Exit;

use super::args::ListArgs;
use super::formats::{write_allowlist_changes, write_events};
use super::{AuditFormat, AuditKind, format_or_default, store_label, use_color};

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
