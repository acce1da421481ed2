//! The tables: open findings, reverts, top actors and top groups.

use std::cmp::Reverse;

use sgguard_core::{Action, RiskLevel};
use sgguard_responder::{ChangeReport, EventReport};

use super::html::{
    actor_cell, change_cell, count_span, esc, group_cell, meter, outcome_badge, risk_badge,
    time_cell, warn_cell,
};
use super::summary::{Tally, event_time, max_risk};
use super::{MAX_FINDINGS, MAX_REVERTS, OPEN_OUTCOMES, REVERT_OUTCOMES, TOP};
use crate::output::short_actor;

pub(super) fn render_findings(out: &mut String, events: &[EventReport]) {
    let mut open: Vec<(&EventReport, Vec<&ChangeReport>, RiskLevel)> = events
        .iter()
        .filter(|e| OPEN_OUTCOMES.contains(&e.outcome))
        .map(|e| {
            let mut changes: Vec<&ChangeReport> = e
                .changes
                .iter()
                .filter(|c| {
                    matches!(
                        c.action,
                        Action::Flagged | Action::WouldRevert | Action::Pending | Action::Failed
                    )
                })
                .collect();
            if changes.is_empty() {
                changes = e
                    .changes
                    .iter()
                    .filter(|c| c.approved_by.is_none())
                    .collect();
            }
            changes.sort_by_key(|c| Reverse(c.risk));
            let risk = max_risk(changes.iter().copied());
            (e, changes, risk)
        })
        .collect();
    open.sort_by(|(a, _, ra), (b, _, rb)| {
        rb.cmp(ra)
            .then_with(|| event_time(b).cmp(&event_time(a)))
            .then_with(|| b.event_time.cmp(&a.event_time))
    });
    let critical = open
        .iter()
        .filter(|(_, _, r)| *r == RiskLevel::Critical)
        .count();
    out.push_str(&format!(
        "<section id=\"findings\" aria-labelledby=\"findings-h\">\
         <h2 id=\"findings-h\">Riskiest open findings <span class=\"pill\">{}</span></h2>\
         <p class=\"lede\">Events still unapproved (would revert, flagged, revert failed, pending), \
         highest risk first, then newest. {} of them critical.</p>\n",
        count_span("count-open", open.len()),
        count_span("count-open-critical", critical),
    ));
    if open.is_empty() {
        out.push_str("<p class=\"empty-note\">No open findings in this window.</p></section>\n");
        return;
    }
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"findings\"><thead><tr>\
         <th scope=\"col\">Time (UTC)</th><th scope=\"col\">Group</th><th scope=\"col\">Actor</th>\
         <th scope=\"col\">Rule</th><th scope=\"col\">Risk</th>\
         <th scope=\"col\">Reasons · closest allowlist entry</th></tr></thead><tbody>\n",
    );
    for (e, changes, risk) in open.iter().take(MAX_FINDINGS) {
        let rows: Vec<Option<&ChangeReport>> = if changes.is_empty() {
            vec![None]
        } else {
            changes.iter().map(|c| Some(*c)).collect()
        };
        let span = rows.len();
        for (i, c) in rows.into_iter().enumerate() {
            let event_id = esc(e.event_id.as_deref().unwrap_or(""));
            let risk_here = c.map_or(*risk, |c| c.risk);
            out.push_str(&format!(
                "<tr class=\"finding risk-row-{}\" data-event-id=\"{event_id}\"{}>",
                risk_here.as_str(),
                if i == 0 { " data-first=\"1\"" } else { "" }
            ));
            if i == 0 {
                let rs = if span > 1 {
                    format!(" rowspan=\"{span}\"")
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "<td class=\"time\"{rs}>{}<div>{}</div></td>",
                    time_cell(e),
                    outcome_badge(e.outcome)
                ));
                out.push_str(&group_cell(e).replacen("<td", &format!("<td{rs}"), 1));
                out.push_str(&actor_cell(e).replacen("<td", &format!("<td{rs}"), 1));
            }
            out.push_str(&change_cell(c));
            out.push_str(&format!("<td>{}</td>", risk_badge(risk_here)));
            let reasons = match c {
                Some(c) if !c.risk_reasons.is_empty() => format!(
                    "<ul class=\"reasons\">{}</ul>",
                    c.risk_reasons
                        .iter()
                        .map(|r| format!("<li>{}</li>", esc(r)))
                        .collect::<String>()
                ),
                _ => format!("<span class=\"muted\">{}</span>", esc(&e.reason)),
            };
            let closest = match c.and_then(|c| c.closest_entry.as_deref()) {
                Some(entry) => match entry.split_once(" (") {
                    Some((id, why)) => format!(
                        "<span class=\"label\">closest entry</span> <b class=\"mono\">{}</b>: \
                         <span class=\"muted\">{}</span>",
                        esc(id),
                        esc(why.strip_suffix(')').unwrap_or(why))
                    ),
                    None => format!(
                        "<span class=\"label\">closest entry</span> <b class=\"mono\">{}</b>",
                        esc(entry)
                    ),
                },
                None => {
                    "<span class=\"label\">closest entry</span> <span class=\"muted\">none</span>"
                        .to_owned()
                }
            };
            out.push_str(&format!(
                "<td class=\"why\">{reasons}<div class=\"closest\">{closest}</div></td></tr>\n"
            ));
        }
    }
    out.push_str("</tbody></table></div>\n");
    if open.len() > MAX_FINDINGS {
        out.push_str(&format!(
            "<p class=\"more\">and {} more; see <code>sgguard audit --outcome would_revert --outcome flagged</code>.</p>\n",
            open.len() - MAX_FINDINGS
        ));
    }
    out.push_str("</section>\n");
}

pub(super) fn render_reverts(out: &mut String, events: &[EventReport], would_revert: usize) {
    let reverts: Vec<&EventReport> = events
        .iter()
        .filter(|e| REVERT_OUTCOMES.contains(&e.outcome))
        .collect();
    out.push_str(&format!(
        "<section id=\"reverts\" aria-labelledby=\"reverts-h\">\
         <h2 id=\"reverts-h\">Reverts <span class=\"pill\">{}</span></h2>\
         <p class=\"lede\">Rules sgguard removed (reverted) or put back to their last approved \
         content (restored), newest first.</p>\n",
        count_span("count-reverts", reverts.len()),
    ));
    if reverts.is_empty() {
        let note = if would_revert > 0 {
            format!(
                "Nothing was reverted in this window. sgguard ran in audit mode: {would_revert} \
                 event{} would have been reverted under <code>--mode enforce</code>.",
                if would_revert == 1 { "" } else { "s" }
            )
        } else {
            "Nothing was reverted in this window.".to_owned()
        };
        out.push_str(&format!("<p class=\"empty-note\">{note}</p></section>\n"));
        return;
    }
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"reverts\"><thead><tr>\
         <th scope=\"col\">Time (UTC)</th><th scope=\"col\">Group</th>\
         <th scope=\"col\">Rule removed or restored</th><th scope=\"col\">Remediation</th>\
         <th scope=\"col\">Actor</th></tr></thead><tbody>\n",
    );
    for e in reverts.iter().take(MAX_REVERTS) {
        let acted: Vec<&ChangeReport> = e
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Reverted | Action::Restored))
            .collect();
        let rows: Vec<Option<&ChangeReport>> = if acted.is_empty() {
            vec![None]
        } else {
            acted.into_iter().map(Some).collect()
        };
        for c in rows {
            let detail = c
                .and_then(|c| c.remediation.as_deref())
                .unwrap_or(&e.reason);
            out.push_str(&format!(
                "<tr class=\"revert\" data-event-id=\"{}\"><td class=\"time\">{}<div>{}</div></td>{}{}\
                 <td class=\"remediation\">{}</td>{}</tr>\n",
                esc(e.event_id.as_deref().unwrap_or("")),
                time_cell(e),
                outcome_badge(e.outcome),
                group_cell(e),
                change_cell(c),
                esc(detail),
                actor_cell(e),
            ));
        }
    }
    out.push_str("</tbody></table></div>\n");
    if reverts.len() > MAX_REVERTS {
        out.push_str(&format!(
            "<p class=\"more\">and {} more; see <code>sgguard audit --outcome reverted --outcome restored</code>.</p>\n",
            reverts.len() - MAX_REVERTS
        ));
    }
    out.push_str("</section>\n");
}

pub(super) fn render_top_actors(out: &mut String, rows: &[(String, Tally)]) {
    out.push_str(&format!(
        "<section id=\"actors\" aria-labelledby=\"actors-h\"><h2 id=\"actors-h\">Top actors \
         <span class=\"pill\">{} callers</span></h2>\n",
        count_span("count-actors", rows.len())
    ));
    let max = rows.first().map_or(0, |(_, t)| t.events);
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"top\"><thead><tr><th scope=\"col\">Actor</th>\
         <th scope=\"col\" class=\"num\">Events</th><th scope=\"col\" class=\"num\">Unapproved</th>\
         <th scope=\"col\" class=\"num\">Reverted</th><th scope=\"col\">Last seen</th></tr></thead><tbody>\n",
    );
    for (actor, t) in rows.iter().take(TOP) {
        out.push_str(&format!(
            "<tr class=\"actor-row\" data-actor=\"{}\"><td class=\"mono actor\" title=\"{}\">{}</td>\
             <td class=\"num\" data-count=\"{}\">{}{}</td>{}{}<td class=\"small\">{}</td></tr>\n",
            esc(actor),
            esc(actor),
            esc(&short_actor(actor)),
            t.events,
            meter(t.events, max, "#64748b"),
            t.events,
            warn_cell(t.unapproved, "warn"),
            warn_cell(t.reverted, "rev"),
            t.last
                .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".to_owned()),
        ));
    }
    out.push_str("</tbody></table></div>\n");
    if rows.len() > TOP {
        out.push_str(&format!(
            "<p class=\"more\">and {} more callers.</p>\n",
            rows.len() - TOP
        ));
    }
    out.push_str("</section>\n");
}

pub(super) fn render_top_groups(out: &mut String, rows: &[(String, Tally)]) {
    out.push_str(&format!(
        "<section id=\"groups\" aria-labelledby=\"groups-h\"><h2 id=\"groups-h\">Top groups \
         <span class=\"pill\">{} groups</span></h2>\n",
        count_span("count-groups", rows.len())
    ));
    let max = rows.first().map_or(0, |(_, t)| t.events);
    out.push_str(
        "<div class=\"table-wrap\"><table class=\"top\"><thead><tr><th scope=\"col\">Group</th>\
         <th scope=\"col\" class=\"num\">Events</th><th scope=\"col\" class=\"num\">Unapproved</th>\
         <th scope=\"col\" class=\"num\">Reverted</th><th scope=\"col\">Max risk</th>\
         <th scope=\"col\">Last change</th></tr></thead><tbody>\n",
    );
    for (group, t) in rows.iter().take(TOP) {
        let scope = t
            .scope
            .as_deref()
            .map(|s| format!("<div class=\"muted small\">{}</div>", esc(s)))
            .unwrap_or_default();
        out.push_str(&format!(
            "<tr class=\"group-row\" data-group=\"{}\"><td class=\"mono\">{}{scope}</td>\
             <td class=\"num\" data-count=\"{}\">{}{}</td>{}{}<td>{}</td><td class=\"small\">{}</td></tr>\n",
            esc(group),
            esc(group),
            t.events,
            meter(t.events, max, "#64748b"),
            t.events,
            warn_cell(t.unapproved, "warn"),
            warn_cell(t.reverted, "rev"),
            risk_badge(t.max_risk.unwrap_or(RiskLevel::None)),
            t.last
                .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".to_owned()),
        ));
    }
    out.push_str("</tbody></table></div>\n");
    if rows.len() > TOP {
        out.push_str(&format!(
            "<p class=\"more\">and {} more groups.</p>\n",
            rows.len() - TOP
        ));
    }
    out.push_str("</section>\n");
}
