//! The HTML report of `sgguard report`: one self-contained page (inline CSS, inline SVG, a
//! few lines of inline script; nothing loaded from the network) over a window of the audit
//! log. Rendering is a pure function of the events, so it is tested without a store.
//!
//! Every string taken from an event is HTML-escaped: CloudTrail fields such as the user
//! agent, the session name and rule descriptions are chosen by whoever made the call.
//!
//! Every count carries a stable `id` and `data-count` attribute (`count-events`,
//! `count-outcome-would_revert`, `count-groups`, …) so tests, and scripts, can read them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sgguard_core::Outcome;
use sgguard_core::time::format_time;
use sgguard_responder::EventReport;

mod html;
mod summary;
mod tables;
mod timeline;

pub use html::{esc, rule_content};

use html::outcome_css;
use summary::{actor_key, group_key, render_summary, tally};
use tables::{TOP_ACTORS, TOP_GROUPS, render_findings, render_reverts, render_top};
use timeline::{Timeline, render_chart, render_legend, render_timeline_table};

/// Rows shown in the top actors and top groups tables.
pub const TOP: usize = 10;
/// Open findings shown (events); the rest are counted.
pub const MAX_FINDINGS: usize = 100;
/// Reverted or restored events shown; the rest are counted.
pub const MAX_REVERTS: usize = 200;

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
pub const OPEN_OUTCOMES: [Outcome; 5] = [
    Outcome::RevertFailed,
    Outcome::Incomplete,
    Outcome::Pending,
    Outcome::WouldRevert,
    Outcome::Flagged,
];

/// Outcomes where sgguard undid the change.
pub const REVERT_OUTCOMES: [Outcome; 2] = [Outcome::Reverted, Outcome::Restored];

/// The order of the timeline's stacks (bottom first) and of the outcome summary.
const OUTCOME_ORDER: [Outcome; 15] = [
    Outcome::RevertFailed,
    Outcome::Reverted,
    Outcome::Restored,
    Outcome::Superseded,
    Outcome::Pending,
    Outcome::WouldRevert,
    Outcome::Flagged,
    Outcome::Approved,
    Outcome::Recorded,
    Outcome::OwnAction,
    Outcome::Invalid,
    Outcome::Incomplete,
    Outcome::Duplicate,
    Outcome::SkippedFailedCall,
    Outcome::SkippedUnrelated,
];

/// Whether an event is unapproved: open, or reverted.
pub fn is_unapproved(outcome: Outcome) -> bool {
    OPEN_OUTCOMES.contains(&outcome) || REVERT_OUTCOMES.contains(&outcome)
}

/// The page's stylesheet, without the per-outcome badge classes (generated from the palette).
const CSS: &str = include_str!("style.css");

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

        render_top(&mut out, &TOP_ACTORS, &tally(events, actor_key));
        render_top(&mut out, &TOP_GROUPS, &tally(events, group_key));

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
mod tests;
