//! From a decided report to remediation steps: revoke exactly the rules the event added
//! (by rule id when the record has them), restore modified rules to their last content the
//! policy accepted and still approves, and remove unapproved entries from a prefix list.
//! Never a re-scan of the group, never a rule the event did not touch. Pure.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use sgguard_core::allowlist::RuleFacts;
use sgguard_core::{
    Action, Allowlist, Approval, ChangeKind, Direction, Identity, Policy, RiskLevel, RuleContent,
    Source,
};

use crate::ports::RuleSnapshot;
use crate::report::{ChangeReport, EventReport};

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Revoke rules by `sgr-…` id: exact, and only the rules named.
    RevokeRules { rule_ids: Vec<String> },
    /// Offline, for records without rule ids: revoke exactly these permissions.
    RevokePermissions { contents: Vec<RuleContent> },
    /// Put a modified rule back to content the policy accepted before and approves now.
    Restore {
        rule_id: String,
        content: RuleContent,
        from_event: String,
    },
    /// Remove entries from a managed prefix list, at the version they were seen in, so
    /// that a concurrent change of the list wins.
    RemoveEntries {
        prefix_list_id: String,
        entries: Vec<IpNet>,
        version: Option<i64>,
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
                let shown: Vec<String> = contents.iter().map(ToString::to_string).collect();
                write!(f, "revoke {direction}permission {}", shown.join(", "))?;
            }
            StepKind::Restore {
                rule_id,
                content,
                from_event,
            } => {
                write!(
                    f,
                    "restore {rule_id} to {content} (accepted in event {from_event})"
                )?;
            }
            StepKind::RemoveEntries {
                prefix_list_id,
                entries,
                ..
            } => {
                let shown: Vec<String> = entries.iter().map(ToString::to_string).collect();
                write!(f, "remove {} from {prefix_list_id}", shown.join(", "))?;
            }
        }
        if let Some(note) = &self.note {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

impl RemediationStep {
    /// The part of this step that settles one change, in words: a step that revokes a
    /// thousand rules names only the change's own rule, so records stay linear in size.
    pub fn describe_change(&self, change: &ChangeReport) -> String {
        let direction = match self.direction {
            Direction::Unknown => String::new(),
            known => format!("{known} "),
        };
        let own = match (&self.kind, &change.rule_id, change.content()) {
            (StepKind::RevokeRules { rule_ids }, Some(id), _) if rule_ids.len() > 1 => {
                format!("revoke {direction}{id} by rule id")
            }
            (StepKind::RevokePermissions { contents }, _, Some(content)) if contents.len() > 1 => {
                format!("revoke {direction}permission {content}")
            }
            (
                StepKind::RemoveEntries {
                    prefix_list_id,
                    entries,
                    ..
                },
                _,
                Some(content),
            ) if entries.len() > 1 => {
                format!("remove {} from {prefix_list_id}", content.source)
            }
            _ => return self.to_string(),
        };
        match &self.note {
            Some(note) => format!("{own}; {note}"),
            None => own,
        }
    }

    /// The rule ids this step touches (none for permission and prefix-list steps).
    pub fn rule_ids(&self) -> Vec<String> {
        match &self.kind {
            StepKind::RevokeRules { rule_ids } => rule_ids.clone(),
            StepKind::Restore { rule_id, .. } => vec![rule_id.clone()],
            StepKind::RevokePermissions { .. } | StepKind::RemoveEntries { .. } => Vec::new(),
        }
    }
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

/// What a modified rule would be restored to, judged against today's allowlist and policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// Earlier content that the policy accepted then and accepts now.
    To {
        content: RuleContent,
        from_event: String,
    },
    /// No content to restore; the rule is revoked, and this says why.
    Revoke(String),
}

/// The restore target of every modified rule, by rule id. A rule's last accepted content
/// is restored only if it is approved now, or below the threshold: restoring content whose
/// approval has lapsed would make the responder create an unapproved rule itself.
pub fn restore_targets(
    report: &EventReport,
    histories: &HashMap<String, Vec<RuleSnapshot>>,
    allowlist: &Allowlist,
    policy: &Policy,
    now: DateTime<Utc>,
) -> HashMap<String, RestoreTarget> {
    let event_id = report.event_id.clone().unwrap_or_default();
    let event_time = report.event_time.clone().unwrap_or_default();
    let mut targets = HashMap::new();
    for change in report
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Modified)
    {
        let Some(rule_id) = &change.rule_id else {
            continue;
        };
        // Only this rule's history in this event's group: a record that claims the rule in
        // another group says nothing about what it held here.
        let history: Vec<RuleSnapshot> = histories
            .get(rule_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|s| s.group_id.is_some() && s.group_id == report.group_id)
            .cloned()
            .collect();
        let target = match last_accepted(&history, &event_id, &event_time, policy.min_risk) {
            None => RestoreTarget::Revoke(
                "no earlier accepted content is known, so the rule is revoked".into(),
            ),
            Some((snapshot, content)) => {
                match judge_now(report, change, snapshot, &content, allowlist, policy, now) {
                    None => RestoreTarget::To {
                        content,
                        from_event: snapshot.event_id.clone(),
                    },
                    Some(why) => RestoreTarget::Revoke(format!(
                        "earlier content {content} is no longer approved ({why}), so the rule is revoked"
                    )),
                }
            }
        };
        targets.insert(rule_id.clone(), target);
    }
    targets
}

/// `None` when `content` may be restored now; otherwise why not. The restore is judged as
/// if the caller whose change it undoes had made it: an approval given to someone else
/// (a break-glass role) is not borrowed by the responder.
fn judge_now(
    report: &EventReport,
    change: &ChangeReport,
    snapshot: &RuleSnapshot,
    content: &RuleContent,
    allowlist: &Allowlist,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<String> {
    let identity = Identity {
        kind: String::new(),
        actor: report.actor.clone().unwrap_or_default(),
        principal: report
            .principal
            .clone()
            .or_else(|| report.actor.clone())
            .unwrap_or_default(),
        invoked_by: None,
    };
    let facts = RuleFacts {
        direction: change.direction,
        content,
        group_id: report.group_id.as_deref(),
        account: report.account.as_deref().unwrap_or_default(),
        region: report.region.as_deref().unwrap_or_default(),
        identity: &identity,
    };
    let approval = allowlist.evaluate(&facts, now);
    if matches!(approval, Approval::Approved { .. }) {
        return None;
    }
    let risk = policy.risk.classify_content(content);
    if risk.level < policy.min_risk {
        return None;
    }
    let Some(entry_id) = &snapshot.change.approved_by else {
        return Some(format!("{} risk, and no entry approves it", risk.level));
    };
    Some(match allowlist.get(entry_id) {
        None => format!("entry {entry_id} was removed"),
        Some(entry) => match entry.expires.filter(|_| entry.is_expired(now)) {
            Some(expired) => format!(
                "entry {entry_id} expired at {}",
                sgguard_core::time::format_time(&expired)
            ),
            None => {
                let failed: Vec<String> = entry
                    .failures(&facts, now)
                    .iter()
                    .map(|f| format!("{}: {}", f.criterion, f.detail))
                    .collect();
                format!(
                    "entry {entry_id} does not approve it for this caller: {}",
                    failed.join("; ")
                )
            }
        },
    })
}

/// The steps that settle every change marked for reverting (`pending` under enforce,
/// `would_revert` under audit). `restores` holds the target of every modified rule.
pub fn plan(
    report: &EventReport,
    restores: &HashMap<String, RestoreTarget>,
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
    let mut entries: (Vec<IpNet>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut steps = Vec::new();
    for (index, change) in report.changes.iter().enumerate() {
        if !matches!(change.action, Action::Pending | Action::WouldRevert) {
            continue;
        }
        match (change.kind, &change.rule_id) {
            (ChangeKind::EntryAdded, _) => {
                if let Some(net) = change.content().and_then(|c| c.source.network()) {
                    entries.0.push(net);
                    entries.1.push(index);
                }
            }
            (ChangeKind::Modified, Some(rule_id)) => match restores.get(rule_id) {
                Some(RestoreTarget::To {
                    content,
                    from_event,
                }) => steps.push(step(
                    change.direction,
                    StepKind::Restore {
                        rule_id: rule_id.clone(),
                        content: content.clone(),
                        from_event: from_event.clone(),
                    },
                    vec![index],
                    None,
                )),
                Some(RestoreTarget::Revoke(why)) => steps.push(step(
                    change.direction,
                    StepKind::RevokeRules {
                        rule_ids: vec![rule_id.clone()],
                    },
                    vec![index],
                    Some(why.clone()),
                )),
                None => steps.push(step(
                    change.direction,
                    StepKind::RevokeRules {
                        rule_ids: vec![rule_id.clone()],
                    },
                    vec![index],
                    Some("no earlier accepted content is known, so the rule is revoked".into()),
                )),
            },
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
    if let (Some(prefix_list_id), false) = (&report.prefix_list_id, entries.0.is_empty()) {
        steps.push(step(
            Direction::Unknown,
            StepKind::RemoveEntries {
                prefix_list_id: prefix_list_id.clone(),
                entries: entries.0,
                version: None,
            },
            entries.1,
            None,
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
    last_accepted(history, event_id, event_time, min_risk)
        .map(|(snapshot, content)| (content, snapshot.event_id.clone()))
}

fn last_accepted<'a>(
    history: &'a [RuleSnapshot],
    event_id: &str,
    event_time: &str,
    min_risk: RiskLevel,
) -> Option<(&'a RuleSnapshot, RuleContent)> {
    history
        .iter()
        .rev()
        .filter(|s| s.event_id != event_id && s.event_time.as_str() <= event_time)
        .take_while(|s| s.change.kind != ChangeKind::Removed)
        .find(|s| s.change.was_accepted(min_risk))
        .and_then(|s| Some((s, s.change.content()?)))
}

/// A prefix-list entry or a CIDR source as a [`Source`].
pub fn source_of(net: IpNet) -> Source {
    match net {
        IpNet::V4(net) => Source::CidrV4(net),
        IpNet::V6(net) => Source::CidrV6(net),
    }
}
