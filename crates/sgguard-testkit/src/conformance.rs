//! Conformance suites for the ports: every store runs the same assertions.
//!
//! Each suite is a module with one function per clause of its contract, named for the rule
//! it checks. The macros [`audit_log_conformance!`](crate::audit_log_conformance),
//! [`allowlist_conformance!`](crate::allowlist_conformance),
//! [`audit_reader_conformance!`](crate::audit_reader_conformance) and
//! [`allowlist_changes_conformance!`](crate::allowlist_changes_conformance) expand into one
//! test per clause for a store, so a broken adapter names the clause it breaks, and one
//! failed clause hides no other.
//!
//! Each clause names its events, rules and entries with a suffix no other clause or run uses,
//! so it can run repeatedly and concurrently against one shared store (an on-disk SQLite
//! file, a DynamoDB table) and only ever looks at what it wrote itself.
#![expect(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a conformance suite asserts: a failed call is a failed clause"
)]

pub mod allowlist_changes;
pub mod allowlist_store;
pub mod audit_log;
pub mod audit_reader;
/// The audit log at scale: its own suite ([`audit_log_scale_conformance!`](crate::audit_log_scale_conformance)).
pub use audit_log::large as audit_log_scale;
mod fixtures;
mod macros;
mod stores;

pub use stores::{AuditWithAllowlist, Guarded};
