//! The output contract: one [`EventReport`] per input record. The same shape is printed by
//! `sgguard replay --format json`, returned by the Lambda, and stored in the audit log.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sgguard_core::decide::ChangeDecision;
use sgguard_core::{
    Action, ChangeKind, ChangeSet, Decision, Direction, Outcome, Protocol, RiskLevel, RuleContent,
    Source, SourceKind,
};

/// Where a record came from: a file and its index there, or the Lambda event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub index: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} record {}", self.file, self.index)
    }
}

/// What happened to one input record. Field names are a stable contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReport {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub event_time: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// The managed prefix list a `ModifyManagedPrefixList` call changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list_id: Option<String>,
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub outcome: Outcome,
    pub reason: String,
    pub changes: Vec<ChangeReport>,
    /// Why the allowlist could not be used (naming the entry at fault), when it could not:
    /// nothing was reverted, and a person must fix the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// One rule change, its risk, its evidence and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeReport {
    pub rule_id: Option<String>,
    pub direction: Direction,
    pub kind: ChangeKind,
    pub protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Option<String>,
    pub source_kind: Option<SourceKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub risk: RiskLevel,
    pub risk_reasons: Vec<String>,
    pub approved_by: Option<String>,
    /// When unapproved: the closest allowlist entry and the criteria it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closest_entry: Option<String>,
    pub action: Action,
    /// The remediation step taken or planned for this rule, and its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// Why this change needed a second look (e.g. a permission the response did not list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Under enforce, the content the responder set (or will set) this rule to: its recorded
    /// intent, which makes its own `ModifySecurityGroupRules` call provably its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_to: Option<ContentReport>,
}

/// A rule's content in the report's terms, for a restore target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentReport {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ContentReport {
    pub fn of(content: &RuleContent) -> Self {
        Self {
            protocol: content.protocol.to_string(),
            from_port: content.from_port,
            to_port: content.to_port,
            source: content.source.to_string(),
            description: content.description.clone(),
        }
    }

    pub fn content(&self) -> Option<RuleContent> {
        Some(RuleContent {
            protocol: Protocol::parse(&self.protocol)?,
            from_port: self.from_port,
            to_port: self.to_port,
            source: Source::parse(&self.source).ok()?,
            description: self.description.clone(),
        })
    }
}

impl ChangeReport {
    pub fn from_decision(decision: &ChangeDecision) -> Self {
        let change = &decision.change;
        let content = change.content.as_ref();
        Self {
            rule_id: change.rule_id.clone(),
            direction: change.direction,
            kind: change.kind,
            protocol: content.map(|c| c.protocol.to_string()),
            from_port: content.and_then(|c| c.from_port),
            to_port: content.and_then(|c| c.to_port),
            source: content.map(|c| c.source.to_string()),
            source_kind: content.map(|c| c.source.kind()),
            description: content.and_then(|c| c.description.clone()),
            risk: decision.risk.level,
            risk_reasons: decision.risk.reasons.clone(),
            approved_by: decision.approved_by.clone(),
            closest_entry: decision.closest_miss.as_ref().map(|(id, failures)| {
                let failed: Vec<String> = failures
                    .iter()
                    .map(|f| format!("{}: {}", f.criterion, f.detail))
                    .collect();
                format!("{id} ({})", failed.join("; "))
            }),
            action: decision.action,
            remediation: None,
            note: change.note.clone(),
            restore_to: None,
        }
    }

    /// The rule's content as recorded, when the change carried one.
    pub fn content(&self) -> Option<RuleContent> {
        let protocol = Protocol::parse(self.protocol.as_deref()?)?;
        let source = Source::parse(self.source.as_deref()?).ok()?;
        Some(RuleContent {
            protocol,
            from_port: self.from_port,
            to_port: self.to_port,
            source,
            description: self.description.clone(),
        })
    }

    /// Whether the rule was accepted by the policy in force when it was recorded: approved,
    /// or below the threshold that reverts.
    pub fn was_accepted(&self, min_risk: RiskLevel) -> bool {
        self.kind.opens_access()
            && (self.approved_by.is_some()
                || (self.risk < min_risk && self.action != Action::Reverted))
    }
}

impl EventReport {
    /// The report of a decided change set, before any remediation.
    pub fn from_decision(set: &ChangeSet, decision: &Decision) -> Self {
        let meta = &set.meta;
        Self {
            event_id: Some(meta.event_id.clone()),
            event_name: Some(meta.event_name.clone()),
            event_time: Some(sgguard_core::time::format_time(&meta.event_time)),
            account: Some(meta.account.clone()),
            region: Some(meta.region.clone()),
            group_id: set.group_id.clone(),
            group_name: set.group_name.clone(),
            prefix_list_id: set.prefix_list_id.clone(),
            actor: Some(meta.identity.actor.clone()),
            principal: Some(meta.identity.principal.clone()),
            source_ip: meta.source_ip.clone(),
            user_agent: meta.user_agent.clone(),
            outcome: decision.outcome,
            reason: decision.reason.clone(),
            changes: decision
                .changes
                .iter()
                .map(ChangeReport::from_decision)
                .collect(),
            allowlist_error: None,
            origin: None,
        }
    }

    /// A report for a record that is not stored (skipped, or about to be marked invalid).
    pub fn bare(record: &Value, outcome: Outcome, reason: impl Into<String>) -> Self {
        let text = |key: &str| {
            record.get(key).and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_number().map(ToString::to_string))
            })
        };
        Self {
            event_id: text("eventID"),
            event_name: text("eventName"),
            event_time: text("eventTime"),
            account: text("recipientAccountId"),
            region: text("awsRegion"),
            group_id: record
                .pointer("/requestParameters/groupId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            group_name: None,
            prefix_list_id: None,
            actor: record
                .pointer("/userIdentity/arn")
                .and_then(Value::as_str)
                .map(str::to_owned),
            principal: None,
            source_ip: None,
            user_agent: None,
            outcome,
            reason: reason.into(),
            changes: Vec::new(),
            allowlist_error: None,
            origin: None,
        }
    }

    /// The highest risk among the changes (`none` without changes).
    pub fn max_risk(&self) -> RiskLevel {
        self.changes
            .iter()
            .map(|c| c.risk)
            .max()
            .unwrap_or(RiskLevel::None)
    }

    /// The report as a store keeps it: where it was read from belongs to one run, not to
    /// the event, so `origin` is left out.
    pub fn stored_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(&EventReport {
            origin: None,
            ..self.clone()
        })
    }

    pub fn with_origin(mut self, origin: Option<Origin>) -> Self {
        self.origin = origin;
        self
    }
}
