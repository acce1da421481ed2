//! The decision on one change set: per rule, its risk, the entry that approved it or the
//! reasons that condemn it, and the action that follows. Pure: `now` is an argument.

use std::fmt;
use std::str::FromStr;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use crate::allowlist::{Allowlist, Approval, Failure, RuleFacts};
use crate::event::ChangeSet;
use crate::model::{
    Action, ChangeKind, Direction, Outcome, Protocol, RuleChange, RuleContent, Source,
};
use crate::own::{self, Authorship, Intents, Responders};
use crate::prefix_list::PrefixLists;
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
    /// Exact principal ARNs that are the responder itself (a role ARN covers its sessions).
    /// Their revokes, and their modifications that match a recorded intent, are never acted
    /// on; anything else they do is judged like anyone's call.
    pub self_arns: Vec<String>,
    /// The role the responder assumes in member accounts; its sessions named
    /// [`crate::own::MEMBER_SESSION_NAME`] in the event's own account are the responder.
    pub member_role: Option<String>,
    pub risk: RiskTable,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Audit,
            min_risk: RiskLevel::High,
            revert_egress: false,
            self_arns: Vec::new(),
            member_role: None,
            risk: RiskTable::default(),
        }
    }
}

impl Policy {
    /// The principals that are the responder.
    pub fn responders(&self) -> Responders<'_> {
        Responders {
            self_arns: &self.self_arns,
            member_role: self.member_role.as_deref(),
        }
    }
}

/// What the decision knows besides the event: the allowlist, the clock, and what was read
/// from AWS for this event (prefix-list contents, the responder's recorded intents).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub allowlist: &'a Allowlist,
    pub now: DateTime<Utc>,
    pub prefix_lists: &'a PrefixLists,
    pub intents: &'a Intents,
    /// Whether `prefix_lists` and `intents` come from a responder that reads AWS and
    /// records its intents (`false` offline, where neither can be known).
    pub live: bool,
}

static NO_LISTS: LazyLock<PrefixLists> = LazyLock::new(PrefixLists::default);
static NO_INTENTS: LazyLock<Intents> = LazyLock::new(Intents::default);

impl<'a> Context<'a> {
    /// An offline context: only the allowlist and the clock.
    pub fn offline(allowlist: &'a Allowlist, now: DateTime<Utc>) -> Self {
        Self {
            allowlist,
            now,
            prefix_lists: &NO_LISTS,
            intents: &NO_INTENTS,
            live: false,
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

/// The extra risk reason of a call made with the responder's identity that the responder
/// would not make.
pub const BORROWED_IDENTITY: &str =
    "made with the responder's own identity, which never adds rules";

/// Decides what one successful call means and what to do about it.
///
/// Pure: the allowlist, the clock and whatever was read from AWS come in through the
/// [`Context`]. Under `enforce` an unapproved rule at or above `min_risk` is `pending`: the
/// responder verifies it against EC2, reverts it and records what happened.
///
/// ```
/// use sgguard_core::testing::Authorize;
/// use sgguard_core::{Action, AllowEntry, Allowlist, Context, Mode, Outcome, Policy};
/// use sgguard_core::{PortRange, Protocol, RiskLevel, decide, normalize};
///
/// let record = Authorize::new("e-1", "sg-0a1b2c3d4e5f60718")
///     .tcp("sgr-0aaaaaaaaaaaaaaa1", 22, "0.0.0.0/0")
///     .tcp("sgr-0aaaaaaaaaaaaaaa2", 443, "203.0.113.0/24")
///     .build();
/// let set = normalize(&record)?;
/// let office = AllowEntry {
///     protocol: Protocol::Tcp,
///     ports: PortRange::single(443),
///     cidrs: vec!["203.0.113.0/24".parse().unwrap()],
///     ..AllowEntry::new("office-https", "netops@example.com", "NET-123")
/// };
/// let allowlist = Allowlist::new(vec![office]);
/// let now = "2026-11-20T09:00:05Z".parse().unwrap();
/// let policy = Policy { mode: Mode::Enforce, ..Policy::default() };
///
/// let decision = decide(&set, &Context::offline(&allowlist, now), &policy);
/// assert_eq!(decision.outcome, Outcome::Pending);
/// let [ssh, https] = decision.changes.as_slice() else { panic!("two rules") };
/// assert_eq!((ssh.risk.level, ssh.action), (RiskLevel::Critical, Action::Pending));
/// assert_eq!(https.approved_by.as_deref(), Some("office-https"));
/// assert_eq!(https.action, Action::None);
/// # Ok::<(), sgguard_core::Error>(())
/// ```
pub fn decide(set: &ChangeSet, context: &Context<'_>, policy: &Policy) -> Decision {
    let authorship = own::authorship(
        set,
        policy.responders(),
        context.intents,
        context.live,
        context.allowlist,
        context.now,
    );
    let own = matches!(authorship, Authorship::Own { .. });
    let borrowed = matches!(authorship, Authorship::Borrowed { .. });
    let changes: Vec<ChangeDecision> = set
        .changes
        .iter()
        .map(|change| {
            let mut decision = decide_change(set, change, context, policy, own);
            if borrowed && change.kind.opens_access() {
                decision.risk.reasons.push(BORROWED_IDENTITY.into());
            }
            decision
        })
        .collect();
    if !set.omitted.is_empty() {
        return incomplete(set, changes);
    }
    match authorship {
        Authorship::Own { principal } => Decision {
            outcome: Outcome::OwnAction,
            reason: format!("call made by the responder itself ({principal}); never acted on"),
            changes,
        },
        Authorship::Borrowed { principal, why } => {
            let (outcome, reason) = summarize(&changes, policy);
            Decision {
                outcome,
                reason: format!(
                    "{reason}; made with the responder's identity {principal}, but {why}, so it is judged like anyone's call"
                ),
                changes,
            }
        }
        Authorship::Others => {
            let (outcome, reason) = summarize(&changes, policy);
            Decision {
                outcome,
                reason,
                changes,
            }
        }
    }
}

/// A record CloudTrail cut short: what it changed is not all known, so nothing is acted on.
/// What it shows is flagged, and a person is told where to look.
fn incomplete(set: &ChangeSet, mut changes: Vec<ChangeDecision>) -> Decision {
    for change in &mut changes {
        if matches!(change.action, Action::Pending | Action::WouldRevert) {
            change.action = Action::Flagged;
        }
    }
    let place = match (&set.group_id, &set.group_name, &set.prefix_list_id) {
        (Some(id), _, _) | (None, Some(id), _) | (None, None, Some(id)) => id.as_str(),
        (None, None, None) => "the group (the record does not name it)",
    };
    let shown = match changes.len() {
        0 => "no change can be read from the rest".to_owned(),
        n => format!("{n} change(s) read from the rest, flagged"),
    };
    Decision {
        outcome: Outcome::Incomplete,
        reason: format!(
            "CloudTrail omitted {} (over its size limit): what the call changed is not fully known, so nothing was done; {shown}; review {place} by hand",
            set.omitted.join(" and ")
        ),
        changes,
    }
}

fn decide_change(
    set: &ChangeSet,
    change: &RuleChange,
    context: &Context<'_>,
    policy: &Policy,
    own: bool,
) -> ChangeDecision {
    let mut decision = ChangeDecision {
        change: change.clone(),
        risk: policy.risk.classify_in(change, context.prefix_lists),
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
    let revertible_direction = |d: Direction| d.is_ingress() || policy.revert_egress;
    let (approval, revertible) = if change.kind == ChangeKind::EntryAdded {
        let list_id = set.prefix_list_id.as_deref().unwrap_or_default();
        let judged = judge_entry(set, content, list_id, context, policy);
        decision.risk = judged.risk;
        decision.change.direction = judged.direction;
        if decision.risk.level == RiskLevel::None {
            return decision;
        }
        (judged.approval, judged.revertible)
    } else {
        let facts = rule_facts(set, change.direction, content, set.group_id.as_deref());
        (
            context.allowlist.evaluate(&facts, context.now),
            revertible_direction(change.direction),
        )
    };
    match approval {
        Approval::Approved { entry_id } => decision.approved_by = Some(entry_id),
        Approval::NotApproved { closest } => {
            decision.closest_miss = closest;
            decision.action = if own {
                Action::None
            } else if decision.risk.level >= policy.min_risk && revertible {
                match policy.mode {
                    Mode::Audit => Action::WouldRevert,
                    Mode::Enforce => Action::Pending,
                }
            } else {
                Action::Flagged
            };
        }
    }
    decision
}

fn rule_facts<'a>(
    set: &'a ChangeSet,
    direction: Direction,
    content: &'a RuleContent,
    group_id: Option<&'a str>,
) -> RuleFacts<'a> {
    RuleFacts {
        direction,
        content,
        group_id,
        account: &set.meta.account,
        region: &set.meta.region,
        identity: &set.meta.identity,
    }
}

/// An added prefix-list entry, judged through every rule that references the list.
struct EntryJudgement {
    risk: Risk,
    direction: Direction,
    approval: Approval,
    /// Whether removing the entry is the responder's to do.
    revertible: bool,
}

/// An entry is judged through each rule that references the list, with the entry as the
/// rule's source: approved through the list as a whole (`prefix_lists`) or through the
/// entry's own network (`cidrs`). The entry is removed when any unapproved reference that
/// may be reverted (ingress, or egress with `--revert-egress`) is at or above the threshold;
/// a riskier egress reference cannot hide it. Otherwise the worst unapproved reference is
/// flagged, and the worst of all is cited when every reference is approved.
fn judge_entry(
    set: &ChangeSet,
    entry: &RuleContent,
    list_id: &str,
    context: &Context<'_>,
    policy: &Policy,
) -> EntryJudgement {
    let list = context.prefix_lists.get(list_id);
    // One rule, opened to the entry: approved through the list, or through the entry itself.
    let approve = |direction, rule: &RuleContent, group: Option<&str>| {
        let via_list = RuleContent {
            source: Source::PrefixList(list_id.to_owned()),
            ..rule.clone()
        };
        let via_entry = RuleContent {
            source: entry.source.clone(),
            ..rule.clone()
        };
        let first = context
            .allowlist
            .evaluate(&rule_facts(set, direction, &via_list, group), context.now);
        match first {
            Approval::Approved { .. } => first,
            Approval::NotApproved { .. } => context
                .allowlist
                .evaluate(&rule_facts(set, direction, &via_entry, group), context.now),
        }
    };
    let all_traffic = RuleContent {
        protocol: Protocol::All,
        from_port: None,
        to_port: None,
        ..entry.clone()
    };
    let references = match list.and_then(|l| l.references.as_ref()) {
        // Offline: the rules are not known; judged as if the entry opened all traffic.
        None => {
            return EntryJudgement {
                risk: policy.risk.classify_unresolved_entry(entry, list_id),
                direction: Direction::Unknown,
                approval: approve(Direction::Ingress, &all_traffic, None),
                revertible: true,
            };
        }
        Some(references) => references,
    };
    if references.is_empty() {
        // No rule of this account references the list, yet the list may be shared (RAM)
        // with accounts whose rules do: a risky entry is flagged, never removed blindly.
        let mut risk = policy.risk.classify_content(&all_traffic);
        if risk.level < policy.min_risk {
            return EntryJudgement {
                risk: Risk {
                    level: RiskLevel::None,
                    reasons: vec![format!("no security-group rule references {list_id}")],
                },
                direction: Direction::Unknown,
                approval: Approval::NotApproved { closest: None },
                revertible: false,
            };
        }
        risk.reasons.insert(
            0,
            format!(
                "no security-group rule in this account references {list_id}, but it may be shared with accounts whose rules do; judged as all traffic, flagged, not removed"
            ),
        );
        return EntryJudgement {
            risk,
            direction: Direction::Unknown,
            approval: approve(Direction::Ingress, &all_traffic, None),
            revertible: false,
        };
    }
    let judged: Vec<EntryJudgement> = references
        .iter()
        .map(|reference| EntryJudgement {
            risk: policy.risk.classify_through(entry, reference),
            direction: reference.direction,
            approval: approve(
                reference.direction,
                &reference.content,
                Some(reference.group_id.as_str()),
            ),
            revertible: reference.direction.is_ingress() || policy.revert_egress,
        })
        .collect();
    let unapproved = |j: &&EntryJudgement| matches!(j.approval, Approval::NotApproved { .. });
    let actionable = |j: &&EntryJudgement| j.revertible && j.risk.level >= policy.min_risk;
    let key = |j: &&EntryJudgement| (j.risk.level, j.direction.is_ingress());
    let worst = judged
        .iter()
        .filter(unapproved)
        .filter(actionable)
        .max_by_key(key)
        .or_else(|| judged.iter().filter(unapproved).max_by_key(key))
        .or_else(|| judged.iter().max_by_key(key));
    match worst {
        Some(worst) => EntryJudgement {
            risk: worst.risk.clone(),
            direction: worst.direction,
            approval: worst.approval.clone(),
            revertible: worst.revertible,
        },
        None => EntryJudgement {
            risk: Risk::none(),
            direction: Direction::Unknown,
            approval: Approval::NotApproved { closest: None },
            revertible: false,
        },
    }
}

/// The event's outcome is the strongest of its changes'; the reason says why in one line.
pub fn summarize(changes: &[ChangeDecision], policy: &Policy) -> (Outcome, String) {
    // An entry added to a prefix list that no rule references opens nothing.
    let opening = changes
        .iter()
        .filter(|c| c.change.kind.opens_access())
        .filter(|c| c.change.kind != ChangeKind::EntryAdded || c.risk.level > RiskLevel::None)
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
