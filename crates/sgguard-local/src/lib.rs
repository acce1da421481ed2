//! The embedded side of sgguard: a SQLite audit log and allowlist in one file, its schema
//! created and migrated by the program.

mod error;
mod query;
mod schema;
mod store;

pub use error::{Error, SqliteError};
pub use schema::CURRENT_VERSION as SCHEMA_VERSION;
pub use store::SqliteStore;
