use std::fmt;

use sgguard_responder::PortError;

/// Failures of the embedded store, with the underlying error kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the audit store `{path}`")]
    Open {
        path: String,
        #[source]
        source: SqliteError,
    },
    #[error("cannot open the audit store `{path}`: the directory `{directory}` does not exist")]
    NoDirectory { path: String, directory: String },
    #[error(
        "audit store `{path}` has schema version {found}, newer than this sgguard understands ({supported}); upgrade sgguard"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate the audit store to schema version {version}")]
    Migration {
        version: i64,
        #[source]
        source: SqliteError,
    },
    #[error("audit store query failed")]
    Sqlite(#[source] SqliteError),
    #[error("audit store holds a record that is not valid JSON")]
    Json(#[from] serde_json::Error),
    #[error("stored allowlist entry is invalid")]
    Allowlist(#[from] sgguard_core::Error),
    #[error("audit store lock was poisoned by a panic in another thread")]
    Poisoned,
    #[error("audit store has no event {event_id} to complete: it was never begun")]
    NeverBegun { event_id: String },
    /// Another worker took the event over (its lease had expired): its outcome wins.
    #[error("lost the lease on event {event_id}: another worker took it over")]
    LeaseLost { event_id: String },
}

impl From<Error> for PortError {
    fn from(err: Error) -> Self {
        let retryable = matches!(
            &err,
            Error::Sqlite(SqliteError(rusqlite::Error::SqliteFailure(e, _)))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        ) || matches!(err, Error::LeaseLost { .. });
        if retryable {
            PortError::retryable(err)
        } else {
            PortError::permanent(err)
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Self::Sqlite(SqliteError(err))
    }
}

/// A SQLite error as one cause. rusqlite puts SQLite's message in its own text and then
/// gives the bare error code as the source, which would print the message twice.
#[derive(Debug)]
pub struct SqliteError(pub rusqlite::Error);

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            rusqlite::Error::SqliteFailure(_, Some(message)) => f.write_str(message),
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            rusqlite::Error::SqliteFailure(..) => None,
            other => other.source(),
        }
    }
}
