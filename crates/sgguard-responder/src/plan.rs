//! From a decided report to remediation steps: revoke exactly the rules the event added
//! (by rule id when the record has them), and restore modified rules to their last content
//! the policy accepted. Never a re-scan of the group, never a rule the event did not touch.

use std::collections::HashMap;
use std::fmt;

use sgguard_core::{Action, ChangeKind, Direction, RiskLevel, RuleContent};

use crate::ports::RuleSnapshot;
use crate::report::EventReport;

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Revoke rules by `sgr-…` id: exact, and only the rules named.
    RevokeRules { rule_ids: Vec<String> },
    /// Older records without rule ids: revoke exactly these permissions from the request.
    RevokePermissions { contents: Vec<RuleContent> },
    /// Put a modified rule back to content the policy accepted before.
    Restore {
        rule_id: String,
        content: RuleContent,
        from_event: String,
    },
}

/// One call the remediator makes, and the report changes it settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationStep {
    pub account: String,
    pub region: String,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub direction: Direction,
    pub kind: StepKind,
    /// Indices into the report's `changes`.
    pub changes: Vec<usize>,
    /// Why this step and not another (e.g. no accepted content to restore).
    pub note: Option<String>,
}

impl fmt::Display for RemediationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = match self.direction {
            Direction::Unknown => String::new(),
            known => format!("{known} "),
        };
        match &self.kind {
            StepKind::RevokeRules { rule_ids } => {
                write!(f, "revoke {direction}{} by rule id", rule_ids.join(", "))?
            }
            StepKind::RevokePermissions { contents } => {
                let shown: Vec<String> = contents.iter().map(describe_content).collect();
                write!(f, "revoke {direction}permission {}", shown.join(", "))?;
            }
            StepKind::Restore {
                rule_id,
                content,
                from_event,
            } => {
                write!(
                    f,
                    "restore {rule_id} to {} (accepted in event {from_event})",
                    describe_content(content)
                )?;
            }
        }
        if let Some(note) = &self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

/// `tcp 22 from 0.0.0.0/0`, the way people say it.
pub fn describe_content(content: &RuleContent) -> String {
    let ports = match (content.from_port, content.to_port) {
        _ if !content.protocol.has_ports() && !content.protocol.is_icmp() => String::new(),
        (Some(a), Some(b)) if a == b => format!(" {a}"),
        (Some(a), Some(b)) => format!(" {a}-{b}"),
        (Some(a), None) => format!(" {a}"),
        _ => String::new(),
    };
    format!("{}{ports} from {}", content.protocol, content.source)
}

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Reverted,
    Restored,
    /// The rule was already absent: the goal holds, nothing was changed.
    AlreadyGone,
    /// A dry run: the step was only reported, nothing was called.
    NotExecuted,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub status: StepStatus,
    /// What was done and how it was confirmed, for the audit record.
    pub detail: String,
}

impl StepResult {
    pub fn action(&self) -> Action {
        match self.status {
            StepStatus::Reverted | StepStatus::AlreadyGone => Action::Reverted,
            StepStatus::Restored => Action::Restored,
            StepStatus::NotExecuted => Action::WouldRevert,
            StepStatus::Failed => Action::Failed,
        }
    }
}

/// The steps that settle every change marked for reverting (`pending` under enforce,
/// `would_revert` under audit). `histories` holds the recorded history of modified rules.
pub fn plan(
    report: &EventReport,
    histories: &HashMap<String, Vec<RuleSnapshot>>,
    min_risk: RiskLevel,
) -> Vec<RemediationStep> {
    let step = |direction, kind, changes, note| RemediationStep {
        account: report.account.clone().unwrap_or_default(),
        region: report.region.clone().unwrap_or_default(),
        group_id: report.group_id.clone(),
        group_name: report.group_name.clone(),
        direction,
        kind,
        changes,
        note,
    };
    let mut by_id: Vec<(Direction, Vec<String>, Vec<usize>)> = Vec::new();
    let mut by_content: Vec<(Direction, Vec<RuleContent>, Vec<usize>)> = Vec::new();
    let mut steps = Vec::new();
    let event_id = report.event_id.clone().unwrap_or_default();
    let event_time = report.event_time.clone().unwrap_or_default();
    for (index, change) in report.changes.iter().enumerate() {
        if !matches!(change.action, Action::Pending | Action::WouldRevert) {
            continue;
        }
        match (change.kind, &change.rule_id) {
            (ChangeKind::Modified, Some(rule_id)) => {
                let history = histories
                    .get(rule_id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                match last_accepted_content(history, &event_id, &event_time, min_risk) {
                    Some((content, from_event)) => steps.push(step(
                        change.direction,
                        StepKind::Restore {
                            rule_id: rule_id.clone(),
                            content,
                            from_event,
                        },
                        vec![index],
                        None,
                    )),
                    None => steps.push(step(
                        change.direction,
                        StepKind::RevokeRules {
                            rule_ids: vec![rule_id.clone()],
                        },
                        vec![index],
                        Some("no earlier accepted content is known, so the rule is revoked".into()),
                    )),
                }
            }
            (_, Some(rule_id)) => match by_id.iter_mut().find(|(d, _, _)| *d == change.direction) {
                Some((_, ids, changes)) => {
                    ids.push(rule_id.clone());
                    changes.push(index);
                }
                None => by_id.push((change.direction, vec![rule_id.clone()], vec![index])),
            },
            (_, None) => {
                let Some(content) = change.content() else {
                    continue;
                };
                match by_content
                    .iter_mut()
                    .find(|(d, _, _)| *d == change.direction)
                {
                    Some((_, contents, changes)) => {
                        contents.push(content);
                        changes.push(index);
                    }
                    None => by_content.push((change.direction, vec![content], vec![index])),
                }
            }
        }
    }
    for (direction, rule_ids, changes) in by_id {
        steps.push(step(
            direction,
            StepKind::RevokeRules { rule_ids },
            changes,
            None,
        ));
    }
    for (direction, contents, changes) in by_content {
        let note =
            Some("the record has no rule ids; revoking the exact permissions it added".to_owned());
        steps.push(step(
            direction,
            StepKind::RevokePermissions { contents },
            changes,
            note,
        ));
    }
    steps
}

/// The most recent content of a rule, before `event_time`, that the policy accepted
/// (approved, or below the threshold) and that was not itself reverted.
pub fn last_accepted_content(
    history: &[RuleSnapshot],
    event_id: &str,
    event_time: &str,
    min_risk: RiskLevel,
) -> Option<(RuleContent, String)> {
    history
        .iter()
        .rev()
        .filter(|s| s.event_id != event_id && s.event_time.as_str() <= event_time)
        .take_while(|s| s.change.kind != ChangeKind::Removed)
        .find(|s| s.change.was_accepted(min_risk))
        .and_then(|s| Some((s.change.content()?, s.event_id.clone())))
}
