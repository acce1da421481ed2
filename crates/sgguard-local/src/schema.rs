//! The versioned schema. Each migration runs once, in a transaction, and bumps
//! `PRAGMA user_version`; a newer file than this build understands is refused.

use rusqlite::Connection;

use crate::error::{Error, SqliteError};

const MIGRATIONS: &[&str] = &[
    // 1: events, rule changes, invalid records, allowlist and its change log.
    r"
    CREATE TABLE events (
        event_id    TEXT PRIMARY KEY,
        event_name  TEXT NOT NULL,
        event_time  TEXT NOT NULL,
        account     TEXT,
        region      TEXT,
        group_id    TEXT,
        group_name  TEXT,
        actor       TEXT,
        principal   TEXT,
        source_ip   TEXT,
        user_agent  TEXT,
        outcome     TEXT NOT NULL,
        reason      TEXT NOT NULL,
        max_risk    TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        report      TEXT NOT NULL,
        raw         TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events (event_time);
    CREATE INDEX events_by_group ON events (group_id, event_time);
    CREATE INDEX events_by_actor ON events (actor, event_time);
    CREATE INDEX events_by_principal ON events (principal, event_time);
    CREATE INDEX events_by_outcome ON events (outcome, event_time);
    CREATE INDEX events_by_scope ON events (account, region, event_time);

    CREATE TABLE changes (
        event_id      TEXT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
        idx           INTEGER NOT NULL,
        event_time    TEXT NOT NULL,
        account       TEXT,
        region        TEXT,
        group_id      TEXT,
        rule_id       TEXT,
        direction     TEXT NOT NULL,
        kind          TEXT NOT NULL,
        protocol      TEXT,
        from_port     INTEGER,
        to_port       INTEGER,
        source        TEXT,
        source_kind   TEXT,
        description   TEXT,
        risk          TEXT NOT NULL,
        risk_reasons  TEXT NOT NULL,
        actor         TEXT,
        source_ip     TEXT,
        user_agent    TEXT,
        verdict       TEXT NOT NULL,
        approved_by   TEXT,
        closest_entry TEXT,
        action        TEXT NOT NULL,
        remediation   TEXT,
        PRIMARY KEY (event_id, idx)
    );
    CREATE INDEX changes_by_rule ON changes (rule_id, event_time);

    CREATE TABLE invalid_records (
        key         TEXT PRIMARY KEY,
        origin      TEXT,
        error       TEXT NOT NULL,
        raw         TEXT NOT NULL,
        received_at TEXT NOT NULL
    );

    CREATE TABLE allowlist (
        id    TEXT PRIMARY KEY,
        entry TEXT NOT NULL
    );

    CREATE TABLE allowlist_changes (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        by       TEXT NOT NULL,
        action   TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        detail   TEXT NOT NULL
    );
    ",
    // 2: a lease on an event record, so that concurrent deliveries act once.
    r"
    ALTER TABLE events ADD COLUMN lease_owner TEXT;
    ALTER TABLE events ADD COLUMN lease_until INTEGER;
    ",
    // 3: whether a live responder wrote the record (not `replay` or a dry run).
    r"
    ALTER TABLE events ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
    ",
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`].
pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), Error> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > CURRENT_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS.iter())
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(|source| Error::Migration {
            version,
            source: SqliteError(source),
        })?;
        tx.execute_batch(sql).map_err(|source| Error::Migration {
            version,
            source: SqliteError(source),
        })?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|source| Error::Migration {
                version,
                source: SqliteError(source),
            })?;
        tx.commit().map_err(|source| Error::Migration {
            version,
            source: SqliteError(source),
        })?;
    }
    Ok(())
}
