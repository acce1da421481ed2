//! Rendering reports for people (aligned table, colour on a terminal) and for tools (JSON Lines).

use std::collections::BTreeMap;
use std::io::{self, Write};

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table};
use sgguard_core::{Action, Outcome, RiskLevel};
use sgguard_responder::{ChangeReport, EventReport};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people, with a summary line.
    Table,
    /// One JSON object per line, with the documented field names.
    Json,
}

/// Writes one report as a JSON line.
pub fn write_json(out: &mut dyn Write, report: &EventReport) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    writeln!(out)
}

pub fn risk_color(risk: RiskLevel) -> Option<Color> {
    match risk {
        RiskLevel::Critical => Some(Color::Red),
        RiskLevel::High => Some(Color::Magenta),
        RiskLevel::Medium => Some(Color::Yellow),
        RiskLevel::Low | RiskLevel::None => None,
    }
}

pub fn outcome_color(outcome: Outcome) -> Option<Color> {
    match outcome {
        Outcome::RevertFailed | Outcome::Invalid | Outcome::Incomplete => Some(Color::Red),
        Outcome::WouldRevert | Outcome::Reverted | Outcome::Restored | Outcome::Pending => {
            Some(Color::Magenta)
        }
        Outcome::Flagged => Some(Color::Yellow),
        Outcome::Approved => Some(Color::Green),
        _ => None,
    }
}

/// `arn:aws:sts::123:assumed-role/Role/session` → `assumed-role/Role/session`, with very
/// long role names (SSO permission sets) shortened in the middle.
pub fn short_actor(actor: &str) -> String {
    let resource = actor.splitn(6, ':').nth(5).unwrap_or(actor);
    let parts: Vec<&str> = resource.split('/').collect();
    match parts.as_slice() {
        ["assumed-role", role, session] if role.chars().count() > 24 => {
            let head: String = role.chars().take(20).collect();
            format!("assumed-role/{head}…/{session}")
        }
        _ => resource.to_owned(),
    }
}

/// One change in a line: `added ingress tcp 22 from 0.0.0.0/0  [critical] would revert`.
pub fn change_line(change: &ChangeReport) -> String {
    let ports = match (change.from_port, change.to_port) {
        (Some(a), Some(b)) if a == b && a >= 0 => format!(" {a}"),
        (Some(a), Some(b)) if a >= 0 => format!(" {a}-{b}"),
        _ => String::new(),
    };
    let what = match (&change.protocol, &change.source) {
        (Some(p), Some(s)) => format!(
            "{p}{ports} {} {s}",
            if change.direction.is_ingress() {
                "from"
            } else {
                "to"
            }
        ),
        _ => change.rule_id.clone().unwrap_or_else(|| "(rule)".into()),
    };
    let verdict = match (&change.approved_by, change.action) {
        (Some(entry), _) => format!("approved by {entry}"),
        (None, Action::None) => String::new(),
        (None, action) => action.as_str().replace('_', " "),
    };
    format!(
        "{} {} {what}  [{}] {verdict}",
        change.kind.as_str(),
        change.direction,
        change.risk
    )
    .trim_end()
    .to_owned()
}

/// A borderless table with `header`, the style of every table the CLI prints; colours
/// only when `color` is set.
pub fn plain_table(header: &[&str], color: bool) -> Table {
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

/// One line per change of a report, each remediation step under the first change it
/// settled (one step can settle several changes: it is shown once).
pub fn change_lines(report: &EventReport) -> Vec<String> {
    let mut lines = Vec::new();
    let mut steps_shown: Vec<&str> = Vec::new();
    for change in &report.changes {
        lines.push(change_line(change));
        if let Some(step) = change
            .remediation
            .as_deref()
            .filter(|s| change.action != Action::None && !steps_shown.contains(s))
        {
            steps_shown.push(step);
            lines.push(format!("  -> {step}"));
        }
    }
    lines
}

/// Renders reports as an aligned table; colours only when `color` is set.
pub fn render_table(reports: &[EventReport], color: bool) -> String {
    let mut table = plain_table(
        &[
            "TIME (UTC)",
            "EVENT",
            "GROUP",
            "ACTOR",
            "OUTCOME",
            "CHANGES",
        ],
        color,
    );
    for r in reports {
        let risk = r.max_risk();
        let mut changes = change_lines(r);
        if changes.is_empty()
            || matches!(
                r.outcome,
                Outcome::Invalid
                    | Outcome::Incomplete
                    | Outcome::SkippedFailedCall
                    | Outcome::SkippedUnrelated
                    | Outcome::Duplicate
            )
        {
            changes.push(r.reason.clone());
        }
        let mut outcome = Cell::new(r.outcome.as_str());
        let mut change_cell = Cell::new(changes.join("\n"));
        if color {
            if let Some(c) = outcome_color(r.outcome) {
                outcome = outcome.fg(c);
            }
            if let Some(c) = risk_color(risk) {
                change_cell = change_cell.fg(c);
            }
        }
        table.add_row(vec![
            Cell::new(r.event_time.as_deref().unwrap_or("-")),
            Cell::new(r.event_name.as_deref().unwrap_or("-")),
            Cell::new(
                r.group_id
                    .as_deref()
                    .or(r.group_name.as_deref())
                    .unwrap_or("-"),
            ),
            Cell::new(
                r.actor
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_actor),
            ),
            outcome.set_alignment(CellAlignment::Left),
            change_cell,
        ]);
    }
    table.to_string()
}

/// Counts by outcome, for the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub read: usize,
    pub by_outcome: BTreeMap<Outcome, usize>,
}

impl Summary {
    pub fn add(&mut self, outcome: Outcome) {
        self.read += 1;
        *self.by_outcome.entry(outcome).or_default() += 1;
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.by_outcome.get(&outcome).copied().unwrap_or(0)
    }

    pub fn line(&self) -> String {
        let skipped =
            self.count(Outcome::SkippedFailedCall) + self.count(Outcome::SkippedUnrelated);
        let mut parts = vec![
            format!("{} events read", self.read),
            format!(
                "{skipped} skipped ({} failed, {} unrelated)",
                self.count(Outcome::SkippedFailedCall),
                self.count(Outcome::SkippedUnrelated)
            ),
            format!("{} recorded", self.count(Outcome::Recorded)),
            format!("{} approved", self.count(Outcome::Approved)),
            format!("{} flagged", self.count(Outcome::Flagged)),
            format!("{} would revert", self.count(Outcome::WouldRevert)),
        ];
        for (outcome, label) in [
            (Outcome::Reverted, "reverted"),
            (Outcome::Restored, "restored"),
            (Outcome::RevertFailed, "revert failed"),
            (Outcome::Pending, "pending"),
            (Outcome::Superseded, "superseded"),
            (Outcome::OwnAction, "own actions"),
            (Outcome::Duplicate, "duplicates"),
            (Outcome::Invalid, "invalid"),
            (Outcome::Incomplete, "incomplete"),
        ] {
            let n = self.count(outcome);
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        }
        parts.join(", ")
    }
}
