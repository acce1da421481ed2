//! `sgguard audit rule RULE_ID`: the history of one security-group rule.

use std::io::Write;

use anyhow::{Context, bail};
use sgguard_responder::AuditLog;

use crate::Exit;

use super::args::RuleArgs;
use super::formats::write_rule_csv;
use super::render::render_rule;
use super::{AuditFormat, format_or_default, store_label, use_color};

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
