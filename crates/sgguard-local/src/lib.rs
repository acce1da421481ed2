//! The embedded side of sgguard: a SQLite audit log and allowlist (one file, schema created
//! and migrated by the program) and a remediator that only reports what it would do.

mod error;
mod query;
mod remediate;
mod schema;
mod store;

pub use error::Error;
pub use remediate::ReportOnlyRemediator;
pub use schema::CURRENT_VERSION as SCHEMA_VERSION;
pub use store::SqliteStore;
