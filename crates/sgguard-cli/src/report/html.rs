//! HTML fragments shared by the sections: escaping, badges and table cells.

use sgguard_core::time::format_time;
use sgguard_core::{Outcome, RiskLevel};
use sgguard_responder::{ChangeReport, EventReport};

use super::OUTCOME_ORDER;
use super::summary::{actor_key, event_time, group_key};
use crate::output::short_actor;

/// Colours, consistent with the terminal table: red for failures and critical risk, magenta
/// for reverts, yellow for flagged, green for approved. (solid, tint, text on tint)
pub(super) fn outcome_palette(outcome: Outcome) -> (&'static str, &'static str, &'static str) {
    match outcome {
        Outcome::RevertFailed => ("#dc2626", "#fee2e2", "#991b1b"),
        Outcome::Invalid => ("#b91c1c", "#fee2e2", "#991b1b"),
        Outcome::Incomplete => ("#ea580c", "#ffedd5", "#9a3412"),
        Outcome::WouldRevert => ("#c026d3", "#fae8ff", "#86198f"),
        Outcome::Pending => ("#e879f9", "#fdf4ff", "#a21caf"),
        Outcome::Reverted => ("#86198f", "#f5d0fe", "#701a75"),
        Outcome::Restored => ("#9333ea", "#f3e8ff", "#6b21a8"),
        Outcome::Superseded => ("#64748b", "#f1f5f9", "#334155"),
        Outcome::Flagged => ("#eab308", "#fef9c3", "#854d0e"),
        Outcome::Approved => ("#16a34a", "#dcfce7", "#166534"),
        Outcome::Recorded => ("#94a3b8", "#f1f5f9", "#334155"),
        Outcome::OwnAction => ("#cbd5e1", "#f1f5f9", "#475569"),
        Outcome::Duplicate | Outcome::SkippedFailedCall | Outcome::SkippedUnrelated => {
            ("#e2e8f0", "#f8fafc", "#64748b")
        }
    }
}

/// One badge class per outcome, from the palette.
pub(super) fn outcome_css() -> String {
    OUTCOME_ORDER
        .iter()
        .map(|o| {
            let (solid, tint, text) = outcome_palette(*o);
            format!(
                ".o-{}{{background:{tint};color:{text};box-shadow:inset 0 0 0 1px {solid}33}}\n",
                o.as_str()
            )
        })
        .collect()
}

pub(super) fn outcome_label(outcome: Outcome) -> String {
    outcome.as_str().replace('_', " ")
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// [`esc`], with line-break opportunities after `/`, `@` and `:` so ARNs wrap at their parts.
fn esc_breakable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for part in text.split_inclusive(['/', '@', ':']) {
        out.push_str(&esc(part));
        if part.ends_with(['/', '@', ':']) {
            out.push_str("<wbr>");
        }
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let head: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

/// `<time>` for an event, `-` without one.
pub(super) fn time_cell(e: &EventReport) -> String {
    match (event_time(e), e.event_time.as_deref()) {
        (Some(t), _) => format!(
            "<time datetime=\"{}\">{}<span class=\"clock\">{}</span></time>",
            format_time(&t),
            t.format("%Y-%m-%d"),
            t.format("%H:%M:%S")
        ),
        (None, Some(raw)) => esc(raw),
        (None, None) => "-".to_owned(),
    }
}

/// `tcp 22 from 0.0.0.0/0`, or the rule id when the change carried no content.
pub fn rule_content(c: &ChangeReport) -> String {
    let ports = match (c.from_port, c.to_port) {
        (Some(a), Some(b)) if a == b && a >= 0 => format!(" {a}"),
        (Some(a), Some(b)) if a >= 0 => format!(" {a}-{b}"),
        _ => String::new(),
    };
    match (&c.protocol, &c.source) {
        (Some(p), Some(s)) => {
            let dir = if c.direction.is_ingress() {
                "from"
            } else {
                "to"
            };
            format!("{p}{ports} {dir} {s}")
        }
        _ => c.rule_id.clone().unwrap_or_else(|| "(rule)".to_owned()),
    }
}

pub(super) fn risk_badge(risk: RiskLevel) -> String {
    format!(
        "<span class=\"badge risk-{0}\" data-risk=\"{0}\">{0}</span>",
        risk.as_str()
    )
}

pub(super) fn outcome_badge(outcome: Outcome) -> String {
    format!(
        "<span class=\"badge o-{}\">{}</span>",
        outcome.as_str(),
        outcome_label(outcome)
    )
}

pub(super) fn count_span(id: &str, n: usize) -> String {
    format!("<span id=\"{id}\" data-count=\"{n}\">{n}</span>")
}

/// The actor cell: short ARN, the full one, source IP and user agent in the tooltip.
pub(super) fn actor_cell(e: &EventReport) -> String {
    let full = actor_key(e);
    let mut tip = vec![full.clone()];
    if let Some(p) = e.principal.as_ref().filter(|p| **p != full) {
        tip.push(format!("role {p}"));
    }
    if let Some(ip) = &e.source_ip {
        tip.push(format!("from {ip}"));
    }
    if let Some(ua) = &e.user_agent {
        tip.push(ua.clone());
    }
    let via = e
        .user_agent
        .as_deref()
        .and_then(|ua| ua.split_whitespace().next())
        .map(|tool| {
            format!(
                "<div class=\"muted small via\">via {}</div>",
                esc(&truncate(tool, 32))
            )
        })
        .unwrap_or_default();
    format!(
        "<td class=\"actor\" title=\"{}\"><span class=\"mono\">{}</span>{via}</td>",
        esc(&tip.join("\n")),
        esc_breakable(&short_actor(&full))
    )
}

pub(super) fn group_cell(e: &EventReport) -> String {
    let key = group_key(e);
    let scope = match (&e.account, &e.region) {
        (Some(a), Some(r)) => format!("<div class=\"muted small\">{} · {}</div>", esc(a), esc(r)),
        _ => String::new(),
    };
    format!(
        "<td class=\"group\"><span class=\"mono id\">{}</span>{scope}</td>",
        esc(&key)
    )
}

pub(super) fn change_cell(c: Option<&ChangeReport>) -> String {
    let Some(c) = c else {
        return "<td class=\"muted\">-</td>".to_owned();
    };
    let rule = c
        .rule_id
        .as_deref()
        .map(|id| format!("<div class=\"mono small muted rule\">{}</div>", esc(id)))
        .unwrap_or_default();
    let description = c
        .description
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| {
            format!(
                "<div class=\"muted small desc\">“{}”</div>",
                esc(&truncate(d, 120))
            )
        })
        .unwrap_or_default();
    format!(
        "<td class=\"change\"><span class=\"kind\">{} {}</span> <span class=\"mono content\">{}</span>{rule}{description}</td>",
        c.kind.as_str(),
        c.direction.as_str(),
        esc(&rule_content(c))
    )
}

pub(super) fn meter(n: usize, max: usize, color: &str) -> String {
    let pct = if max == 0 {
        0.0
    } else {
        100.0 * n as f64 / max as f64
    };
    format!(
        "<span class=\"meter\" aria-hidden=\"true\"><span style=\"width:{pct:.1}%;background:{color}\"></span></span>"
    )
}

pub(super) fn warn_cell(n: usize, class: &str) -> String {
    if n == 0 {
        "<td class=\"num zero\" data-count=\"0\">0</td>".to_owned()
    } else {
        format!("<td class=\"num {class}\" data-count=\"{n}\">{n}</td>")
    }
}
