//! Text shared by the subcommands: counts, relative times and the entry table.

use chrono::{DateTime, Utc};
use comfy_table::{Cell, Color};
use sgguard_core::AllowEntry;

use crate::output::plain_table;
use sgguard_core::time::format_time;

pub(super) fn entries_word(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

/// `5d`, `36h`, `12m`: rounded, in the largest unit that still reads precisely.
pub(super) fn span(secs: i64) -> String {
    let secs = secs.max(0);
    let round = |unit: i64| (secs + unit / 2) / unit;
    if secs >= 2 * 86_400 {
        format!("{}d", round(86_400))
    } else if secs >= 2 * 3_600 {
        format!("{}h", round(3_600))
    } else if secs >= 120 {
        format!("{}m", round(60))
    } else {
        format!("{secs}s")
    }
}

/// `in 5d`, `in 36h`, `in 12m`.
pub(super) fn relative(delta: chrono::Duration) -> String {
    format!("in {}", span(delta.num_seconds()))
}

fn expires_text(e: &AllowEntry, now: DateTime<Utc>) -> String {
    match e.expires {
        None => "never".into(),
        Some(t) if e.is_expired(now) => format!("{} (expired)", format_time(&t)),
        Some(t) => format!("{} ({})", format_time(&t), relative(t - now)),
    }
}

fn sources_text(e: &AllowEntry) -> String {
    let sources: Vec<String> = e
        .cidrs
        .iter()
        .map(ToString::to_string)
        .chain(e.prefix_lists.iter().cloned())
        .chain(e.source_groups.iter().cloned())
        .collect();
    if sources.is_empty() {
        "any".into()
    } else {
        sources.join(", ")
    }
}

fn scope_text(e: &AllowEntry) -> String {
    let parts: Vec<String> = [
        ("groups", &e.groups),
        ("accounts", &e.accounts),
        ("regions", &e.regions),
        ("principals", &e.principals),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(name, list)| format!("{name}: {}", list.join(", ")))
    .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join("\n")
    }
}

pub(super) fn entry_table(entries: &[&AllowEntry], now: DateTime<Utc>, color: bool) -> String {
    let mut table = plain_table(
        &[
            "ID",
            "OWNER",
            "REASON",
            "EXPIRES",
            "DIRECTION",
            "PROTOCOL",
            "PORTS",
            "SOURCES",
            "SCOPE",
        ],
        color,
    );
    let soon = now + chrono::Duration::days(7);
    for e in entries {
        let mut expires = Cell::new(expires_text(e, now));
        if color {
            if e.is_expired(now) {
                expires = expires.fg(Color::Red);
            } else if e.expires.is_some_and(|t| t <= soon) {
                expires = expires.fg(Color::Yellow);
            }
        }
        table.add_row(vec![
            Cell::new(&e.id),
            Cell::new(&e.owner),
            Cell::new(&e.reason),
            expires,
            Cell::new(e.direction),
            Cell::new(e.protocol),
            Cell::new(e.ports),
            Cell::new(sources_text(e)),
            Cell::new(scope_text(e)),
        ]);
    }
    table.to_string()
}
