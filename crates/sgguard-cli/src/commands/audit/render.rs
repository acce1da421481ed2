//! The human formats: the event table, one event in full, and one rule's history.

use comfy_table::{Cell, Color};
use owo_colors::{AnsiColors, OwoColorize};
use serde_json::Value;
use sgguard_core::{Action, Outcome};
use sgguard_responder::{ChangeReport, EventReport, RuleSnapshot};

use crate::output::{change_lines, outcome_color, plain_table, risk_color, short_actor};

pub(super) fn group_of(report: &EventReport) -> &str {
    report
        .group_id
        .as_deref()
        .or(report.group_name.as_deref())
        .unwrap_or("")
}

pub(super) fn rule_ids(report: &EventReport) -> String {
    let mut ids: Vec<&str> = report
        .changes
        .iter()
        .filter_map(|c| c.rule_id.as_deref())
        .collect();
    ids.dedup();
    ids.join(" ")
}

/// `tcp 22 from 0.0.0.0/0`, or `-` when the change carried no content (a revoke by id).
pub(super) fn content(change: &ChangeReport) -> String {
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

pub(super) fn verdict(change: &ChangeReport) -> String {
    match (change.kind.opens_access(), &change.approved_by) {
        (false, _) => "-".into(),
        (true, Some(entry)) => format!("approved by {entry}"),
        (true, None) => "unapproved".into(),
    }
}

fn colored(text: &str, color: Option<Color>, on: bool) -> Cell {
    let cell = Cell::new(text);
    match color {
        Some(c) if on => cell.fg(c),
        _ => cell,
    }
}

/// Events as an aligned table: one row per event, its changes (and remediation) stacked.
pub fn render_events(reports: &[EventReport], color: bool) -> String {
    let mut t = plain_table(
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
        let risk = r.max_risk();
        let mut lines = change_lines(r);
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

/// One rule's history as an aligned table, oldest first.
pub fn render_rule(rule_id: &str, history: &[RuleSnapshot], color: bool) -> String {
    let mut t = plain_table(
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
