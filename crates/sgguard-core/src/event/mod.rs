//! CloudTrail records of the security-group family, normalized into [`RuleChange`]s.

mod identity;
mod normalize;
mod raw;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use identity::Identity;
pub use normalize::normalize;

use crate::model::RuleChange;

/// The calls sgguard understands. Everything else is counted and skipped.
pub const SECURITY_GROUP_CALLS: [&str; 11] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    // Widen every rule that references the list, without touching a security group.
    "ModifyManagedPrefixList",
    "RestoreManagedPrefixListVersion",
];

/// Who, when and where: the facts of one call that every audit record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    pub event_id: String,
    pub event_name: String,
    pub event_time: DateTime<Utc>,
    pub account: String,
    pub region: String,
    pub identity: Identity,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One successful security-group call, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub meta: EventMeta,
    /// The group changed. `None` when the call named the group only by name, and for a
    /// prefix-list call.
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    /// The managed prefix list a `ModifyManagedPrefixList` call changed.
    pub prefix_list_id: Option<String>,
    /// For a prefix-list call: the version it started from (`CurrentVersion`), where the
    /// request says.
    pub prefix_list_version: Option<i64>,
    /// For `RestoreManagedPrefixListVersion`: the earlier version whose entries it restored.
    /// The entries it changed are known only by reading both versions from EC2.
    pub restores_version: Option<i64>,
    pub changes: Vec<RuleChange>,
    /// The elements CloudTrail omitted from the record (`requestParameters`,
    /// `responseElements`) because they were over its size limit. The changes are then only
    /// what the rest of the record shows, and the event is [`crate::Outcome::Incomplete`].
    pub omitted: Vec<String>,
}

impl ChangeSet {
    /// The group as people know it: its id, else its name (the list id for a prefix list).
    pub fn group_label(&self) -> &str {
        self.group_id
            .as_deref()
            .or(self.group_name.as_deref())
            .or(self.prefix_list_id.as_deref())
            .unwrap_or("")
    }
}

/// What kind of record this is, decided from its head alone so that unrelated records
/// (most of a CloudTrail log file) cost almost nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordClass {
    /// Not an EC2 security-group call.
    Unrelated { event_name: Option<String> },
    /// A security-group call that failed: it changed nothing.
    FailedCall {
        event_name: String,
        error_code: String,
    },
    /// A successful security-group call to normalize.
    SecurityGroupCall { event_name: String },
}

/// Classifies one CloudTrail record without parsing its parameters.
pub fn classify_record(record: &Value) -> RecordClass {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    let event_name = text("eventName");
    let from_ec2 = text("eventSource").is_none_or(|s| s == "ec2.amazonaws.com");
    match event_name {
        Some(name) if from_ec2 && SECURITY_GROUP_CALLS.contains(&name) => {
            match record.get("errorCode").filter(|v| !v.is_null()) {
                Some(code) => RecordClass::FailedCall {
                    event_name: name.to_owned(),
                    error_code: code
                        .as_str()
                        .map_or_else(|| code.to_string(), str::to_owned),
                },
                None => RecordClass::SecurityGroupCall {
                    event_name: name.to_owned(),
                },
            }
        }
        other => RecordClass::Unrelated {
            event_name: other.map(str::to_owned),
        },
    }
}
