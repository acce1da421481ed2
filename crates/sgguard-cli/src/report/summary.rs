//! Counting: per-outcome totals, per-actor and per-group tallies, and the summary section.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sgguard_core::time::parse_event_time;
use sgguard_core::{Outcome, RiskLevel};
use sgguard_responder::{ChangeReport, EventReport};

use super::html::{count_span, outcome_label, outcome_palette};
use super::{OPEN_OUTCOMES, OUTCOME_ORDER, REVERT_OUTCOMES, is_unapproved};

/// Outcomes always shown in the summary, even at zero.
const ALWAYS_SHOWN: [Outcome; 9] = [
    Outcome::WouldRevert,
    Outcome::Flagged,
    Outcome::RevertFailed,
    Outcome::Pending,
    Outcome::Reverted,
    Outcome::Restored,
    Outcome::Approved,
    Outcome::Recorded,
    Outcome::OwnAction,
];

pub(super) fn event_time(e: &EventReport) -> Option<DateTime<Utc>> {
    e.event_time.as_deref().and_then(parse_event_time)
}

pub(super) fn group_key(e: &EventReport) -> String {
    e.group_id
        .clone()
        .or_else(|| e.group_name.clone())
        .unwrap_or_else(|| "(unknown group)".to_owned())
}

pub(super) fn actor_key(e: &EventReport) -> String {
    e.actor
        .clone()
        .or_else(|| e.principal.clone())
        .unwrap_or_else(|| "(unknown caller)".to_owned())
}

pub(super) fn max_risk<'a>(changes: impl IntoIterator<Item = &'a ChangeReport>) -> RiskLevel {
    changes
        .into_iter()
        .map(|c| c.risk)
        .max()
        .unwrap_or(RiskLevel::None)
}

/// Per-actor or per-group totals.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) events: usize,
    pub(super) unapproved: usize,
    pub(super) reverted: usize,
    pub(super) max_risk: Option<RiskLevel>,
    pub(super) last: Option<DateTime<Utc>>,
    pub(super) scope: Option<String>,
}

pub(super) fn tally(
    events: &[EventReport],
    key: impl Fn(&EventReport) -> String,
) -> Vec<(String, Tally)> {
    let mut map: BTreeMap<String, Tally> = BTreeMap::new();
    for e in events {
        let t = map.entry(key(e)).or_default();
        t.events += 1;
        if is_unapproved(e.outcome) {
            t.unapproved += 1;
        }
        if REVERT_OUTCOMES.contains(&e.outcome) {
            t.reverted += 1;
        }
        let risk = max_risk(&e.changes);
        t.max_risk = Some(t.max_risk.map_or(risk, |r| r.max(risk)));
        if let Some(time) = event_time(e) {
            t.last = Some(t.last.map_or(time, |l| l.max(time)));
        }
        if t.scope.is_none() {
            t.scope = match (&e.account, &e.region) {
                (Some(a), Some(r)) => Some(format!("{a} · {r}")),
                (Some(a), None) => Some(a.clone()),
                (None, Some(r)) => Some(r.clone()),
                (None, None) => None,
            };
        }
    }
    let mut rows: Vec<(String, Tally)> = map.into_iter().collect();
    rows.sort_by(|(ka, a), (kb, b)| {
        b.events
            .cmp(&a.events)
            .then(b.unapproved.cmp(&a.unapproved))
            .then(ka.cmp(kb))
    });
    rows
}

pub(super) fn render_summary(
    out: &mut String,
    events: &[EventReport],
    by_outcome: &BTreeMap<Outcome, usize>,
) {
    let count = |o: Outcome| by_outcome.get(&o).copied().unwrap_or(0);
    let open: usize = OPEN_OUTCOMES.iter().map(|o| count(*o)).sum();
    let reverted: usize = REVERT_OUTCOMES.iter().map(|o| count(*o)).sum();
    let changes: usize = events.iter().map(|e| e.changes.len()).sum();
    let kpi = |id: &str, n: usize, label: &str, sub: String, color: &str| {
        format!(
            "<div class=\"kpi\" style=\"--c:{color}\"><div class=\"n\" id=\"{id}\" data-count=\"{n}\">{n}</div>\
             <div class=\"l\">{label}</div><div class=\"s\">{sub}</div></div>"
        )
    };
    out.push_str("<section class=\"kpis\" aria-label=\"Summary\">");
    out.push_str(&kpi(
        "count-events",
        events.len(),
        "Events",
        format!(
            "{} rule change{}",
            count_span("count-changes", changes),
            if changes == 1 { "" } else { "s" }
        ),
        "#334155",
    ));
    out.push_str(&kpi(
        "count-unapproved-open",
        open,
        "Open findings",
        format!(
            "{} would revert · {} flagged",
            count(Outcome::WouldRevert),
            count(Outcome::Flagged)
        ),
        "#c026d3",
    ));
    out.push_str(&kpi(
        "count-reverted",
        reverted,
        "Reverted or restored",
        format!(
            "{} revert{} failed",
            count(Outcome::RevertFailed),
            if count(Outcome::RevertFailed) == 1 {
                ""
            } else {
                "s"
            }
        ),
        "#86198f",
    ));
    out.push_str(&kpi(
        "count-approved",
        count(Outcome::Approved),
        "Approved",
        "by an allowlist entry".to_owned(),
        "#16a34a",
    ));
    out.push_str("</section>\n");

    // Every outcome: a proportion bar and a labelled count.
    out.push_str(
        "<section id=\"outcomes\" aria-labelledby=\"outcomes-h\"><h2 id=\"outcomes-h\">By outcome</h2>",
    );
    let total = events.len();
    if total > 0 {
        out.push_str("<div class=\"ratio\" aria-hidden=\"true\">");
        for o in OUTCOME_ORDER {
            let n = count(o);
            if n > 0 {
                out.push_str(&format!(
                    "<span style=\"flex:{n};background:{}\" title=\"{} {}\"></span>",
                    outcome_palette(o).0,
                    n,
                    outcome_label(o)
                ));
            }
        }
        out.push_str("</div>");
    }
    out.push_str("<ul class=\"outcomes\">");
    for o in OUTCOME_ORDER {
        let n = count(o);
        if n == 0 && !ALWAYS_SHOWN.contains(&o) {
            continue;
        }
        let (solid, tint, text) = outcome_palette(o);
        out.push_str(&format!(
            "<li class=\"outcome{}\" style=\"--solid:{solid};--tint:{tint};--text:{text}\">\
             <span class=\"n\" id=\"count-outcome-{}\" data-count=\"{n}\">{n}</span>\
             <span class=\"l\">{}</span></li>",
            if n == 0 { " zero" } else { "" },
            o.as_str(),
            outcome_label(o)
        ));
    }
    out.push_str("</ul></section>\n");
}
