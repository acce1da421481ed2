//! The ports sgguard's pipeline talks through, and the orchestration of one event:
//! classify, normalize, record, decide, act, record the outcome.
//!
//! Ports speak domain types only ([`AuditLog`], [`AllowlistStore`], [`Remediator`]); the
//! embedded store, DynamoDB and EC2 adapters live in their own crates and are tested
//! against the same expectations.

mod act;
mod cache;
mod error;
mod offline;
mod plan;
mod ports;
mod report;
mod respond;
pub mod settings;
#[cfg(feature = "test-util")]
pub mod testing;

pub use cache::CachedAllowlist;
pub use error::{Error, PortError, error_chain};
pub use offline::{ReportOnlyRemediator, StaticAllowlist};
pub use plan::{
    RemediationStep, RestoreTarget, StepKind, StepResult, StepStatus, last_accepted_content, plan,
    restore_targets,
};
pub use ports::{
    AllowlistChange, AllowlistStore, AuditFilter, AuditLog, AuditReader, Begin, InvalidRecord,
    Lease, RULE_HISTORY_DEPTH, Remediator, RuleSnapshot, Scope,
};
pub use report::{ChangeReport, ContentReport, EventReport, Origin};
pub use respond::{DEFAULT_HISTORY_GRACE, DEFAULT_LEASE, Responder, STEP_MARGIN, invalid_report};
pub use settings::Settings;
