//! [`AuditReader`] for [`SqliteStore`]: each filter becomes a `WHERE` term that an index of
//! the schema serves, so SQLite picks the most selective one:
//!
//! | filter             | term                                                    | index |
//! |--------------------|---------------------------------------------------------|-------|
//! | event id           | `event_id = ?`                                          | primary key |
//! | rule id            | `event_id IN (SELECT event_id FROM changes WHERE rule_id = ?)` | `changes_by_rule` |
//! | group id           | `group_id = ?` (a group name, which never starts with `sg-`, is looked up without an index) | `events_by_group` |
//! | actor, exact       | `actor = ? OR principal = ?`                            | `events_by_actor`, `events_by_principal` |
//! | actor, glob        | `actor GLOB ? OR principal GLOB ?` (prefix ranges)      | `events_by_actor`, `events_by_principal` |
//! | outcomes           | `outcome IN (…)`                                        | `events_by_outcome` |
//! | account and region | `account = ? AND region = ?`                            | `events_by_scope` |
//! | since / until      | `event_time >= ? AND event_time <= ?`                   | `events_by_time`, and the time column of every index above |
//! | min risk           | `max_risk IN (levels at or above)`                      | (a check on the rows found) |
//!
//! Rows come newest first (`event_time DESC, event_id DESC`) and each stored report then
//! passes [`AuditFilter::matches`], the check every store applies.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use serde_json::Value;
use sgguard_core::RiskLevel;
use sgguard_core::time::format_time;
use sgguard_responder::{AllowlistChange, AuditFilter, AuditReader, EventReport, PortError};

use crate::error::Error;
use crate::store::SqliteStore;

/// Rows read per statement when the final check rejects some and more are needed.
const PAGE: usize = 500;

/// A `WHERE` clause and its parameters.
#[derive(Debug, Default)]
struct Where {
    terms: Vec<String>,
    params: Vec<SqlValue>,
}

impl Where {
    fn push(&mut self, term: &str, params: impl IntoIterator<Item = SqlValue>) {
        self.terms.push(term.to_owned());
        self.params.extend(params);
    }

    fn sql(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.terms.join(" AND "))
        }
    }
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}

/// A `--actor` glob (`*`, `?`) as an SQLite `GLOB` pattern: `[` is literal in the filter's
/// glob but opens a character class in `GLOB`.
fn glob_pattern(pattern: &str) -> String {
    pattern.replace('[', "[[]")
}

/// `?, ?, ?` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn events_where(filter: &AuditFilter) -> Where {
    let mut w = Where::default();
    if let Some(id) = &filter.event_id {
        w.push("event_id = ?", [text(id)]);
    }
    if let Some(rule) = &filter.rule_id {
        w.push(
            "event_id IN (SELECT event_id FROM changes WHERE rule_id = ?)",
            [text(rule)],
        );
    }
    if let Some(group) = &filter.group_id {
        // AWS refuses group names that start with `sg-`, so the value says which it is.
        if group.starts_with("sg-") {
            w.push("group_id = ?", [text(group)]);
        } else {
            w.push(
                "(group_name = ? OR group_id = ?)",
                [text(group), text(group)],
            );
        }
    }
    if let Some(actor) = &filter.actor {
        if filter.actor_is_glob() {
            let pattern = glob_pattern(actor);
            w.push(
                "(actor GLOB ? OR principal GLOB ?)",
                [text(&pattern), text(&pattern)],
            );
        } else {
            w.push("(actor = ? OR principal = ?)", [text(actor), text(actor)]);
        }
    }
    if !filter.outcomes.is_empty() {
        w.push(
            &format!("outcome IN ({})", placeholders(filter.outcomes.len())),
            filter.outcomes.iter().map(|o| text(o.as_str())),
        );
    }
    if let Some(min) = filter.min_risk {
        let levels: Vec<SqlValue> = RiskLevel::ALL
            .into_iter()
            .filter(|l| *l >= min)
            .map(|l| text(l.as_str()))
            .collect();
        w.push(
            &format!("max_risk IN ({})", placeholders(levels.len())),
            levels,
        );
    }
    if let Some(account) = &filter.account {
        w.push("account = ?", [text(account)]);
    }
    if let Some(region) = &filter.region {
        w.push("region = ?", [text(region)]);
    }
    // Stored times are RFC 3339 UTC with whole seconds, so text order is time order.
    if let Some(since) = &filter.since {
        w.push("event_time >= ?", [text(&format_time(since))]);
    }
    if let Some(until) = &filter.until {
        w.push("event_time <= ?", [text(&format_time(until))]);
    }
    w
}

/// Reads `sql` (which must end in `LIMIT ? OFFSET ?`) page by page, keeping the rows that
/// pass `keep`, until `limit` are kept or the rows run out.
fn read_pages<T>(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
    limit: Option<usize>,
    parse: impl Fn(&rusqlite::Row<'_>) -> Result<T, Error>,
    keep: impl Fn(&T) -> bool,
) -> Result<Vec<T>, Error> {
    let wanted = limit.unwrap_or(usize::MAX);
    let mut kept = Vec::new();
    if wanted == 0 {
        return Ok(kept);
    }
    let page = wanted.min(PAGE);
    let mut stmt = conn.prepare(sql)?;
    let mut offset = 0usize;
    loop {
        let mut all = params.to_vec();
        all.push(SqlValue::Integer(i64::try_from(page).unwrap_or(i64::MAX)));
        all.push(SqlValue::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        let mut rows = stmt.query(params_from_iter(all))?;
        let mut read = 0usize;
        while let Some(row) = rows.next()? {
            read += 1;
            let item = parse(row)?;
            if keep(&item) {
                kept.push(item);
                if kept.len() >= wanted {
                    return Ok(kept);
                }
            }
        }
        if read < page {
            return Ok(kept);
        }
        offset += page;
    }
}

impl SqliteStore {
    /// Events matching `filter`, newest first (see the module docs for the indexes used).
    pub fn query_events(&self, filter: &AuditFilter) -> Result<Vec<EventReport>, Error> {
        let w = events_where(filter);
        let sql = format!(
            "SELECT report FROM events{} ORDER BY event_time DESC, event_id DESC LIMIT ? OFFSET ?",
            w.sql()
        );
        let conn = self.lock()?;
        read_pages(
            &conn,
            &sql,
            &w.params,
            filter.limit,
            |row| {
                Ok(serde_json::from_str::<EventReport>(
                    &row.get::<_, String>(0)?,
                )?)
            },
            |report| filter.matches(report),
        )
    }

    /// Changes to the allowlist matching `filter` (who: `actor`; when: `since`/`until`),
    /// newest first.
    pub fn query_allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AllowlistChange>, Error> {
        let mut w = Where::default();
        if let Some(actor) = &filter.actor {
            if filter.actor_is_glob() {
                w.push("\"by\" GLOB ?", [text(&glob_pattern(actor))]);
            } else {
                w.push("\"by\" = ?", [text(actor)]);
            }
        }
        if let Some(since) = &filter.since {
            w.push("at >= ?", [text(&format_time(since))]);
        }
        if let Some(until) = &filter.until {
            w.push("at <= ?", [text(&format_time(until))]);
        }
        let sql = format!(
            "SELECT at, \"by\", action, entry_id, detail FROM allowlist_changes{} \
             ORDER BY at DESC, entry_id DESC, seq DESC LIMIT ? OFFSET ?",
            w.sql()
        );
        let conn = self.lock()?;
        read_pages(
            &conn,
            &sql,
            &w.params,
            filter.limit,
            |row| {
                Ok(AllowlistChange {
                    at: row.get(0)?,
                    by: row.get(1)?,
                    action: row.get(2)?,
                    entry_id: row.get(3)?,
                    detail: row.get(4)?,
                })
            },
            |change| filter.matches_change(change),
        )
    }

    /// The query plan SQLite chooses for `filter` (`EXPLAIN QUERY PLAN`), one step per line:
    /// how a test shows that each filter is served by an index.
    pub fn query_plan(&self, filter: &AuditFilter) -> Result<Vec<String>, Error> {
        let w = events_where(filter);
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT report FROM events{} ORDER BY event_time DESC, event_id DESC LIMIT ? OFFSET ?",
            w.sql()
        );
        let mut params = w.params;
        params.extend([SqlValue::Integer(50), SqlValue::Integer(0)]);
        let conn = self.lock()?;
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(params), |row| row.get::<_, String>(3))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl AuditReader for SqliteStore {
    async fn query(&self, filter: &AuditFilter) -> Result<Vec<EventReport>, PortError> {
        Ok(self.query_events(filter)?)
    }

    async fn raw_event(&self, event_id: &str) -> Result<Option<Value>, PortError> {
        Ok(SqliteStore::raw_event(self, event_id)?)
    }

    async fn allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AllowlistChange>, PortError> {
        Ok(self.query_allowlist_changes(filter)?)
    }
}
