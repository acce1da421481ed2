//! The HTML report of `sgguard report`: one self-contained page (inline CSS, inline SVG, a
//! few lines of inline script; nothing loaded from the network) over a window of the audit
//! log. Rendering is a pure function of the events, so it is tested without a store.
//!
//! Every string taken from an event is HTML-escaped: CloudTrail fields such as the user
//! agent, the session name and rule descriptions are chosen by whoever made the call.
//!
//! Every count carries a stable `id` and `data-count` attribute (`count-events`,
//! `count-outcome-would_revert`, `count-groups`, …) so tests, and scripts, can read them.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sgguard_core::time::{format_time, parse_event_time};
use sgguard_core::{Action, Outcome, RiskLevel};
use sgguard_responder::{ChangeReport, EventReport};

use crate::output::short_actor;

/// Rows shown in the top actors and top groups tables.
pub const TOP: usize = 10;
/// Open findings shown (events); the rest are counted.
pub const MAX_FINDINGS: usize = 100;
/// Reverted or restored events shown; the rest are counted.
pub const MAX_REVERTS: usize = 200;
/// At most this many bars in the timeline: longer windows group days.
const MAX_BARS: i64 = 92;

/// What the page is about: the window, the store it was read from, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMeta {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The store, as `--store` names it (`sqlite:sgguard.db`, `dynamodb`).
    pub store: String,
    pub generated_at: DateTime<Utc>,
}

/// Outcomes that are findings someone still has to look at.
pub const OPEN_OUTCOMES: [Outcome; 4] = [
    Outcome::RevertFailed,
    Outcome::Pending,
    Outcome::WouldRevert,
    Outcome::Flagged,
];

/// Outcomes where sgguard undid the change.
pub const REVERT_OUTCOMES: [Outcome; 2] = [Outcome::Reverted, Outcome::Restored];

/// The order of the timeline's stacks (bottom first) and of the outcome summary.
const OUTCOME_ORDER: [Outcome; 13] = [
    Outcome::RevertFailed,
    Outcome::Reverted,
    Outcome::Restored,
    Outcome::Pending,
    Outcome::WouldRevert,
    Outcome::Flagged,
    Outcome::Approved,
    Outcome::Recorded,
    Outcome::OwnAction,
    Outcome::Invalid,
    Outcome::Duplicate,
    Outcome::SkippedFailedCall,
    Outcome::SkippedUnrelated,
];

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

/// Whether an event is unapproved: open, or reverted.
pub fn is_unapproved(outcome: Outcome) -> bool {
    OPEN_OUTCOMES.contains(&outcome) || REVERT_OUTCOMES.contains(&outcome)
}

/// Colours, consistent with the terminal table: red for failures and critical risk, magenta
/// for reverts, yellow for flagged, green for approved. (solid, tint, text on tint)
fn outcome_palette(outcome: Outcome) -> (&'static str, &'static str, &'static str) {
    match outcome {
        Outcome::RevertFailed => ("#dc2626", "#fee2e2", "#991b1b"),
        Outcome::Invalid => ("#b91c1c", "#fee2e2", "#991b1b"),
        Outcome::WouldRevert => ("#c026d3", "#fae8ff", "#86198f"),
        Outcome::Pending => ("#e879f9", "#fdf4ff", "#a21caf"),
        Outcome::Reverted => ("#86198f", "#f5d0fe", "#701a75"),
        Outcome::Restored => ("#9333ea", "#f3e8ff", "#6b21a8"),
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
fn outcome_css() -> String {
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

fn outcome_label(outcome: Outcome) -> String {
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

fn event_time(e: &EventReport) -> Option<DateTime<Utc>> {
    e.event_time.as_deref().and_then(parse_event_time)
}

/// `<time>` for an event, `-` without one.
fn time_cell(e: &EventReport) -> String {
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

fn group_key(e: &EventReport) -> String {
    e.group_id
        .clone()
        .or_else(|| e.group_name.clone())
        .unwrap_or_else(|| "(unknown group)".to_owned())
}

fn actor_key(e: &EventReport) -> String {
    e.actor
        .clone()
        .or_else(|| e.principal.clone())
        .unwrap_or_else(|| "(unknown caller)".to_owned())
}

fn max_risk<'a>(changes: impl IntoIterator<Item = &'a ChangeReport>) -> RiskLevel {
    changes
        .into_iter()
        .map(|c| c.risk)
        .max()
        .unwrap_or(RiskLevel::None)
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

fn risk_badge(risk: RiskLevel) -> String {
    format!(
        "<span class=\"badge risk-{0}\" data-risk=\"{0}\">{0}</span>",
        risk.as_str()
    )
}

fn outcome_badge(outcome: Outcome) -> String {
    format!(
        "<span class=\"badge o-{}\">{}</span>",
        outcome.as_str(),
        outcome_label(outcome)
    )
}

/// Per-actor or per-group totals.
#[derive(Debug, Default)]
struct Tally {
    events: usize,
    unapproved: usize,
    reverted: usize,
    max_risk: Option<RiskLevel>,
    last: Option<DateTime<Utc>>,
    scope: Option<String>,
}

fn tally(events: &[EventReport], key: impl Fn(&EventReport) -> String) -> Vec<(String, Tally)> {
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

/// The timeline: buckets of `days` days from `start`.
#[derive(Debug)]
struct Timeline {
    start: NaiveDate,
    days: i64,
    buckets: Vec<BTreeMap<Outcome, usize>>,
}

impl Timeline {
    fn new(meta: &ReportMeta, events: &[EventReport]) -> Self {
        let (a, b) = (meta.since.date_naive(), meta.until.date_naive());
        let (start, end) = if a <= b { (a, b) } else { (b, a) };
        let span = (end - start).num_days() + 1;
        let days = ((span + MAX_BARS - 1) / MAX_BARS).max(1);
        let count = ((span + days - 1) / days).max(1);
        let mut buckets = vec![BTreeMap::new(); usize::try_from(count).unwrap_or(1)];
        for e in events {
            let Some(t) = event_time(e) else { continue };
            let offset = (t.date_naive() - start).num_days();
            if offset < 0 {
                continue;
            }
            if let Some(bucket) = usize::try_from(offset / days)
                .ok()
                .and_then(|i| buckets.get_mut(i))
            {
                *bucket.entry(e.outcome).or_default() += 1;
            }
        }
        Self {
            start,
            days,
            buckets,
        }
    }

    fn bucket_start(&self, i: usize) -> NaiveDate {
        let offset = i64::try_from(i).unwrap_or(0) * self.days;
        self.start + Duration::days(offset)
    }

    fn label(&self, i: usize) -> String {
        let start = self.bucket_start(i);
        if self.days == 1 {
            start.format("%Y-%m-%d").to_string()
        } else {
            let end = start + Duration::days(self.days - 1);
            format!("{} – {}", start.format("%Y-%m-%d"), end.format("%Y-%m-%d"))
        }
    }
}

/// A round axis maximum and its tick step for `max` items.
fn axis(max: usize) -> (usize, usize) {
    let max = max.max(1);
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            let s = step * m;
            if max.div_ceil(s) <= 5 {
                return (max.div_ceil(s) * s, s);
            }
        }
        step *= 10;
    }
}

fn render_chart(out: &mut String, timeline: &Timeline) {
    const W: f64 = 960.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 40.0;
    const RIGHT: f64 = 8.0;
    const TOP_PAD: f64 = 12.0;
    const BOTTOM: f64 = 30.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP_PAD - BOTTOM;
    let n = timeline.buckets.len().max(1);
    let totals: Vec<usize> = timeline.buckets.iter().map(|b| b.values().sum()).collect();
    let (ymax, step) = axis(totals.iter().copied().max().unwrap_or(0));
    let slot = plot_w / n as f64;
    let bar = (slot * 0.72).clamp(1.0, 36.0);
    let y = |v: usize| TOP_PAD + plot_h - plot_h * v as f64 / ymax as f64;
    let unit = if timeline.days == 1 {
        "day".to_owned()
    } else {
        format!("{} days", timeline.days)
    };
    out.push_str(&format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-labelledby=\"timeline-title timeline-desc\" preserveAspectRatio=\"xMidYMid meet\">\n\
         <title id=\"timeline-title\">Changes per {unit}, by outcome</title>\n\
         <desc id=\"timeline-desc\">Stacked bars, one per {unit} from {} to {}; \
         the busiest has {} events.</desc>\n",
        timeline.bucket_start(0).format("%Y-%m-%d"),
        timeline.bucket_start(n - 1).format("%Y-%m-%d"),
        totals.iter().copied().max().unwrap_or(0),
    ));
    // Grid lines and the y axis.
    let mut v = 0;
    while v <= ymax {
        let gy = y(v);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>\n",
            W - RIGHT,
            LEFT - 6.0,
            gy + 4.0
        ));
        v += step;
    }
    // At most about twelve date labels.
    let label_every = n.div_ceil(12).max(1);
    for (i, bucket) in timeline.buckets.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let label = timeline.label(i);
        let total = totals.get(i).copied().unwrap_or(0);
        let parts: Vec<String> = OUTCOME_ORDER
            .iter()
            .filter_map(|o| bucket.get(o).map(|c| format!("{c} {}", outcome_label(*o))))
            .collect();
        let summary = if parts.is_empty() {
            format!("{label}: no events")
        } else {
            format!("{label}: {total} events ({})", parts.join(", "))
        };
        out.push_str(&format!(
            "<g class=\"day\" data-day=\"{}\" data-count=\"{total}\"><title>{}</title>",
            timeline.bucket_start(i).format("%Y-%m-%d"),
            esc(&summary)
        ));
        // A full-height hover target, so small bars are easy to point at.
        out.push_str(&format!(
            "<rect class=\"hit\" x=\"{:.1}\" y=\"{TOP_PAD}\" width=\"{slot:.1}\" height=\"{plot_h:.1}\"/>",
            LEFT + slot * i as f64
        ));
        let mut base = 0;
        for outcome in OUTCOME_ORDER {
            let Some(&count) = bucket.get(&outcome) else {
                continue;
            };
            let (top, bottom) = (y(base + count), y(base));
            out.push_str(&format!(
                "<rect class=\"seg\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" \
                 fill=\"{}\" data-outcome=\"{}\" data-count=\"{count}\"><title>{}: {count} {}</title></rect>",
                (bottom - top).max(0.5),
                outcome_palette(outcome).0,
                outcome.as_str(),
                esc(&label),
                outcome_label(outcome)
            ));
            base += count;
        }
        if i % label_every == 0 {
            let start = timeline.bucket_start(i);
            out.push_str(&format!(
                "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                LEFT + slot * (i as f64 + 0.5),
                H - 10.0,
                start.format("%b %-d")
            ));
        }
        out.push_str("</g>\n");
    }
    out.push_str(&format!(
        "<line class=\"baseline\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\n</svg>\n",
        W - RIGHT,
        y(0),
        y(0)
    ));
}

fn render_legend(out: &mut String, present: &[Outcome]) {
    out.push_str("<ul class=\"legend\" aria-label=\"Legend\">");
    for outcome in present {
        out.push_str(&format!(
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            outcome_palette(*outcome).0,
            outcome_label(*outcome)
        ));
    }
    out.push_str("</ul>\n");
}

fn render_timeline_table(out: &mut String, timeline: &Timeline, present: &[Outcome]) {
    out.push_str(
        "<details class=\"data\"><summary>Timeline as a table</summary><div class=\"table-wrap\">\
         <table class=\"compact\"><thead><tr><th scope=\"col\">Day</th>",
    );
    for o in present {
        out.push_str(&format!(
            "<th scope=\"col\" class=\"num\">{}</th>",
            outcome_label(*o)
        ));
    }
    out.push_str("<th scope=\"col\" class=\"num\">Total</th></tr></thead><tbody>");
    for (i, bucket) in timeline.buckets.iter().enumerate() {
        let total: usize = bucket.values().sum();
        if total == 0 {
            continue;
        }
        out.push_str(&format!("<tr><th scope=\"row\">{}</th>", timeline.label(i)));
        for o in present {
            let c = bucket.get(o).copied().unwrap_or(0);
            out.push_str(&format!("<td class=\"num\">{c}</td>"));
        }
        out.push_str(&format!("<td class=\"num\">{total}</td></tr>"));
    }
    out.push_str("</tbody></table></div></details>\n");
}

fn count_span(id: &str, n: usize) -> String {
    format!("<span id=\"{id}\" data-count=\"{n}\">{n}</span>")
}

/// The actor cell: short ARN, the full one, source IP and user agent in the tooltip.
fn actor_cell(e: &EventReport) -> String {
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

fn group_cell(e: &EventReport) -> String {
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

fn change_cell(c: Option<&ChangeReport>) -> String {
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

fn render_findings(out: &mut String, events: &[EventReport]) {
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

fn render_reverts(out: &mut String, events: &[EventReport], would_revert: usize) {
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

fn meter(n: usize, max: usize, color: &str) -> String {
    let pct = if max == 0 {
        0.0
    } else {
        100.0 * n as f64 / max as f64
    };
    format!(
        "<span class=\"meter\" aria-hidden=\"true\"><span style=\"width:{pct:.1}%;background:{color}\"></span></span>"
    )
}

fn render_top_actors(out: &mut String, rows: &[(String, Tally)]) {
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

fn warn_cell(n: usize, class: &str) -> String {
    if n == 0 {
        "<td class=\"num zero\" data-count=\"0\">0</td>".to_owned()
    } else {
        format!("<td class=\"num {class}\" data-count=\"{n}\">{n}</td>")
    }
}

fn render_top_groups(out: &mut String, rows: &[(String, Tally)]) {
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

fn render_summary(out: &mut String, events: &[EventReport], by_outcome: &BTreeMap<Outcome, usize>) {
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

const CSS: &str = r#"
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--soft:#f1f5f9;--bg:#f6f7f9;--card:#fff;
--critical:#dc2626;--high:#c026d3;--medium:#ca8a04;--approved:#16a34a}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
.mono,code{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
code{background:var(--soft);padding:1px 5px;border-radius:4px}
.wrap{max-width:1240px;margin:0 auto;padding:0 24px}
header.top{background:#0f172a;color:#f8fafc;padding:28px 0 26px}
header.top .brand{font-size:12px;letter-spacing:.12em;text-transform:uppercase;color:#94a3b8;font-weight:600}
header.top h1{font-size:26px;line-height:1.25;margin:4px 0 6px;font-weight:650;letter-spacing:-.01em}
header.top .window{color:#cbd5e1;font-size:15px}
header.top dl{display:flex;flex-wrap:wrap;gap:6px 28px;margin:14px 0 0;font-size:13px}
header.top dt{color:#94a3b8;display:inline}
header.top dd{display:inline;margin:0 0 0 6px;color:#e2e8f0}
main.wrap{padding-top:24px;padding-bottom:40px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 20px;margin:0 0 18px}
h2{font-size:16px;font-weight:650;margin:0 0 4px;display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.lede{color:var(--muted);margin:0 0 12px;font-size:13px}
.pill{font-size:12px;font-weight:600;background:var(--soft);color:#334155;border-radius:999px;padding:1px 9px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:14px;background:none;border:0;padding:0}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 18px;border-top:4px solid var(--c)}
.kpi .n{font-size:32px;font-weight:650;line-height:1.15;font-variant-numeric:tabular-nums;color:var(--c)}
.kpi .l{font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.05em;color:#334155;margin-top:2px}
.kpi .s{font-size:12.5px;color:var(--muted)}
.ratio{display:flex;height:10px;border-radius:999px;overflow:hidden;margin:10px 0 14px;background:var(--soft)}
.ratio span{display:block;min-width:3px}
.outcomes{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:8px}
.outcomes li{display:flex;align-items:baseline;gap:7px;padding:6px 12px;border-radius:8px;background:var(--tint);color:var(--text);border-left:4px solid var(--solid)}
.outcomes li .n{font-weight:700;font-size:16px;font-variant-numeric:tabular-nums}
.outcomes li .l{font-size:13px}
.outcomes li.zero{opacity:.55}
.chart{display:block;width:100%;height:auto;max-height:300px}
.chart .grid{stroke:#eef2f6;stroke-width:1}
.chart .baseline{stroke:#94a3b8;stroke-width:1}
.chart .axis{font-size:11px;fill:#64748b;font-family:inherit}
.chart .hit{fill:transparent}
.chart .day:hover .hit{fill:#f1f5f9}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:6px 18px;margin:8px 0 0;padding:0;font-size:12.5px;color:#334155}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:3px}
details.data{margin-top:10px;font-size:13px}
details.data summary{cursor:pointer;color:var(--muted)}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{width:100%;border-collapse:collapse;font-size:13px}
th{text-align:left;font-weight:600;color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;padding:8px 10px;border-bottom:1px solid var(--line);white-space:nowrap;background:var(--card)}
td{padding:8px 10px;border-bottom:1px solid var(--soft);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
tbody tr:hover td{background:#fafbfc}
table.compact td,table.compact th{padding:4px 10px}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.zero{color:#cbd5e1}
td.warn{color:#a21caf;font-weight:600}
td.rev{color:#701a75;font-weight:600}
.meter{display:inline-block;width:56px;height:6px;border-radius:999px;background:var(--soft);margin-right:8px;vertical-align:middle;overflow:hidden}
.meter span{display:block;height:100%;border-radius:999px}
.muted{color:var(--muted)}
.small{font-size:12px}
.actor{min-width:150px;max-width:260px}
.actor .mono{overflow-wrap:break-word}
.group .id,.group .small{white-space:nowrap}
.change{min-width:190px}
.rule{margin-top:2px}
.time .clock{display:block;color:var(--muted);font-size:12px}
.time .badge{margin-top:4px}
.time{white-space:nowrap;font-variant-numeric:tabular-nums}
.kind{color:var(--muted);font-size:12px;white-space:nowrap}
.desc{font-style:italic;overflow-wrap:anywhere}
.reasons{margin:0;padding-left:16px}
.reasons li{margin:0}
.why{min-width:260px}
.closest{margin-top:4px;font-size:12.5px;overflow-wrap:break-word}
.label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
.remediation{overflow-wrap:anywhere;min-width:200px}
tr.risk-row-critical[data-first] td:first-child{box-shadow:inset 3px 0 0 var(--critical)}
tr.risk-row-high[data-first] td:first-child{box-shadow:inset 3px 0 0 var(--high)}
tr.risk-row-medium[data-first] td:first-child{box-shadow:inset 3px 0 0 var(--medium)}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap;line-height:1.6}
.risk-critical{background:#fee2e2;color:#b91c1c}
.risk-high{background:#fae8ff;color:#a21caf}
.risk-medium{background:#fef9c3;color:#854d0e}
.risk-low{background:#f1f5f9;color:#475569}
.risk-none{background:#f8fafc;color:#94a3b8}
.empty-note{margin:6px 0 2px;color:#334155}
.more{margin:10px 0 0;color:var(--muted);font-size:13px}
.empty{text-align:center;padding:48px 20px}
.empty h2{justify-content:center;font-size:20px}
.empty p{color:var(--muted);max-width:560px;margin:8px auto 0}
footer{color:var(--muted);font-size:12px;padding:0 0 32px}
@media (max-width:600px){.wrap{padding:0 12px}section{padding:14px 12px}header.top h1{font-size:21px}.kpi .n{font-size:26px}}
@media print{
body{background:#fff;font-size:11px}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
header.top{background:#fff;color:#000;padding:0 0 10px;border-bottom:2px solid #0f172a}
header.top .window,header.top dd{color:#000}
header.top dt,header.top .brand{color:#475569}
.wrap{max-width:none;padding:0}
section{border:0;padding:0;margin:0 0 16px;border-radius:0}
.kpi,.chart,#outcomes{break-inside:avoid}
.table-wrap{overflow:visible}
thead{display:table-header-group}
tr{break-inside:avoid}
tbody tr:hover td{background:none}
details.data{display:none}
}
"#;

/// Records script errors where a headless browser can read them, before anything else runs.
const HEAD_SCRIPT: &str = r#"(function(){var errs=[];window.__sgguardErrors=errs;
function rec(m){errs.push(String(m));if(document.body){document.body.dataset.errors=errs.join("\n");}}
window.onerror=function(msg,src,line,col){rec(msg+" ("+line+":"+col+")");};
window.addEventListener("unhandledrejection",function(e){rec("unhandled rejection: "+e.reason);});})();"#;

/// Marks the page rendered; runs last.
const TAIL_SCRIPT: &str = r#"(function(){var b=document.body,e=window.__sgguardErrors||[];
if(e.length){b.dataset.errors=e.join("\n");}b.dataset.rendered="ok";})();"#;

/// Renders the whole page. `events` are the events of the window, in any order.
pub fn render_html(meta: &ReportMeta, events: &[EventReport]) -> String {
    let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
    for e in events {
        *by_outcome.entry(e.outcome).or_default() += 1;
    }
    let fmt_day = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let span_days = (meta.until - meta.since).num_hours() as f64 / 24.0;
    let span = if span_days >= 1.0 {
        format!("{:.0} days", span_days.round())
    } else {
        format!("{} hours", (meta.until - meta.since).num_hours())
    };
    let mut scopes: Vec<String> = events
        .iter()
        .filter_map(|e| match (&e.account, &e.region) {
            (Some(a), Some(r)) => Some(format!("{a}/{r}")),
            _ => None,
        })
        .collect();
    scopes.sort();
    scopes.dedup();
    let scope_text = match scopes.len() {
        0 => "-".to_owned(),
        1..=4 => scopes.join(", "),
        n => format!("{} and {} more", scopes[..3].join(", "), n - 3),
    };

    let mut out = String::with_capacity(64 * 1024 + events.len() * 1024);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"generator\" content=\"sgguard {}\">\n\
         <title>sgguard report · {} to {}</title>\n\
         <script>{HEAD_SCRIPT}</script>\n<style>{CSS}{badges}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        meta.since.format("%Y-%m-%d"),
        meta.until.format("%Y-%m-%d"),
        badges = outcome_css(),
    ));
    out.push_str(&format!(
        "<header class=\"top\"><div class=\"wrap\">\
         <div class=\"brand\">sgguard · security group report</div>\
         <h1>Security group changes, {} to {}</h1>\
         <div class=\"window\">Window <time id=\"window-since\" datetime=\"{}\">{}</time> → \
         <time id=\"window-until\" datetime=\"{}\">{}</time> ({span}). All times are UTC.</div>\
         <dl><div><dt>Store</dt><dd class=\"mono\" id=\"store\">{}</dd></div>\
         <div><dt>Accounts / regions</dt><dd>{}</dd></div>\
         <div><dt>Generated</dt><dd>{}</dd></div></dl>\
         </div></header>\n<main class=\"wrap\">\n",
        meta.since.format("%b %-d, %Y"),
        meta.until.format("%b %-d, %Y"),
        format_time(&meta.since),
        fmt_day(&meta.since),
        format_time(&meta.until),
        fmt_day(&meta.until),
        esc(&meta.store),
        esc(&scope_text),
        fmt_day(&meta.generated_at),
    ));

    render_summary(&mut out, events, &by_outcome);

    if events.is_empty() {
        out.push_str(&format!(
            "<section class=\"empty\" id=\"no-changes\"><h2>No changes in this window</h2>\
             <p>sgguard recorded no security-group changes between {} and {} in <span class=\"mono\">{}</span>. \
             Nothing was flagged or reverted. To look further back, use <code>--since</code> \
             (for example <code>--since 90d</code>), or point <code>--store</code> at another audit store.</p></section>\n",
            fmt_day(&meta.since),
            fmt_day(&meta.until),
            esc(&meta.store),
        ));
    } else {
        let timeline = Timeline::new(meta, events);
        let present: Vec<Outcome> = OUTCOME_ORDER
            .into_iter()
            .filter(|o| by_outcome.contains_key(o))
            .collect();
        out.push_str(&format!(
            "<section id=\"timeline\" aria-labelledby=\"timeline-h\"><h2 id=\"timeline-h\">Timeline</h2>\
             <p class=\"lede\">Events per {}, stacked by outcome. Hover a bar for its counts.</p>\n",
            if timeline.days == 1 {
                "day".to_owned()
            } else {
                format!("{} days", timeline.days)
            }
        ));
        render_chart(&mut out, &timeline);
        render_legend(&mut out, &present);
        render_timeline_table(&mut out, &timeline, &present);
        out.push_str("</section>\n");

        render_findings(&mut out, events);

        render_top_actors(&mut out, &tally(events, actor_key));
        render_top_groups(&mut out, &tally(events, group_key));

        render_reverts(
            &mut out,
            events,
            by_outcome.get(&Outcome::WouldRevert).copied().unwrap_or(0),
        );
    }

    out.push_str(&format!(
        "</main>\n<footer class=\"wrap\">Generated by sgguard {} from {} at {}. \
         Details of any event: <code>sgguard audit show EVENT_ID</code>.</footer>\n\
         <script>{TAIL_SCRIPT}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&meta.store),
        format_time(&meta.generated_at),
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sgguard_core::{ChangeKind, Direction, SourceKind};

    fn t(s: &str) -> DateTime<Utc> {
        parse_event_time(s).unwrap()
    }

    fn meta() -> ReportMeta {
        ReportMeta {
            since: t("2026-11-01T00:00:00Z"),
            until: t("2026-11-30T00:00:00Z"),
            store: "sqlite:sgguard.db".to_owned(),
            generated_at: t("2026-11-30T00:00:00Z"),
        }
    }

    fn change(risk: RiskLevel, action: Action) -> ChangeReport {
        ChangeReport {
            rule_id: Some("sgr-0123456789abcdef0".to_owned()),
            direction: Direction::Ingress,
            kind: ChangeKind::Added,
            protocol: Some("tcp".to_owned()),
            from_port: Some(22),
            to_port: Some(22),
            source: Some("0.0.0.0/0".to_owned()),
            source_kind: Some(SourceKind::CidrIpv4),
            description: Some("temp ssh".to_owned()),
            risk,
            risk_reasons: vec!["world-open IPv4 source 0.0.0.0/0".to_owned()],
            approved_by: None,
            closest_entry: Some("office-ssh (source: not inside)".to_owned()),
            action,
            remediation: None,
        }
    }

    fn event(id: &str, time: &str, group: &str, actor: &str, outcome: Outcome) -> EventReport {
        let (risk, action) = match outcome {
            Outcome::WouldRevert => (RiskLevel::Critical, Action::WouldRevert),
            Outcome::Flagged => (RiskLevel::Medium, Action::Flagged),
            Outcome::Reverted => (RiskLevel::High, Action::Reverted),
            Outcome::Restored => (RiskLevel::Critical, Action::Restored),
            _ => (RiskLevel::Low, Action::None),
        };
        let mut c = change(risk, action);
        if outcome == Outcome::Approved {
            c.approved_by = Some("office-ssh".to_owned());
            c.closest_entry = None;
        }
        if matches!(outcome, Outcome::Reverted | Outcome::Restored) {
            c.remediation =
                Some("revoked ingress sgr-0123456789abcdef0 by rule id; confirmed gone".to_owned());
        }
        EventReport {
            event_id: Some(id.to_owned()),
            event_name: Some("AuthorizeSecurityGroupIngress".to_owned()),
            event_time: Some(time.to_owned()),
            account: Some("111122223333".to_owned()),
            region: Some("eu-west-1".to_owned()),
            group_id: Some(group.to_owned()),
            group_name: None,
            actor: Some(actor.to_owned()),
            principal: Some(actor.to_owned()),
            source_ip: Some("203.0.113.9".to_owned()),
            user_agent: Some("aws-cli/2.22.35 md/awscrt#0.23.8".to_owned()),
            outcome,
            reason: "test".to_owned(),
            changes: vec![c],
            origin: None,
        }
    }

    /// The `data-count` of the element with this id.
    fn count(html: &str, id: &str) -> usize {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no element with id {id}"));
        let rest = &html[at..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..end];
        let value = tag.split("data-count=\"").nth(1).unwrap();
        value[..value.find('"').unwrap()].parse().unwrap()
    }

    fn sample() -> Vec<EventReport> {
        let alice = "arn:aws:iam::111122223333:user/alice";
        let dave = "arn:aws:sts::111122223333:assumed-role/NetworkAdmin/dave";
        vec![
            event(
                "e1",
                "2026-11-20T09:15:02Z",
                "sg-1",
                alice,
                Outcome::WouldRevert,
            ),
            event(
                "e2",
                "2026-11-20T10:15:02Z",
                "sg-1",
                alice,
                Outcome::Flagged,
            ),
            event(
                "e3",
                "2026-11-21T09:15:02Z",
                "sg-2",
                dave,
                Outcome::Approved,
            ),
            event(
                "e4",
                "2026-11-22T09:15:02Z",
                "sg-3",
                dave,
                Outcome::Reverted,
            ),
            event(
                "e5",
                "2026-11-22T11:15:02Z",
                "sg-3",
                alice,
                Outcome::Restored,
            ),
            event(
                "e6",
                "2026-11-23T09:15:02Z",
                "sg-2",
                alice,
                Outcome::WouldRevert,
            ),
            event(
                "e7",
                "2026-11-23T10:00:00Z",
                "sg-4",
                dave,
                Outcome::Recorded,
            ),
        ]
    }

    #[test]
    fn counts_by_outcome_actor_and_group() {
        let html = render_html(&meta(), &sample());
        assert_eq!(count(&html, "count-events"), 7);
        assert_eq!(count(&html, "count-changes"), 7);
        assert_eq!(count(&html, "count-outcome-would_revert"), 2);
        assert_eq!(count(&html, "count-outcome-flagged"), 1);
        assert_eq!(count(&html, "count-outcome-approved"), 1);
        assert_eq!(count(&html, "count-outcome-reverted"), 1);
        assert_eq!(count(&html, "count-outcome-restored"), 1);
        assert_eq!(count(&html, "count-outcome-recorded"), 1);
        assert_eq!(count(&html, "count-outcome-revert_failed"), 0);
        assert_eq!(count(&html, "count-unapproved-open"), 3);
        assert_eq!(count(&html, "count-open"), 3);
        assert_eq!(count(&html, "count-open-critical"), 2);
        assert_eq!(count(&html, "count-reverts"), 2);
        assert_eq!(count(&html, "count-reverted"), 2);
        assert_eq!(count(&html, "count-approved"), 1);
        assert_eq!(count(&html, "count-actors"), 2);
        assert_eq!(count(&html, "count-groups"), 4);
        assert_eq!(html.matches("class=\"actor-row\"").count(), 2);
        assert_eq!(html.matches("class=\"group-row\"").count(), 4);
        assert_eq!(html.matches("class=\"revert\"").count(), 2);
        // alice: 4 events, 4 unapproved (would_revert, flagged, restored, would_revert), 1 reverted.
        let alice = &html[html
            .find("data-actor=\"arn:aws:iam::111122223333:user/alice\"")
            .unwrap()..];
        let row = &alice[..alice.find("</tr>").unwrap()];
        let counts: Vec<&str> = row
            .split("data-count=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        assert_eq!(counts, ["4", "4", "1"]);
        // The timeline's segments add up to the events.
        let segs: usize = html
            .split("class=\"seg\"")
            .skip(1)
            .map(|s| {
                let v = s.split("data-count=\"").nth(1).unwrap();
                v[..v.find('"').unwrap()].parse::<usize>().unwrap()
            })
            .sum();
        assert_eq!(segs, 7);
        assert!(html.contains("dataset.rendered=\"ok\""));
        assert!(html.contains("window.onerror"));
    }

    #[test]
    fn findings_are_sorted_by_risk_then_newest() {
        let html = render_html(&meta(), &sample());
        let findings =
            &html[html.find("id=\"findings\"").unwrap()..html.find("id=\"actors\"").unwrap()];
        let order: Vec<&str> = findings
            .split("data-event-id=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        // Two criticals (newest first), then the medium flagged one.
        assert_eq!(order, ["e6", "e1", "e2"]);
    }

    #[test]
    fn event_strings_are_escaped() {
        let mut e = event(
            "<script>alert(1)</script>",
            "2026-11-20T09:15:02Z",
            "sg-<b>x</b>",
            "arn:aws:sts::1:assumed-role/R/<script>alert('actor')</script>",
            Outcome::WouldRevert,
        );
        e.user_agent = Some("<script>alert(\"ua\")</script> \"quoted\" & 'single'".to_owned());
        e.source_ip = Some("<img src=x onerror=alert(1)>".to_owned());
        e.account = Some("<i>acct</i>".to_owned());
        e.changes[0].description = Some("</td><script>alert('desc')</script>".to_owned());
        e.changes[0].risk_reasons = vec!["<svg onload=alert(1)>".to_owned()];
        e.changes[0].closest_entry = Some("<b>entry</b> (x\"><script>)".to_owned());
        e.changes[0].rule_id = Some("sgr-<script>".to_owned());
        let mut reverted = e.clone();
        reverted.event_id = Some("r1".to_owned());
        reverted.outcome = Outcome::Reverted;
        reverted.changes[0].action = Action::Reverted;
        reverted.changes[0].remediation = Some("<script>alert('rem')</script>".to_owned());
        let m = ReportMeta {
            store: "sqlite:/tmp/<script>.db".to_owned(),
            ..meta()
        };
        let html = render_html(&m, &[e, reverted]);
        // Exactly the two scripts of the page itself, and no tag from an event.
        assert_eq!(html.matches("<script").count(), 2, "{html}");
        for bad in [
            "<img",
            "<svg onload",
            "<b>entry",
            "<i>acct",
            "<b>x</b>",
            "\"quoted\"",
        ] {
            assert!(!html.contains(bad), "unescaped {bad}");
        }
        assert!(html.contains("&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;"));
        assert!(html.contains("&lt;script&gt;alert(&quot;ua&quot;)&lt;/script&gt;"));
        assert!(html.contains("&lt;script&gt;alert(&#39;rem&#39;)&lt;/script&gt;"));
        assert!(html.contains("sqlite:/tmp/&lt;script&gt;.db"));
    }

    #[test]
    fn an_empty_window_renders_a_friendly_page() {
        let html = render_html(&meta(), &[]);
        assert!(html.contains("id=\"no-changes\""));
        assert!(html.contains("No changes in this window"));
        assert_eq!(count(&html, "count-events"), 0);
        assert_eq!(count(&html, "count-outcome-would_revert"), 0);
        assert!(!html.contains("<svg"));
        assert!(!html.contains("<table"));
        assert!(html.contains("dataset.rendered=\"ok\""));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn the_page_loads_nothing_from_outside() {
        let html = render_html(&meta(), &sample());
        for external in [
            "http:", "https:", "src=", "href=", "<link", "@import", "url(",
        ] {
            assert!(!html.contains(external), "{external} in the page");
        }
        assert!(html.contains("Content-Security-Policy"));
    }

    #[test]
    fn long_windows_group_days_into_at_most_92_bars() {
        let m = ReportMeta {
            since: t("2024-01-01T00:00:00Z"),
            ..meta()
        };
        let html = render_html(&m, &sample());
        let bars = html.matches("class=\"day\"").count();
        assert!(bars <= 92 && bars > 40, "{bars} bars");
        let m = meta();
        let html = render_html(&m, &sample());
        assert_eq!(html.matches("class=\"day\"").count(), 30);
    }

    #[test]
    fn axis_is_round() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(3), (3, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(23), (25, 5));
        assert_eq!(axis(130), (150, 50));
    }
}
