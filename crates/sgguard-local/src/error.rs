use sgguard_responder::PortError;

/// Failures of the embedded store, with the underlying error kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the audit store `{path}`")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
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
        source: rusqlite::Error,
    },
    #[error("audit store query failed")]
    Sqlite(#[from] rusqlite::Error),
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
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        ) || matches!(err, Error::LeaseLost { .. });
        if retryable {
            PortError::retryable(err)
        } else {
            PortError::permanent(err)
        }
    }
}
