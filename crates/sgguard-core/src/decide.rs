//! The decision on one change set: per rule, its risk, the entry that approved it or the
//! reasons that condemn it, and the action that follows. Pure: `now` is an argument.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::allowlist::{Allowlist, Approval, Failure, RuleFacts};
use crate::event::ChangeSet;
use crate::model::{Action, Outcome, RuleChange};
use crate::risk::{Risk, RiskLevel, RiskTable};

/// `audit` records and reports; `enforce` also reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Audit,
    Enforce,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "audit" => Ok(Self::Audit),
            "enforce" => Ok(Self::Enforce),
            other => Err(format!("`{other}` is not a mode (audit, enforce)")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Audit => "audit",
            Self::Enforce => "enforce",
        })
    }
}

/// How the responder is configured to judge and act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Unapproved rules at or above this level are reverted (or would be).
    pub min_risk: RiskLevel,
    /// Reverting egress is an explicit opt-in; otherwise egress is only flagged.
    pub revert_egress: bool,
    /// Principals that are the responder itself: their calls are recorded, never acted on.
    /// Exact ARNs or globs (see [`crate::Identity::is`]).
    pub self_arns: Vec<String>,
    pub risk: RiskTable,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Audit,
            min_risk: RiskLevel::High,
            revert_egress: false,
            self_arns: Vec::new(),
            risk: RiskTable::default(),
        }
    }
}

/// The verdict on one rule change, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeDecision {
    pub change: RuleChange,
    pub risk: Risk,
    /// The allowlist entry that approved the rule.
    pub approved_by: Option<String>,
    /// When nothing approved it: the closest entry and the criteria it failed.
    pub closest_miss: Option<(String, Vec<Failure>)>,
    pub action: Action,
}

/// The verdict on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: String,
    pub changes: Vec<ChangeDecision>,
}

impl Decision {
    /// The indices of changes that enforcement must revert.
    pub fn pending(&self) -> impl Iterator<Item = usize> + '_ {
        self.changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.action == Action::Pending)
            .map(|(i, _)| i)
    }
}

/// Decides what one successful call means and what to do about it.
pub fn decide(
    set: &ChangeSet,
    allowlist: &Allowlist,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Decision {
    let identity = &set.meta.identity;
    let own = policy.self_arns.iter().find(|arn| identity.is(arn));
    let changes: Vec<ChangeDecision> = set
        .changes
        .iter()
        .map(|change| decide_change(set, change, allowlist, policy, now, own.is_some()))
        .collect();
    if let Some(arn) = own {
        return Decision {
            outcome: Outcome::OwnAction,
            reason: format!("call made by the responder itself ({arn}); never acted on"),
            changes,
        };
    }
    let (outcome, reason) = summarize(&changes, policy);
    Decision {
        outcome,
        reason,
        changes,
    }
}

fn decide_change(
    set: &ChangeSet,
    change: &RuleChange,
    allowlist: &Allowlist,
    policy: &Policy,
    now: DateTime<Utc>,
    own: bool,
) -> ChangeDecision {
    let risk = policy.risk.classify(change);
    let mut decision = ChangeDecision {
        change: change.clone(),
        risk,
        approved_by: None,
        closest_miss: None,
        action: Action::None,
    };
    let Some(content) = change
        .content
        .as_ref()
        .filter(|_| change.kind.opens_access())
    else {
        return decision;
    };
    let facts = RuleFacts {
        direction: change.direction,
        content,
        group_id: set.group_id.as_deref(),
        account: &set.meta.account,
        region: &set.meta.region,
        identity: &set.meta.identity,
    };
    match allowlist.evaluate(&facts, now) {
        Approval::Approved { entry_id } => decision.approved_by = Some(entry_id),
        Approval::NotApproved { closest } => {
            decision.closest_miss = closest;
            let revertible = change.direction.is_ingress() || policy.revert_egress;
            decision.action = if own {
                Action::None
            } else if decision.risk.level >= policy.min_risk && revertible {
                match policy.mode {
                    crate::Mode::Audit => Action::WouldRevert,
                    crate::Mode::Enforce => Action::Pending,
                }
            } else {
                Action::Flagged
            };
        }
    }
    decision
}

/// The event's outcome is the strongest of its changes'; the reason says why in one line.
pub fn summarize(changes: &[ChangeDecision], policy: &Policy) -> (Outcome, String) {
    let opening = changes
        .iter()
        .filter(|c| c.change.kind.opens_access())
        .count();
    let count = |action: Action| changes.iter().filter(|c| c.action == action).count();
    let strongest = changes
        .iter()
        .filter_map(|c| Outcome::from_action(c.action))
        .max();
    let threshold = policy.min_risk;
    let rules = |n: usize| {
        if n == 1 {
            "1 rule".to_owned()
        } else {
            format!("{n} rules")
        }
    };
    match strongest {
        None if opening == 0 => (Outcome::Recorded, "no rule added or widened".into()),
        None => {
            let mut ids: Vec<&str> = changes
                .iter()
                .filter_map(|c| c.approved_by.as_deref())
                .collect();
            // each entry once, in the order of first use (`dedup` drops only neighbours)
            let mut seen = std::collections::HashSet::new();
            ids.retain(|id| seen.insert(*id));
            (
                Outcome::Approved,
                format!("{} approved by {}", rules(opening), ids.join(", ")),
            )
        }
        Some(Outcome::Flagged) => {
            let egress_only = changes
                .iter()
                .filter(|c| c.action == Action::Flagged)
                .all(|c| c.risk.level >= threshold && !c.change.direction.is_ingress());
            let why = if egress_only {
                "egress, which is not reverted without --revert-egress".to_owned()
            } else {
                format!("below the {threshold} threshold or egress")
            };
            (
                Outcome::Flagged,
                format!("{} unapproved, {why}", rules(count(Action::Flagged))),
            )
        }
        Some(Outcome::WouldRevert) => (
            Outcome::WouldRevert,
            format!(
                "{} unapproved at or above {threshold}; audit mode, nothing reverted",
                rules(count(Action::WouldRevert))
            ),
        ),
        Some(Outcome::Pending) => (
            Outcome::Pending,
            format!(
                "{} unapproved at or above {threshold}; revert pending",
                rules(count(Action::Pending))
            ),
        ),
        Some(Outcome::RevertFailed) => (
            Outcome::RevertFailed,
            format!("{} could not be reverted", rules(count(Action::Failed))),
        ),
        Some(other) => {
            let done = count(Action::Reverted) + count(Action::Restored);
            (
                other,
                format!(
                    "{} unapproved at or above {threshold}, {}",
                    rules(done),
                    other.as_str().replace('_', " ")
                ),
            )
        }
    }
}
