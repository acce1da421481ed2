//! Compare, then act: each planned step is checked against what EC2 holds just before it
//! runs, and only what still matches the event is acted on. Pure: the responder reads EC2
//! through its remediator and applies what these functions decide.

use sgguard_core::verify::Expectation;
use sgguard_core::{Action, ObservedRule, PrefixList, Verdict, verify};

use crate::plan::{RemediationStep, StepKind};
use crate::report::{ChangeReport, EventReport};

/// A change settled without calling EC2, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settled {
    pub index: usize,
    pub action: Action,
    pub detail: String,
}

/// What is left of a step after the comparison, and what the comparison settled.
pub(crate) type Checked = (Option<RemediationStep>, Vec<Settled>);

/// Checks every rule of a revoke-by-id or restore step against the rules EC2 described.
/// `resumed`: an earlier attempt at this event may have acted already, so a rule that holds
/// the restore target was restored by it; otherwise someone else changed it since the event.
pub(crate) fn verify_step(
    step: RemediationStep,
    report: &EventReport,
    observed: &[ObservedRule],
    later: &std::collections::HashMap<String, String>,
    resumed: bool,
) -> Checked {
    let find = |id: &str| observed.iter().find(|r| r.rule_id == id);
    let expectation_for = |index: usize| {
        report
            .changes
            .get(index)
            .map(|change| (change.direction, change.content()))
    };
    let mut settled = Vec::new();
    match &step.kind {
        StepKind::RevokeRules { rule_ids } => {
            let mut keep_ids = Vec::new();
            let mut keep_changes = Vec::new();
            for (id, &index) in rule_ids.iter().zip(&step.changes) {
                let Some((direction, Some(content))) = expectation_for(index) else {
                    settled.push(Settled {
                        index,
                        action: Action::Superseded,
                        detail: format!(
                            "the record gives no content of {id} to compare with EC2; nothing done"
                        ),
                    });
                    continue;
                };
                let expected = Expectation {
                    rule_id: id,
                    group_id: report.group_id.as_deref(),
                    direction,
                    content: &content,
                    target: None,
                };
                match verify(&expected, find(id)) {
                    Verdict::Act | Verdict::Done => match later.get(id) {
                        Some(why) => settled.push(superseded(index, why.clone())),
                        None => {
                            keep_ids.push(id.clone());
                            keep_changes.push(index);
                        }
                    },
                    Verdict::Gone => settled.push(gone(index, format!("{id} no longer exists"))),
                    Verdict::Superseded(why) => settled.push(superseded(index, why)),
                }
            }
            let run = (!keep_ids.is_empty()).then_some(RemediationStep {
                kind: StepKind::RevokeRules { rule_ids: keep_ids },
                changes: keep_changes,
                ..step
            });
            (run, settled)
        }
        StepKind::Restore {
            rule_id,
            content: target,
            ..
        } => {
            let index = step.changes.first().copied().unwrap_or_default();
            let Some((direction, Some(content))) = expectation_for(index) else {
                return (
                    None,
                    vec![superseded(
                        index,
                        format!("the record gives no content of {rule_id} to compare with EC2"),
                    )],
                );
            };
            let expected = Expectation {
                rule_id,
                group_id: report.group_id.as_deref(),
                direction,
                content: &content,
                target: Some(target),
            };
            match verify(&expected, find(rule_id)) {
                Verdict::Act => match later.get(rule_id) {
                    Some(why) => (None, vec![superseded(index, why.clone())]),
                    None => (Some(step), settled),
                },
                Verdict::Done if resumed => (
                    None,
                    vec![Settled {
                        index,
                        action: Action::Restored,
                        detail: format!(
                            "{rule_id} already holds {target}, restored by an earlier attempt (read before acting)"
                        ),
                    }],
                ),
                Verdict::Done => (
                    None,
                    vec![superseded(
                        index,
                        format!(
                            "rule changed since this event (now: {target}, the accepted content); the later change is judged on its own"
                        ),
                    )],
                ),
                Verdict::Gone => (
                    None,
                    vec![gone(index, format!("{rule_id} no longer exists"))],
                ),
                Verdict::Superseded(why) => (None, vec![superseded(index, why)]),
            }
        }
        StepKind::RevokePermissions { .. } | StepKind::RemoveEntries { .. } => {
            (Some(step), settled)
        }
    }
}

/// A record without rule ids, online: each permission is matched by content to the rule
/// EC2 holds in the group (EC2 holds at most one rule per content), and revoked by that
/// rule's id. A permission no rule holds is already gone.
pub(crate) fn match_permissions(
    step: RemediationStep,
    report: &EventReport,
    group: &[ObservedRule],
) -> Checked {
    let StepKind::RevokePermissions { contents } = &step.kind else {
        return (Some(step), Vec::new());
    };
    let group_label = report.group_id.as_deref().unwrap_or("the group");
    let mut ids = Vec::new();
    let mut changes = Vec::new();
    let mut settled = Vec::new();
    for (content, &index) in contents.iter().zip(&step.changes) {
        let found = group.iter().find(|rule| {
            rule.content.same_access(content)
                && (rule.direction == step.direction
                    || step.direction == sgguard_core::Direction::Unknown)
        });
        match found {
            Some(rule) => {
                ids.push(rule.rule_id.clone());
                changes.push(index);
            }
            None => settled.push(gone(
                index,
                format!("no rule in {group_label} holds {content}"),
            )),
        }
    }
    let run = (!ids.is_empty()).then_some(RemediationStep {
        kind: StepKind::RevokeRules { rule_ids: ids },
        changes,
        note: Some(
            "the rule id was found by matching the permission to EC2's rules by content".into(),
        ),
        ..step
    });
    (run, settled)
}

/// Keeps the entries still in the list's current version, and pins that version so that a
/// concurrent change of the list makes EC2 refuse the removal instead of losing the change.
pub(crate) fn present_entries(step: RemediationStep, current: Option<&PrefixList>) -> Checked {
    let StepKind::RemoveEntries {
        prefix_list_id,
        entries,
        ..
    } = &step.kind
    else {
        return (Some(step), Vec::new());
    };
    let mut keep = Vec::new();
    let mut changes = Vec::new();
    let mut settled = Vec::new();
    for (entry, &index) in entries.iter().zip(&step.changes) {
        if current.is_some_and(|list| list.entries.contains(entry)) {
            keep.push(*entry);
            changes.push(index);
        } else {
            settled.push(gone(
                index,
                format!("{entry} is no longer in {prefix_list_id}"),
            ));
        }
    }
    let run = (!keep.is_empty()).then_some(RemediationStep {
        kind: StepKind::RemoveEntries {
            prefix_list_id: prefix_list_id.clone(),
            entries: keep,
            version: current.and_then(|l| l.version),
        },
        changes,
        ..step
    });
    (run, settled)
}

/// A step for a group the record names only by name: it cannot be read back from EC2, so
/// nothing is acted on; the changes are flagged with why.
pub(crate) fn named_only(step: &RemediationStep, report: &EventReport) -> Vec<Settled> {
    let name = report.group_name.as_deref().unwrap_or("(unnamed)");
    step.changes
        .iter()
        .map(|&index| Settled {
            index,
            action: Action::Flagged,
            detail: format!(
                "not reverted: the record names the group only by name ({name}), so its rules cannot be read back to compare; revert by hand"
            ),
        })
        .collect()
}

/// Every change of a step that could not be checked against EC2: failed, never acted on.
pub(crate) fn unread(
    step: &RemediationStep,
    changes: &[ChangeReport],
    err: &crate::PortError,
) -> Vec<Settled> {
    let cause = crate::error_chain(err);
    step.changes
        .iter()
        .map(|&index| Settled {
            index,
            action: Action::Failed,
            detail: format!(
                "{}: failed: EC2 could not be read before acting, so nothing was done: {cause}",
                changes
                    .get(index)
                    .map(|c| step.describe_change(c))
                    .unwrap_or_default()
            ),
        })
        .collect()
}

fn gone(index: usize, what: String) -> Settled {
    Settled {
        index,
        action: Action::Reverted,
        detail: format!("already gone: {what} (read from EC2 before acting)"),
    }
}

fn superseded(index: usize, why: String) -> Settled {
    Settled {
        index,
        action: Action::Superseded,
        detail: format!("superseded: {why}; nothing done"),
    }
}
