//! Ports that need no service: a fixed allowlist (a what-if run's TOML file) and a
//! remediator that only reports. `replay` runs on both, so it can never touch a group.

use sgguard_core::AllowEntry;

use crate::error::PortError;
use crate::plan::{RemediationStep, StepResult, StepStatus};
use crate::ports::{AllowlistChange, AllowlistStore, Remediator};

/// A fixed allowlist, e.g. loaded from a TOML file for `replay --allowlist`. Read-only.
#[derive(Debug, Clone, Default)]
pub struct StaticAllowlist {
    entries: Vec<AllowEntry>,
}

impl StaticAllowlist {
    pub fn new(entries: Vec<AllowEntry>) -> Self {
        Self { entries }
    }
}

impl AllowlistStore for StaticAllowlist {
    async fn entries(&self) -> Result<Vec<AllowEntry>, PortError> {
        Ok(self.entries.clone())
    }

    async fn put(&self, _: &AllowEntry, _: &AllowlistChange) -> Result<(), PortError> {
        Err(PortError::message(
            "a file allowlist is read-only; edit the file instead",
        ))
    }

    async fn remove(&self, _: &str, _: &AllowlistChange) -> Result<bool, PortError> {
        Err(PortError::message(
            "a file allowlist is read-only; edit the file instead",
        ))
    }

    async fn put_many(&self, _: &[AllowEntry], _: &[AllowlistChange]) -> Result<(), PortError> {
        Err(PortError::message(
            "a file allowlist is read-only; edit the file instead",
        ))
    }
}

/// A remediator that calls nothing: every step is reported as what would be done.
/// `replay` and dry runs use it, so they can never touch a security group.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOnlyRemediator;

impl Remediator for ReportOnlyRemediator {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        Ok(StepResult {
            status: StepStatus::NotExecuted,
            // Each change's remediation already names its own part of the step: the whole
            // step (every rule of a large call) is not copied into each of them.
            detail: format!(
                "dry run, not executed ({} rule(s) in this step)",
                step.changes.len()
            ),
        })
    }
}
