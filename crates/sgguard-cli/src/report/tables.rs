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

/// What differs between the "top actors" and "top groups" tables; the rest is shared.
pub(super) struct TopTable {
    /// Section id; also names the count (`count-<id>`).
    id: &'static str,
    title: &'static str,
    /// What the rows are, for the pill and the "and N more" line.
    noun: &'static str,
    /// The header cells after Events, Unapproved and Reverted.
    key_header: &'static str,
    tail_headers: &'static str,
    row_class: &'static str,
    data_attr: &'static str,
    key_cell: fn(&str, &Tally) -> String,
    /// Cells between the counts and the time (the groups' max risk).
    extra_cells: fn(&Tally) -> String,
}

pub(super) const TOP_ACTORS: TopTable = TopTable {
    id: "actors",
    title: "Top actors",
    noun: "callers",
    key_header: "Actor",
    tail_headers: "<th scope=\"col\">Last seen</th>",
    row_class: "actor-row",
    data_attr: "data-actor",
    key_cell: |actor, _| {
        format!(
            "<td class=\"mono actor\" title=\"{}\">{}</td>",
            esc(actor),
            esc(&short_actor(actor))
        )
    },
    extra_cells: |_| String::new(),
};

pub(super) const TOP_GROUPS: TopTable = TopTable {
    id: "groups",
    title: "Top groups",
    noun: "groups",
    key_header: "Group",
    tail_headers: "<th scope=\"col\">Max risk</th>\
         <th scope=\"col\">Last change</th>",
    row_class: "group-row",
    data_attr: "data-group",
    key_cell: |group, t| {
        let scope = t
            .scope
            .as_deref()
            .map(|s| format!("<div class=\"muted small\">{}</div>", esc(s)))
            .unwrap_or_default();
        format!("<td class=\"mono\">{}{scope}</td>", esc(group))
    },
    extra_cells: |t| {
        format!(
            "<td>{}</td>",
            risk_badge(t.max_risk.unwrap_or(RiskLevel::None))
        )
    },
};

pub(super) fn render_top(out: &mut String, table: &TopTable, rows: &[(String, Tally)]) {
    let TopTable {
        id, title, noun, ..
    } = table;
    out.push_str(&format!(
        "<section id=\"{id}\" aria-labelledby=\"{id}-h\"><h2 id=\"{id}-h\">{title} \
         <span class=\"pill\">{} {noun}</span></h2>\n",
        count_span(&format!("count-{id}"), rows.len())
    ));
    let max = rows.first().map_or(0, |(_, t)| t.events);
    out.push_str(&format!(
        "<div class=\"table-wrap\"><table class=\"top\"><thead><tr><th scope=\"col\">{}</th>\
         <th scope=\"col\" class=\"num\">Events</th><th scope=\"col\" class=\"num\">Unapproved</th>\
         <th scope=\"col\" class=\"num\">Reverted</th>{}</tr></thead><tbody>\n",
        table.key_header, table.tail_headers
    ));
    for (key, t) in rows.iter().take(TOP) {
        out.push_str(&format!(
            "<tr class=\"{}\" {}=\"{}\">{}\
             <td class=\"num\" data-count=\"{}\">{}{}</td>{}{}{}<td class=\"small\">{}</td></tr>\n",
            table.row_class,
            table.data_attr,
            esc(key),
            (table.key_cell)(key, t),
            t.events,
            meter(t.events, max, "#64748b"),
            t.events,
            warn_cell(t.unapproved, "warn"),
            warn_cell(t.reverted, "rev"),
            (table.extra_cells)(t),
            t.last
                .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".to_owned()),
        ));
    }
    out.push_str("</tbody></table></div>\n");
    if rows.len() > TOP {
        out.push_str(&format!(
            "<p class=\"more\">and {} more {noun}.</p>\n",
            rows.len() - TOP
        ));
    }
    out.push_str("</section>\n");
}
