//! `sgguard audit show EVENT_ID`: everything recorded about one event.

use std::io::Write;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;
use sgguard_responder::{AuditLog, AuditReader, EventReport};

use crate::Exit;

use super::args::ShowArgs;
use super::formats::write_changes_csv;
use super::render::render_event;
use super::{AuditFormat, format_or_default, store_label, use_color};

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
