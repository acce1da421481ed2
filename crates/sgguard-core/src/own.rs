//! Whether a call was the responder's own. It must be proven, not presumed: a record is an
//! own action only when an exact responder principal made a call the responder makes, and
//! for a modification, only when the new content is a restore the responder recorded as
//! its intent. Anything else made with the responder's identity is judged like anyone's
//! call, with a reason that says whose identity it used.

use std::collections::HashMap;

use crate::allowlist::{Allowlist, Approval, RuleFacts};
use crate::event::{ChangeSet, Identity};
use crate::model::{ChangeKind, RuleContent};

/// The session name the responder uses when it assumes the member role; it appears in the
/// member account's CloudTrail as `assumed-role/<role>/sgguard`.
pub const MEMBER_SESSION_NAME: &str = "sgguard";

/// The restores the responder recorded before making them, by rule id: the only contents
/// its own `ModifySecurityGroupRules` calls may set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intents {
    by_rule: HashMap<String, Vec<RuleContent>>,
}

impl Intents {
    pub fn add(&mut self, rule_id: impl Into<String>, content: RuleContent) {
        self.by_rule
            .entry(rule_id.into())
            .or_default()
            .push(content);
    }

    /// Whether the responder recorded an intent to set `rule_id` to `content`.
    pub fn holds(&self, rule_id: &str, content: &RuleContent) -> bool {
        self.by_rule
            .get(rule_id)
            .is_some_and(|intents| intents.iter().any(|i| i.same_access(content)))
    }

    pub fn for_rule(&self, rule_id: &str) -> bool {
        self.by_rule.contains_key(rule_id)
    }
}

/// Who made a call, as far as the responder is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorship {
    /// Anyone but the responder.
    Others,
    /// Proven to be the responder's own action: never acted on.
    Own { principal: String },
    /// Made with the responder's identity, but not something the responder does: judged
    /// like anyone's call.
    Borrowed { principal: String, why: String },
}

/// The principals that are the responder: exact ARNs (a role ARN covers its sessions) and
/// the member role it assumes in other accounts.
#[derive(Debug, Clone, Copy)]
pub struct Responders<'a> {
    pub self_arns: &'a [String],
    pub member_role: Option<&'a str>,
}

impl Responders<'_> {
    /// The responder principal that made a call in `account`, if one did. The member role
    /// counts only in the event's own account and only with the responder's session name,
    /// so a role of the same name elsewhere, or another session of it, is not the responder.
    pub fn principal_of(&self, identity: &Identity, account: &str) -> Option<String> {
        if let Some(arn) = self
            .self_arns
            .iter()
            .find(|arn| identity.actor == **arn || identity.principal == **arn)
        {
            return Some(arn.clone());
        }
        let role = self.member_role?;
        // The session ARN carries the role's name without its path.
        let name = role.rsplit('/').next().unwrap_or(role);
        let (partition, resource) = sts_session(&identity.actor, account)?;
        let expected = format!("assumed-role/{name}/{MEMBER_SESSION_NAME}");
        // The role behind the session, when the record names it, is in the same account.
        let issuer_ok = identity.principal == identity.actor
            || (identity
                .principal
                .starts_with(&format!("arn:{partition}:iam::{account}:role/"))
                && identity.principal.ends_with(&format!("/{name}")));
        (resource == expected && issuer_ok).then(|| identity.actor.clone())
    }
}

/// `(partition, resource)` of an STS session ARN of `account`.
fn sts_session<'a>(arn: &'a str, account: &str) -> Option<(&'a str, &'a str)> {
    let mut parts = arn.strip_prefix("arn:")?.splitn(5, ':');
    let partition = parts.next()?;
    let service = parts.next()?;
    let _region = parts.next()?;
    let arn_account = parts.next()?;
    let resource = parts.next()?;
    (service == "sts" && arn_account == account).then_some((partition, resource))
}

/// Decides whether `set` is the responder's own action.
///
/// `intents_known` says whether `intents` is authoritative (the responder records its
/// intents before acting). Offline, where no intent exists, a modification counts as the
/// responder's own when its new content is approved by the allowlist.
pub fn authorship(
    set: &ChangeSet,
    responders: Responders<'_>,
    intents: &Intents,
    intents_known: bool,
    allowlist: &Allowlist,
    now: chrono::DateTime<chrono::Utc>,
) -> Authorship {
    let Some(principal) = responders.principal_of(&set.meta.identity, &set.meta.account) else {
        return Authorship::Others;
    };
    let name = set.meta.event_name.as_str();
    let borrowed = |why: String| Authorship::Borrowed {
        principal: principal.clone(),
        why,
    };
    match name {
        "RevokeSecurityGroupIngress" | "RevokeSecurityGroupEgress" => Authorship::Own {
            principal: principal.clone(),
        },
        // The responder only ever removes entries from a prefix list.
        "ModifyManagedPrefixList"
            if set
                .changes
                .iter()
                .all(|c| c.kind == ChangeKind::EntryRemoved) =>
        {
            Authorship::Own {
                principal: principal.clone(),
            }
        }
        "ModifySecurityGroupRules" => {
            for change in &set.changes {
                let (Some(rule_id), Some(content)) = (&change.rule_id, &change.content) else {
                    return borrowed("a modification that names no rule content".into());
                };
                if intents.holds(rule_id, content) {
                    continue;
                }
                if !intents_known && !intents.for_rule(rule_id) {
                    let facts = RuleFacts {
                        direction: change.direction,
                        content,
                        group_id: set.group_id.as_deref(),
                        account: &set.meta.account,
                        region: &set.meta.region,
                        identity: &set.meta.identity,
                    };
                    if matches!(allowlist.evaluate(&facts, now), Approval::Approved { .. }) {
                        continue;
                    }
                }
                return borrowed(format!(
                    "the new content of {rule_id} ({content}) is not a restore the responder recorded"
                ));
            }
            Authorship::Own {
                principal: principal.clone(),
            }
        }
        other => borrowed(format!("the responder never calls {other}")),
    }
}
