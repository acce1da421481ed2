//! The ports: what the pipeline needs from the outside world, in domain types only.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sgguard_core::{AllowEntry, ObservedRule, PrefixList, Reference};

use crate::error::PortError;
use crate::plan::{RemediationStep, StepResult};
use crate::report::{ChangeReport, EventReport, Origin};

/// The answer to [`AuditLog::begin`]: the idempotency check on the CloudTrail `eventID`.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First delivery: the record is stored, and the caller holds its lease.
    Inserted,
    /// Seen before, taken over: its outcome was one the caller asked to take over
    /// (`pending`: an interrupted remediation), or a run that never acts wrote it and the
    /// caller acts; its lease was free, and the caller now holds it. Here is what was stored,
    /// and whether a live run wrote it.
    Resumed {
        stored: Box<EventReport>,
        was_live: bool,
    },
    /// Seen before with an outcome to take over, but another worker holds the lease until
    /// `until` (RFC 3339): acting now could act twice, so the caller must retry later.
    Busy { until: String },
    /// Seen before and settled; here is what was stored.
    Existing(Box<EventReport>),
}

/// A short lease on an event record: only its holder acts on the event or completes it.
/// Concurrent deliveries of one event (Lambda runs several copies) therefore act once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Unique to one attempt at handling one event.
    pub owner: String,
    /// Unix seconds after which another worker may take the event over.
    pub until: i64,
    /// Whether the attempt acts on AWS (a responder with a live remediator) rather than only
    /// reporting (`replay`, a dry run). Stored with the record: a live attempt takes over a
    /// record that a reporting run wrote, and only live records carry intents.
    pub live: bool,
}

impl Lease {
    /// A lease for a fresh attempt, held for `duration` from now.
    pub fn new(duration: std::time::Duration, live: bool) -> Self {
        use std::hash::{BuildHasher, RandomState};
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // RandomState is seeded from the OS per process: unique across sandboxes whose pids
        // and clocks may coincide.
        let seed = RandomState::new().hash_one(std::process::id());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now().timestamp();
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2);
        Self {
            owner: format!("{seed:016x}-{n}"),
            until: now.saturating_add(secs),
            live,
        }
    }
}

/// A record that could not be processed, kept so a person can see and replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidRecord {
    /// The CloudTrail `eventID` when one could be read, otherwise a digest of the input.
    pub key: String,
    pub origin: Option<Origin>,
    pub error: String,
    /// The input as received (the JSON record, or the text that was not JSON).
    pub raw: Value,
    pub received_at: String,
}

/// One version of a rule in its history, newest last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSnapshot {
    pub event_id: String,
    pub event_time: String,
    pub event_name: String,
    pub group_id: Option<String>,
    pub actor: Option<String>,
    pub outcome: sgguard_core::Outcome,
    pub change: ChangeReport,
    /// Written by a live responder (not `replay` or a dry run): only such records carry
    /// intents the responder made.
    #[serde(default)]
    pub live: bool,
}

/// The audit log: one record per CloudTrail event, with its rule changes.
pub trait AuditLog: Send + Sync {
    /// Stores a new event record, with `lease`, unless its `eventID` is already present
    /// (conditional write). A stored record whose outcome is one of `take_over`, or that a
    /// reporting run wrote while `lease` is live, is taken over when its lease has expired
    /// (conditional update), else reported `Busy`.
    fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[sgguard_core::Outcome],
    ) -> impl Future<Output = Result<Begin, PortError>> + Send;

    /// Replaces the outcome, reason and per-change actions of a stored record, only while
    /// `lease` is still the record's (a retryable error when another worker took it over),
    /// and releases the lease.
    fn complete(
        &self,
        report: &EventReport,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Gives up `lease` early (an attempt that stops with a retryable error), so the retry
    /// need not wait for it to expire. Best effort: a lease not released expires anyway.
    fn release(
        &self,
        event_id: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Keeps a record that could not be processed.
    fn record_invalid(
        &self,
        record: &InvalidRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Every recorded change of one rule, oldest first.
    fn rule_history(
        &self,
        rule_id: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send;

    /// One page of a rule's recorded changes, newest first: those by events at or before
    /// `until` (RFC 3339, as stored) and, when `before` names an event (`(event_time,
    /// event_id)`, the last of the previous page), strictly before it in the history's
    /// order; at most `limit`. The responder reads back from the newest until it has what a
    /// restore needs, so a rule changed a thousand times costs only its recent part, and no
    /// fixed window can hide its last accepted content. The default reads the whole history.
    fn rule_history_page(
        &self,
        rule_id: &str,
        until: &str,
        before: Option<(&str, &str)>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        async move {
            let history = self.rule_history(rule_id).await?;
            Ok(history
                .into_iter()
                .rev()
                .filter(|s| s.event_time.as_str() <= until)
                .filter(|s| {
                    before.is_none_or(|(time, id)| {
                        (s.event_time.as_str(), s.event_id.as_str()) < (time, id)
                    })
                })
                .take(limit)
                .collect())
        }
    }

    /// The recorded changes of one group's rules by events later than `event_time` (RFC 3339,
    /// as stored), oldest first: one read for a whole event, whatever its rule count.
    fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send;

    /// One stored event record.
    fn event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<EventReport>, PortError>> + Send;
}

/// A change to the allowlist, itself an audit record (who, when, what).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowlistChange {
    pub at: String,
    pub by: String,
    /// `add`, `replace`, `remove` or `import`.
    pub action: String,
    pub entry_id: String,
    pub detail: String,
}

/// Where allowlist entries live.
pub trait AllowlistStore: Send + Sync {
    /// All entries, expired ones included (they approve nothing but are still listed).
    fn entries(&self) -> impl Future<Output = Result<Vec<AllowEntry>, PortError>> + Send;

    /// Adds or replaces one entry.
    fn put(
        &self,
        entry: &AllowEntry,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Removes one entry; `false` when it did not exist.
    fn remove(
        &self,
        id: &str,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Adds or replaces several entries with their change records (`changes` go with
    /// `entries`, in order), atomically where the store can: all of them or none. The
    /// caller validates everything before calling. DynamoDB limits one transaction to 100
    /// items (50 entries with their change records); a larger set is written transaction
    /// by transaction, see `DynamoAllowlist`.
    fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The account and region an event is about: where its rules live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

/// Carries out remediation steps against the cloud (or only reports them), and reads what
/// the cloud holds now so that nothing is changed on a record's word alone. The read
/// methods answer `Ok(None)` when the remediator cannot look (it only reports, offline).
pub trait Remediator: Send + Sync {
    fn execute(
        &self,
        step: &RemediationStep,
    ) -> impl Future<Output = Result<StepResult, PortError>> + Send;

    /// Whether this remediator reads and changes the cloud, and records its intents before
    /// acting (`false`: it only reports).
    fn is_live(&self) -> bool {
        false
    }

    /// The rules among `rule_ids` that exist now (any group), as EC2 holds them.
    fn describe_rules(
        &self,
        scope: &Scope,
        rule_ids: &[String],
    ) -> impl Future<Output = Result<Option<Vec<ObservedRule>>, PortError>> + Send {
        let _ = (scope, rule_ids);
        async { Ok(None) }
    }

    /// Every rule of one group now.
    fn describe_group(
        &self,
        scope: &Scope,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<ObservedRule>>, PortError>> + Send {
        let _ = (scope, group_id);
        async { Ok(None) }
    }

    /// A managed prefix list with its entries at `version` (`None`: the current version).
    /// `Ok(None)` also when there is no such list or version.
    fn prefix_list(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
        version: Option<i64>,
    ) -> impl Future<Output = Result<Option<PrefixList>, PortError>> + Send {
        let _ = (scope, prefix_list_id, version);
        async { Ok(None) }
    }

    /// The security-group rules of `scope` that reference a prefix list.
    fn prefix_list_references(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<Reference>>, PortError>> + Send {
        let _ = (scope, prefix_list_id);
        async { Ok(None) }
    }
}

/// Ports are used through shared references too (one store serving as audit log and
/// allowlist), so a reference to a port is a port.
impl<T: AuditLog> AuditLog for &T {
    fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[sgguard_core::Outcome],
    ) -> impl Future<Output = Result<Begin, PortError>> + Send {
        (**self).begin(report, raw, lease, take_over)
    }
    fn complete(
        &self,
        report: &EventReport,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).complete(report, lease)
    }
    fn release(
        &self,
        event_id: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).release(event_id, lease)
    }
    fn record_invalid(
        &self,
        record: &InvalidRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).record_invalid(record)
    }
    fn rule_history(
        &self,
        rule_id: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        (**self).rule_history(rule_id)
    }
    fn rule_history_page(
        &self,
        rule_id: &str,
        until: &str,
        before: Option<(&str, &str)>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        (**self).rule_history_page(rule_id, until, before, limit)
    }
    fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        (**self).changes_after(group_id, event_time)
    }
    fn event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<EventReport>, PortError>> + Send {
        (**self).event(event_id)
    }
}

impl<T: AllowlistStore> AllowlistStore for &T {
    fn entries(&self) -> impl Future<Output = Result<Vec<AllowEntry>, PortError>> + Send {
        (**self).entries()
    }
    fn put(
        &self,
        entry: &AllowEntry,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).put(entry, change)
    }
    fn remove(
        &self,
        id: &str,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        (**self).remove(id, change)
    }
    fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).put_many(entries, changes)
    }
}

impl<T: Remediator> Remediator for &T {
    fn execute(
        &self,
        step: &RemediationStep,
    ) -> impl Future<Output = Result<StepResult, PortError>> + Send {
        (**self).execute(step)
    }
    fn is_live(&self) -> bool {
        (**self).is_live()
    }
    fn describe_rules(
        &self,
        scope: &Scope,
        rule_ids: &[String],
    ) -> impl Future<Output = Result<Option<Vec<ObservedRule>>, PortError>> + Send {
        (**self).describe_rules(scope, rule_ids)
    }
    fn describe_group(
        &self,
        scope: &Scope,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<ObservedRule>>, PortError>> + Send {
        (**self).describe_group(scope, group_id)
    }
    fn prefix_list(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
        version: Option<i64>,
    ) -> impl Future<Output = Result<Option<PrefixList>, PortError>> + Send {
        (**self).prefix_list(scope, prefix_list_id, version)
    }
    fn prefix_list_references(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<Reference>>, PortError>> + Send {
        (**self).prefix_list_references(scope, prefix_list_id)
    }
}

/// Filters for reading the audit log (`sgguard audit`). All given filters must hold; each
/// store maps a combination to its most selective index and applies [`AuditFilter::matches`]
/// to what the index returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub group_id: Option<String>,
    /// An exact actor or principal ARN, or a glob (`*`, `?`) over either.
    pub actor: Option<String>,
    pub rule_id: Option<String>,
    pub event_id: Option<String>,
    /// Any of these outcomes; empty means any.
    pub outcomes: Vec<sgguard_core::Outcome>,
    pub min_risk: Option<sgguard_core::RiskLevel>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// Whether `actor` is a glob rather than an exact ARN.
    pub fn actor_is_glob(&self) -> bool {
        self.actor
            .as_deref()
            .is_some_and(|a| a.contains(['*', '?']))
    }

    /// The final check every store applies, so both answer the same question.
    pub fn matches(&self, report: &EventReport) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        let group_ok = self.group_id.as_ref().is_none_or(|g| {
            report.group_id.as_ref() == Some(g) || report.group_name.as_ref() == Some(g)
        });
        let actor_ok = self.actor.as_deref().is_none_or(|pattern| {
            let glob = wildmatch::WildMatch::new(pattern);
            [&report.actor, &report.principal]
                .into_iter()
                .flatten()
                .any(|arn| arn == pattern || glob.matches(arn))
        });
        let rule_ok = self
            .rule_id
            .as_ref()
            .is_none_or(|r| report.changes.iter().any(|c| c.rule_id.as_ref() == Some(r)));
        let outcome_ok = self.outcomes.is_empty() || self.outcomes.contains(&report.outcome);
        let risk_ok = self
            .min_risk
            .is_none_or(|min| report.changes.iter().any(|c| c.risk >= min));
        let time = report
            .event_time
            .as_deref()
            .and_then(sgguard_core::time::parse_event_time);
        let since_ok = self.since.is_none_or(|s| time.is_some_and(|t| t >= s));
        let until_ok = self.until.is_none_or(|u| time.is_some_and(|t| t <= u));
        group_ok
            && actor_ok
            && rule_ok
            && eq(&self.event_id, &report.event_id)
            && outcome_ok
            && risk_ok
            && eq(&self.account, &report.account)
            && eq(&self.region, &report.region)
            && since_ok
            && until_ok
    }

    /// The final check on an allowlist change (`sgguard audit --kind allowlist`): `actor`
    /// (exact or glob) against who made it, `since`/`until` against when. The other filters
    /// describe events and do not apply.
    pub fn matches_change(&self, change: &AllowlistChange) -> bool {
        let by_ok = self.actor.as_deref().is_none_or(|pattern| {
            change.by == pattern || wildmatch::WildMatch::new(pattern).matches(&change.by)
        });
        let time = sgguard_core::time::parse_event_time(&change.at);
        let since_ok = self.since.is_none_or(|s| time.is_some_and(|t| t >= s));
        let until_ok = self.until.is_none_or(|u| time.is_some_and(|t| t <= u));
        by_ok && since_ok && until_ok
    }
}

/// Reading the audit log, for people (`sgguard audit`, `sgguard report`).
pub trait AuditReader: Send + Sync {
    /// Events matching `filter`, newest first, at most `filter.limit`.
    fn query(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<EventReport>, PortError>> + Send;

    /// The raw CloudTrail record of one event.
    fn raw_event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<Value>, PortError>> + Send;

    /// Changes to the allowlist in a time range, newest first.
    fn allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<AllowlistChange>, PortError>> + Send;
}
