//! The machine formats: CSV headers (the output contract) and the writers of events,
//! allowlist changes, one event's changes and one rule's history.

use std::io::Write;

use sgguard_responder::{AllowlistChange, EventReport, RuleSnapshot};

use super::AuditFormat;
use super::render::{content, group_of, render_events, rule_ids, verdict};
use crate::output::plain_table;

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
                    r.max_risk().as_str(),
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
            let mut t = plain_table(&["AT (UTC)", "BY", "ACTION", "ENTRY", "DETAIL"], false);
            for c in changes {
                t.add_row(vec![&c.at, &c.by, &c.action, &c.entry_id, &c.detail]);
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

pub(super) fn write_changes_csv(out: &mut dyn Write, report: &EventReport) -> anyhow::Result<()> {
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

pub(super) fn write_rule_csv(out: &mut dyn Write, history: &[RuleSnapshot]) -> anyhow::Result<()> {
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
