use sgguard_responder::{PortError, RemediationStep, Remediator, StepResult, StepStatus};

/// A remediator that calls nothing: every step is reported as what would be done.
/// `replay` always uses it, so a backfill can never touch a security group.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOnlyRemediator;

impl Remediator for ReportOnlyRemediator {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        Ok(StepResult {
            status: StepStatus::NotExecuted,
            detail: format!("dry run, not executed: would {step}"),
        })
    }
}
