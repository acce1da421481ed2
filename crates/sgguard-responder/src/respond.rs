//! The pipeline for one record: classify, normalize, decide, record (conditionally, so a
//! duplicate delivery is detected), act, record the outcome. A retry of an interrupted
//! event resumes from the stored record; nothing is reverted twice.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::Value;
use sgguard_core::event::RecordClass;
use sgguard_core::{
    Action, Allowlist, ChangeKind, Direction, Outcome, Policy, classify_record, decide, normalize,
};

use crate::error::{Error, error_chain};
use crate::plan::{RemediationStep, plan};
use crate::ports::{AllowlistStore, AuditLog, Begin, InvalidRecord, Remediator, RuleSnapshot};
use crate::report::{EventReport, Origin};

/// The orchestrator, generic over its ports so every adapter pairing runs the same code.
#[derive(Debug)]
pub struct Responder<A, L, R> {
    audit: A,
    allowlist: L,
    remediator: R,
    policy: Policy,
    retry_failed: bool,
}

impl<A: AuditLog, L: AllowlistStore, R: Remediator> Responder<A, L, R> {
    pub fn new(audit: A, allowlist: L, remediator: R, policy: Policy) -> Self {
        Self {
            audit,
            allowlist,
            remediator,
            policy,
            retry_failed: false,
        }
    }

    /// Acts again on events already recorded as `revert_failed` (an operator's choice, after
    /// fixing what made the revert fail), instead of reporting them as duplicates. The event
    /// is judged afresh against today's allowlist and policy, so a rule approved since is
    /// left alone; what was reverted before counts as already gone. Only under enforce.
    pub fn retrying_failed(mut self, retry: bool) -> Self {
        self.retry_failed = retry && self.policy.mode == sgguard_core::Mode::Enforce;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn audit(&self) -> &A {
        &self.audit
    }

    /// Handles one CloudTrail record. `Err` only when a port failed and the event must be
    /// delivered again (`is_retryable`) or could not even be kept as invalid.
    pub async fn handle(
        &self,
        record: &Value,
        origin: Option<Origin>,
    ) -> Result<EventReport, Error> {
        match classify_record(record) {
            RecordClass::Unrelated { event_name } => {
                let name = event_name.unwrap_or_else(|| "no eventName".into());
                let reason = format!("not an EC2 security-group call ({name})");
                return Ok(EventReport::bare(record, Outcome::SkippedUnrelated, reason)
                    .with_origin(origin));
            }
            RecordClass::FailedCall { error_code, .. } => {
                let reason = format!("the call failed with {error_code}; it changed nothing");
                return Ok(
                    EventReport::bare(record, Outcome::SkippedFailedCall, reason)
                        .with_origin(origin),
                );
            }
            RecordClass::SecurityGroupCall { .. } => {}
        }
        let mut set = match normalize(record) {
            Ok(set) => set,
            Err(err) => {
                return self
                    .keep_invalid(record.clone(), origin, err.to_string())
                    .await;
            }
        };
        let histories = self.histories(&set).await?;
        for change in set
            .changes
            .iter_mut()
            .filter(|c| c.direction == Direction::Unknown)
        {
            let known = change
                .rule_id
                .as_ref()
                .and_then(|id| histories.get(id))
                .and_then(|h| {
                    h.iter()
                        .rev()
                        .map(|s| s.change.direction)
                        .find(|d| *d != Direction::Unknown)
                });
            match (known, &change.rule_id) {
                (Some(direction), _) => change.direction = direction,
                // Never seen before: under enforce, ask EC2 rather than guess, so an egress
                // rule is not reverted without --revert-egress.
                (None, Some(rule_id)) if self.policy.mode == sgguard_core::Mode::Enforce => {
                    let (account, region) = (&set.meta.account, &set.meta.region);
                    match self
                        .remediator
                        .rule_direction(account, region, rule_id)
                        .await
                    {
                        Ok(Some(direction)) => change.direction = direction,
                        Ok(None) => {}
                        Err(err) if err.is_retryable() => return Err(Error::Remediation(err)),
                        // Unknown it stays: an unknown direction is flagged, never reverted.
                        Err(err) => tracing::warn!(
                            rule_id,
                            error = %error_chain(&err),
                            "rule direction not found"
                        ),
                    }
                }
                _ => {}
            }
        }
        // An allowlist that cannot be read must neither approve nor condemn: the event is
        // still recorded, judged on risk alone, and nothing is reverted. Outages are retried.
        let (entries, allowlist_error) = match self.allowlist.entries().await {
            Ok(entries) => (entries, None),
            Err(err) if err.is_retryable() => return Err(Error::Allowlist(err)),
            Err(err) => (Vec::new(), Some(err)),
        };
        let mut decision = decide(&set, &Allowlist::new(entries), &self.policy, Utc::now());
        let held_back = allowlist_error.is_some();
        if let Some(err) = allowlist_error {
            tracing::error!(error = %err, "allowlist unusable; recording without acting");
            hold_back(&mut decision, &err);
        }
        let mut report = EventReport::from_decision(&set, &decision).with_origin(origin.clone());
        let steps = plan(&report, &histories, self.policy.min_risk);
        let prefix = match self.policy.mode {
            sgguard_core::Mode::Audit => "would ",
            sgguard_core::Mode::Enforce => "planned: ",
        };
        annotate(&mut report, &steps, prefix);

        let mut retrying = false;
        match self
            .audit
            .begin(&report, record)
            .await
            .map_err(Error::Audit)?
        {
            Begin::Inserted => {}
            // The fresh decision in `report` replaces the failed one: it is judged against
            // today's allowlist. Never on an allowlist that cannot be read.
            Begin::Existing(stored)
                if self.retry_failed && !held_back && stored.outcome == Outcome::RevertFailed =>
            {
                tracing::info!(event_id = ?stored.event_id, "retrying a failed revert");
                retrying = true;
            }
            Begin::Existing(stored) if stored.outcome == Outcome::Pending => {
                tracing::info!(event_id = ?stored.event_id, "resuming an interrupted remediation");
                report = *stored;
                report.origin = origin;
            }
            Begin::Existing(stored) => {
                let reason = format!("event already recorded with outcome {}", stored.outcome);
                let mut duplicate = *stored;
                duplicate.outcome = Outcome::Duplicate;
                duplicate.reason = reason;
                duplicate.origin = origin;
                return Ok(duplicate);
            }
        }
        let acting = report.outcome == Outcome::Pending;
        if acting {
            if self.policy.mode == sgguard_core::Mode::Audit {
                // Left pending under enforce, redelivered after a switch to audit: act no more.
                stand_down(&mut report, &self.policy);
            } else {
                self.remediate(&mut report, &histories).await?;
            }
        }
        if retrying {
            report.reason = format!("retried after revert_failed: {}", report.reason);
        }
        if acting || retrying {
            self.audit.complete(&report).await.map_err(Error::Audit)?;
        }
        Ok(report)
    }

    /// Keeps a record that cannot be processed, and reports it as `invalid`.
    pub async fn keep_invalid(
        &self,
        raw: Value,
        origin: Option<Origin>,
        error: String,
    ) -> Result<EventReport, Error> {
        let report = invalid_report(&raw, origin.clone(), &error);
        let key = report.event_id.clone().unwrap_or_else(|| digest(&raw));
        let invalid = InvalidRecord {
            key,
            origin,
            error: report.reason.clone(),
            raw,
            received_at: sgguard_core::time::format_time(&Utc::now()),
        };
        self.audit
            .record_invalid(&invalid)
            .await
            .map_err(Error::Audit)?;
        Ok(report)
    }

    async fn histories(
        &self,
        set: &sgguard_core::ChangeSet,
    ) -> Result<HashMap<String, Vec<RuleSnapshot>>, Error> {
        let mut histories = HashMap::new();
        for change in set
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Modified)
        {
            if let Some(rule_id) = &change.rule_id {
                let history = self
                    .audit
                    .rule_history(rule_id)
                    .await
                    .map_err(Error::Audit)?;
                histories.insert(rule_id.clone(), history);
            }
        }
        Ok(histories)
    }

    /// Carries out the pending steps. A retryable failure leaves the record pending for
    /// the retry; a permanent one is recorded as `failed` on the changes it concerns.
    async fn remediate(
        &self,
        report: &mut EventReport,
        histories: &HashMap<String, Vec<RuleSnapshot>>,
    ) -> Result<(), Error> {
        let steps = plan(report, histories, self.policy.min_risk);
        let mut gone = 0;
        for step in &steps {
            let (action, detail) = match self.remediator.execute(step).await {
                Ok(result) => {
                    if result.status == crate::plan::StepStatus::AlreadyGone {
                        gone += step.changes.len();
                    }
                    (result.action(), format!("{step}: {}", result.detail))
                }
                Err(err) if err.is_retryable() => return Err(Error::Remediation(err)),
                Err(err) => (
                    Action::Failed,
                    format!("{step}: failed: {}", error_chain(&err)),
                ),
            };
            for &index in &step.changes {
                if let Some(change) = report.changes.get_mut(index) {
                    change.action = action;
                    change.remediation = Some(detail.clone());
                }
            }
        }
        let (outcome, reason) = finished(report, &self.policy, gone);
        report.outcome = outcome;
        report.reason = reason;
        Ok(())
    }
}

/// Writes each step's description on the changes it settles (`would revoke …` under audit).
fn annotate(report: &mut EventReport, steps: &[RemediationStep], prefix: &str) {
    for step in steps {
        for &index in &step.changes {
            if let Some(change) = report.changes.get_mut(index) {
                change.remediation = Some(format!("{prefix}{step}"));
            }
        }
    }
}

/// The outcome after remediation: the strongest action wins.
fn finished(report: &EventReport, policy: &Policy, gone: usize) -> (Outcome, String) {
    let count = |action: Action| report.changes.iter().filter(|c| c.action == action).count();
    let outcome = report
        .changes
        .iter()
        .filter_map(|c| Outcome::from_action(c.action))
        .max()
        .unwrap_or(Outcome::Recorded);
    let (reverted, restored, failed) = (
        count(Action::Reverted),
        count(Action::Restored),
        count(Action::Failed),
    );
    let mut parts = Vec::new();
    if reverted > 0 {
        parts.push(format!("reverted {reverted}"));
    }
    if restored > 0 {
        parts.push(format!("restored {restored}"));
    }
    if failed > 0 {
        parts.push(format!("failed to revert {failed}"));
    }
    let dry = count(Action::WouldRevert);
    if dry > 0 {
        parts.push(format!("dry run, would revert {dry}"));
    }
    let mut reason = format!(
        "{} unapproved rule(s) at or above {}",
        parts.join(", "),
        policy.min_risk
    );
    if gone > 0 {
        reason.push_str(&format!(" ({gone} already gone)"));
    }
    (outcome, reason)
}

/// Without a usable allowlist nothing unapproved can be told from approved: flag, never act.
fn hold_back(decision: &mut sgguard_core::Decision, err: &crate::error::PortError) {
    let mut held = 0;
    for change in decision
        .changes
        .iter_mut()
        .filter(|c| matches!(c.action, Action::Pending | Action::WouldRevert))
    {
        change.action = Action::Flagged;
        held += 1;
    }
    if held > 0 || decision.outcome == Outcome::Flagged {
        decision.outcome = Outcome::Flagged;
    }
    decision.reason = format!(
        "allowlist unusable ({err}); recorded and flagged, nothing reverted: {}",
        decision.reason
    );
}

/// Turns pending actions into `would_revert`: the mode no longer allows acting.
fn stand_down(report: &mut EventReport, policy: &Policy) {
    for change in report
        .changes
        .iter_mut()
        .filter(|c| c.action == Action::Pending)
    {
        change.action = Action::WouldRevert;
    }
    report.outcome = report
        .changes
        .iter()
        .filter_map(|c| Outcome::from_action(c.action))
        .max()
        .unwrap_or(Outcome::Recorded);
    report.reason = format!(
        "pending enforcement not carried out: the responder now runs in {} mode",
        policy.mode
    );
}

/// The report for a record that cannot be processed; the reason names where it came from.
pub fn invalid_report(raw: &Value, origin: Option<Origin>, error: &str) -> EventReport {
    let reason = match &origin {
        Some(origin) => format!("{origin}: {error}"),
        None => error.to_owned(),
    };
    EventReport::bare(raw, Outcome::Invalid, reason).with_origin(origin)
}

/// A stable key for an invalid record that has no usable `eventID` (FNV-1a of its text).
fn digest(raw: &Value) -> String {
    let text = raw.to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("invalid-{hash:016x}")
}
