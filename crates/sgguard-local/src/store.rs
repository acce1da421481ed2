//! [`SqliteStore`]: the audit log and allowlist in one SQLite file. The full report is kept
//! as JSON (what `audit show` prints back); the columns beside it exist for the indexes.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use sgguard_core::{AllowEntry, Outcome, allowlist};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditLog, Begin, ChangeReport, EventReport, InvalidRecord,
    Lease, PortError, RuleSnapshot,
};

use crate::error::{Error, SqliteError};
use crate::schema;

/// The embedded audit log and allowlist. Cheap to share: one connection behind a mutex,
/// which is all a CLI process needs.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: String,
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let missing = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty() && !dir.is_dir());
        if let Some(directory) = missing {
            return Err(Error::NoDirectory {
                path: label,
                directory: directory.display().to_string(),
            });
        }
        let opened = Connection::open(path).and_then(|conn| Self::configure(conn, &label));
        let conn = opened.map_err(|source| Error::Open {
            path: label.clone(),
            source: SqliteError(source),
        })?;
        Self::init(conn, label)
    }

    /// A private store that lives as long as the value (tests, what-if runs).
    pub fn open_in_memory() -> Result<Self, Error> {
        let label = ":memory:";
        let opened = Connection::open_in_memory().and_then(|conn| Self::configure(conn, label));
        let conn = opened.map_err(|source| Error::Open {
            path: label.into(),
            source: SqliteError(source),
        })?;
        Self::init(conn, label.into())
    }

    /// The connection's settings; the first statements, so a file that is not a database
    /// fails here, as a store that cannot be opened.
    fn configure(conn: Connection, path: &str) -> rusqlite::Result<Connection> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", true)?;
        if path != ":memory:" {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        Ok(conn)
    }

    fn init(mut conn: Connection, path: String) -> Result<Self, Error> {
        schema::migrate(&mut conn, &path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, Error> {
        Ok(self
            .lock()?
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Connection>, Error> {
        self.conn.lock().map_err(|_| Error::Poisoned)
    }

    /// Every stored event, oldest first.
    pub fn events(&self) -> Result<Vec<EventReport>, Error> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT report FROM events ORDER BY event_time, event_id")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|text| Ok(serde_json::from_str(&text?)?)).collect()
    }

    /// The raw CloudTrail record of one stored event.
    pub fn raw_event(&self, event_id: &str) -> Result<Option<Value>, Error> {
        let conn = self.lock()?;
        let text: Option<String> = conn
            .query_row(
                "SELECT raw FROM events WHERE event_id = ?1",
                [event_id],
                |row| row.get(0),
            )
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(Error::from))
            .transpose()
    }

    /// Records kept because they could not be processed.
    pub fn invalid_records(&self) -> Result<Vec<InvalidRecord>, Error> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT key, origin, error, raw, received_at FROM invalid_records ORDER BY received_at, key")?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (key, origin, error, raw, received_at) = row?;
            Ok(InvalidRecord {
                key,
                origin: origin.map(|o| serde_json::from_str(&o)).transpose()?,
                error,
                raw: serde_json::from_str(&raw)?,
                received_at,
            })
        })
        .collect()
    }

    /// The allowlist's own change log, oldest first.
    pub fn allowlist_changes(&self) -> Result<Vec<AllowlistChange>, Error> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT at, by, action, entry_id, detail FROM allowlist_changes ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(AllowlistChange {
                at: row.get(0)?,
                by: row.get(1)?,
                action: row.get(2)?,
                entry_id: row.get(3)?,
                detail: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn begin_sync(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, Error> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let event_id = report.event_id.clone().unwrap_or_default();
        let inserted = tx.execute(
            "INSERT INTO events (event_id, event_name, event_time, account, region, group_id, group_name, actor, principal,
                                 source_ip, user_agent, outcome, reason, max_risk, recorded_at, report, raw,
                                 lease_owner, lease_until, live)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
             ON CONFLICT (event_id) DO NOTHING",
            params![
                event_id,
                report.event_name.clone().unwrap_or_default(),
                report.event_time.clone().unwrap_or_default(),
                report.account,
                report.region,
                report.group_id,
                report.group_name,
                report.actor,
                report.principal,
                report.source_ip,
                report.user_agent,
                report.outcome.as_str(),
                report.reason,
                report.max_risk().as_str(),
                sgguard_core::time::format_time(&Utc::now()),
                report.stored_json()?,
                raw.to_string(),
                lease.owner,
                lease.until,
                lease.live,
            ],
        )?;
        if inserted == 0 {
            let (text, outcome, until, was_live): (String, String, Option<i64>, bool) = tx
                .query_row(
                    "SELECT report, outcome, lease_until, live FROM events WHERE event_id = ?1",
                    [&event_id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?;
            let stored: EventReport = serde_json::from_str(&text)?;
            let reported_only = lease.live && !was_live;
            // A run that never acts never takes over what a live responder is doing.
            let live_record_for_a_report = !lease.live && was_live;
            if live_record_for_a_report
                || (!reported_only && !take_over.iter().any(|o| o.as_str() == outcome))
            {
                return Ok(Begin::Existing(Box::new(stored)));
            }
            let now = Utc::now().timestamp();
            if let Some(until) = until.filter(|until| *until > now) {
                return Ok(Begin::Busy {
                    until: lease_time(until),
                });
            }
            tx.execute(
                "UPDATE events SET lease_owner = ?2, lease_until = ?3, live = ?4 WHERE event_id = ?1",
                params![event_id, lease.owner, lease.until, lease.live],
            )?;
            tx.commit()?;
            return Ok(Begin::Resumed {
                stored: Box::new(stored),
                was_live,
            });
        }
        insert_changes(&tx, report)?;
        tx.commit()?;
        Ok(Begin::Inserted)
    }

    fn complete_sync(&self, report: &EventReport, lease: &Lease) -> Result<(), Error> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let event_id = report.event_id.clone().unwrap_or_default();
        let updated = tx.execute(
            "UPDATE events SET outcome = ?2, reason = ?3, report = ?4, lease_owner = NULL, lease_until = NULL, live = ?6
             WHERE event_id = ?1 AND lease_owner IS ?5",
            params![
                event_id,
                report.outcome.as_str(),
                report.reason,
                report.stored_json()?,
                lease.owner,
                lease.live,
            ],
        )?;
        if updated == 0 {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM events WHERE event_id = ?1",
                    [&event_id],
                    |row| row.get(0),
                )
                .optional()?;
            return Err(match exists {
                Some(_) => Error::LeaseLost { event_id },
                None => Error::NeverBegun { event_id },
            });
        }
        tx.execute("DELETE FROM changes WHERE event_id = ?1", [&event_id])?;
        insert_changes(&tx, report)?;
        tx.commit()?;
        Ok(())
    }

    fn record_invalid_sync(&self, record: &InvalidRecord) -> Result<(), Error> {
        let conn = self.lock()?;
        conn.execute(
            "INSERT INTO invalid_records (key, origin, error, raw, received_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET origin = excluded.origin, error = excluded.error, received_at = excluded.received_at",
            params![
                record.key,
                record.origin.as_ref().map(serde_json::to_string).transpose()?,
                record.error,
                record.raw.to_string(),
                record.received_at
            ],
        )?;
        Ok(())
    }

    fn rule_history_sync(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, Error> {
        self.snapshots("c.rule_id = ?1", &[&rule_id], None)
    }

    fn changes_after_sync(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, Error> {
        self.snapshots(
            "c.group_id = ?1 AND c.event_time > ?2 AND c.rule_id IS NOT NULL",
            &[&group_id, &event_time],
            None,
        )
    }

    /// Rule changes (with their event) that `condition` selects, oldest first; only the
    /// `newest` ones when given. Each event's report is parsed once, however many of its
    /// changes are selected.
    fn snapshots(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
        newest: Option<usize>,
    ) -> Result<Vec<RuleSnapshot>, Error> {
        let conn = self.lock()?;
        let limit = newest.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM (
               SELECT c.event_id, c.event_time, e.event_name, c.group_id, c.actor, e.outcome, c.idx, e.report, e.live
               FROM changes c JOIN events e ON e.event_id = c.event_id
               WHERE {condition} ORDER BY c.event_time DESC, c.event_id DESC, c.idx DESC LIMIT {limit}
             ) ORDER BY event_time, event_id, idx",
        ))?;
        let rows = stmt.query_map(args, |row| {
            Ok((
                (
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ),
                (
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, bool>(8)?,
                ),
            ))
        })?;
        let mut history = Vec::new();
        let mut reports: HashMap<String, EventReport> = HashMap::new();
        for row in rows {
            let ((event_id, event_time, event_name, group_id, actor), (outcome, idx, report, live)) =
                row?;
            let report = match reports.entry(event_id.clone()) {
                Entry::Occupied(parsed) => parsed.into_mut(),
                Entry::Vacant(slot) => slot.insert(serde_json::from_str(&report)?),
            };
            let Some(change) = usize::try_from(idx)
                .ok()
                .and_then(|i| report.changes.get(i).cloned())
            else {
                continue;
            };
            history.push(RuleSnapshot {
                event_id,
                event_time,
                event_name,
                group_id,
                actor,
                outcome: outcome.parse().unwrap_or(Outcome::Recorded),
                change,
                live,
            });
        }
        Ok(history)
    }

    fn event_sync(&self, event_id: &str) -> Result<Option<EventReport>, Error> {
        let conn = self.lock()?;
        let text: Option<String> = conn
            .query_row(
                "SELECT report FROM events WHERE event_id = ?1",
                [event_id],
                |row| row.get(0),
            )
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(Error::from))
            .transpose()
    }

    fn entries_sync(&self) -> Result<Vec<AllowEntry>, Error> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT entry FROM allowlist ORDER BY id")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut entries = Vec::new();
        for text in rows {
            entries.extend(allowlist::from_toml(
                &text?,
                &format!("{} (allowlist table)", self.path),
            )?);
        }
        Ok(entries)
    }

    fn put_sync(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), Error> {
        let text = allowlist::to_toml(std::slice::from_ref(entry))?;
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO allowlist (id, entry) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET entry = excluded.entry",
            params![entry.id, text],
        )?;
        log_change(&tx, change)?;
        tx.commit()?;
        Ok(())
    }

    /// Every entry and its change record in one transaction: all or nothing.
    fn put_many_sync(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), Error> {
        let texts = entries
            .iter()
            .map(|entry| allowlist::to_toml(std::slice::from_ref(entry)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for (entry, text) in entries.iter().zip(&texts) {
            tx.execute(
                "INSERT INTO allowlist (id, entry) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET entry = excluded.entry",
                params![entry.id, text],
            )?;
        }
        for change in changes {
            log_change(&tx, change)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn remove_sync(&self, id: &str, change: &AllowlistChange) -> Result<bool, Error> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let removed = tx.execute("DELETE FROM allowlist WHERE id = ?1", [id])? > 0;
        if removed {
            log_change(&tx, change)?;
        }
        tx.commit()?;
        Ok(removed)
    }
}

fn verdict(change: &ChangeReport) -> &'static str {
    match (change.kind.opens_access(), &change.approved_by) {
        (false, _) => "not_applicable",
        (true, Some(_)) => "approved",
        (true, None) => "unapproved",
    }
}

fn insert_changes(tx: &Transaction<'_>, report: &EventReport) -> Result<(), Error> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO changes (event_id, idx, event_time, account, region, group_id, rule_id, direction, kind, protocol,
                              from_port, to_port, source, source_kind, description, risk, risk_reasons, actor, source_ip,
                              user_agent, verdict, approved_by, closest_entry, action, remediation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?;
    for (idx, c) in (0_i64..).zip(report.changes.iter()) {
        stmt.execute(params![
            report.event_id,
            idx,
            report.event_time,
            report.account,
            report.region,
            report.group_id,
            c.rule_id,
            c.direction.as_str(),
            c.kind.as_str(),
            c.protocol,
            c.from_port,
            c.to_port,
            c.source,
            c.source_kind.map(|k| k.as_str()),
            c.description,
            c.risk.as_str(),
            serde_json::to_string(&c.risk_reasons)?,
            report.actor,
            report.source_ip,
            report.user_agent,
            verdict(c),
            c.approved_by,
            c.closest_entry,
            c.action.as_str(),
            c.remediation,
        ])?;
    }
    Ok(())
}

fn log_change(tx: &Transaction<'_>, change: &AllowlistChange) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO allowlist_changes (at, by, action, entry_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![change.at, change.by, change.action, change.entry_id, change.detail],
    )?;
    Ok(())
}

/// A lease's end as people read it.
fn lease_time(until: i64) -> String {
    chrono::DateTime::from_timestamp(until, 0)
        .map(|t| sgguard_core::time::format_time(&t))
        .unwrap_or_else(|| until.to_string())
}

impl AuditLog for SqliteStore {
    async fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, PortError> {
        Ok(self.begin_sync(report, raw, lease, take_over)?)
    }

    async fn complete(&self, report: &EventReport, lease: &Lease) -> Result<(), PortError> {
        Ok(self.complete_sync(report, lease)?)
    }

    async fn release(&self, event_id: &str, lease: &Lease) -> Result<(), PortError> {
        let conn = self.lock()?;
        conn.execute(
            "UPDATE events SET lease_until = NULL WHERE event_id = ?1 AND lease_owner IS ?2",
            params![event_id, lease.owner],
        )
        .map_err(Error::from)?;
        Ok(())
    }

    async fn record_invalid(&self, record: &InvalidRecord) -> Result<(), PortError> {
        Ok(self.record_invalid_sync(record)?)
    }

    async fn rule_history(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, PortError> {
        Ok(self.rule_history_sync(rule_id)?)
    }

    async fn rule_history_page(
        &self,
        rule_id: &str,
        until: &str,
        before: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        let (before_time, before_id) = before.unzip();
        let mut page = self.snapshots(
            "c.rule_id = ?1 AND c.event_time <= ?2 AND (?3 IS NULL OR (c.event_time, c.event_id) < (?3, ?4))",
            &[&rule_id, &until, &before_time, &before_id],
            Some(limit),
        )?;
        page.reverse();
        Ok(page)
    }

    async fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        Ok(self.changes_after_sync(group_id, event_time)?)
    }

    async fn event(&self, event_id: &str) -> Result<Option<EventReport>, PortError> {
        Ok(self.event_sync(event_id)?)
    }
}

impl AllowlistStore for SqliteStore {
    async fn entries(&self) -> Result<Vec<AllowEntry>, PortError> {
        Ok(self.entries_sync()?)
    }

    async fn put(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), PortError> {
        Ok(self.put_sync(entry, change)?)
    }

    async fn remove(&self, id: &str, change: &AllowlistChange) -> Result<bool, PortError> {
        Ok(self.remove_sync(id, change)?)
    }

    async fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), PortError> {
        if entries.len() != changes.len() {
            return Err(PortError::message(format!(
                "put_many needs one change record per entry ({} entries, {} changes)",
                entries.len(),
                changes.len()
            )));
        }
        Ok(self.put_many_sync(entries, changes)?)
    }
}
