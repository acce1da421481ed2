//! The ports: what the pipeline needs from the outside world, in domain types only.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sgguard_core::AllowEntry;

use crate::error::PortError;
use crate::plan::{RemediationStep, StepResult};
use crate::report::{ChangeReport, EventReport, Origin};

/// The answer to [`AuditLog::begin`]: the idempotency check on the CloudTrail `eventID`.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First delivery: the record is stored.
    Inserted,
    /// Seen before; here is what was stored. An `Outcome::Pending` record was interrupted
    /// between deciding and finishing, and is resumed.
    Existing(Box<EventReport>),
}

/// A record that could not be processed, kept so a person can see and replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidRecord {
    /// The CloudTrail `eventID` when one could be read, otherwise a digest of the input.
    pub key: String,
    pub origin: Option<Origin>,
    pub error: String,
    /// The input as received (the JSON record, or the text that was not JSON).
    pub raw: Value,
    pub received_at: String,
}

/// One version of a rule in its history, newest last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSnapshot {
    pub event_id: String,
    pub event_time: String,
    pub event_name: String,
    pub group_id: Option<String>,
    pub actor: Option<String>,
    pub outcome: sgguard_core::Outcome,
    pub change: ChangeReport,
}

/// The audit log: one record per CloudTrail event, with its rule changes.
pub trait AuditLog: Send + Sync {
    /// Stores a new event record unless its `eventID` is already present (conditional write).
    fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
    ) -> impl Future<Output = Result<Begin, PortError>> + Send;

    /// Replaces the outcome, reason and per-change actions of a stored record.
    fn complete(&self, report: &EventReport) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Keeps a record that could not be processed.
    fn record_invalid(
        &self,
        record: &InvalidRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Every recorded change of one rule, oldest first.
    fn rule_history(
        &self,
        rule_id: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send;

    /// One stored event record.
    fn event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<EventReport>, PortError>> + Send;
}

/// A change to the allowlist, itself an audit record (who, when, what).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowlistChange {
    pub at: String,
    pub by: String,
    /// `add`, `remove` or `import`.
    pub action: String,
    pub entry_id: String,
    pub detail: String,
}

/// Where allowlist entries live.
pub trait AllowlistStore: Send + Sync {
    /// All entries, expired ones included (they approve nothing but are still listed).
    fn entries(&self) -> impl Future<Output = Result<Vec<AllowEntry>, PortError>> + Send;

    /// Adds or replaces one entry.
    fn put(
        &self,
        entry: &AllowEntry,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Removes one entry; `false` when it did not exist.
    fn remove(
        &self,
        id: &str,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// Carries out remediation steps against the cloud (or only reports them).
pub trait Remediator: Send + Sync {
    fn execute(
        &self,
        step: &RemediationStep,
    ) -> impl Future<Output = Result<StepResult, PortError>> + Send;
}

/// Ports are used through shared references too (one store serving as audit log and
/// allowlist), so a reference to a port is a port.
impl<T: AuditLog> AuditLog for &T {
    fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
    ) -> impl Future<Output = Result<Begin, PortError>> + Send {
        (**self).begin(report, raw)
    }
    fn complete(&self, report: &EventReport) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).complete(report)
    }
    fn record_invalid(
        &self,
        record: &InvalidRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).record_invalid(record)
    }
    fn rule_history(
        &self,
        rule_id: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        (**self).rule_history(rule_id)
    }
    fn event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<EventReport>, PortError>> + Send {
        (**self).event(event_id)
    }
}

impl<T: AllowlistStore> AllowlistStore for &T {
    fn entries(&self) -> impl Future<Output = Result<Vec<AllowEntry>, PortError>> + Send {
        (**self).entries()
    }
    fn put(
        &self,
        entry: &AllowEntry,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).put(entry, change)
    }
    fn remove(
        &self,
        id: &str,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        (**self).remove(id, change)
    }
}

impl<T: Remediator> Remediator for &T {
    fn execute(
        &self,
        step: &RemediationStep,
    ) -> impl Future<Output = Result<StepResult, PortError>> + Send {
        (**self).execute(step)
    }
}
