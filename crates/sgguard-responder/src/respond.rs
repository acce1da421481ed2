//! The pipeline for one record: admit (classify, normalize), gather what the decision
//! needs (rule histories, the allowlist, and from EC2 prefix-list contents), judge (decide
//! and plan), claim the event (a conditional write with a lease, so a duplicate delivery is
//! detected and concurrent deliveries act once), act (compare with what EC2 holds, then
//! change only what still matches), and record the outcome. A retry of an interrupted event
//! takes the lease over and is judged afresh; nothing is reverted twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sgguard_core::event::RecordClass;
use sgguard_core::{
    Action, Allowlist, ChangeKind, ChangeSet, Context, Direction, Intents, Mode, Outcome, Policy,
    PrefixLists, classify_record, decide, normalize,
};

use crate::act::{self, Settled};
use crate::error::{Error, PortError, error_chain};
use crate::plan::{RemediationStep, RestoreTarget, StepKind, StepStatus, plan, restore_targets};
use crate::ports::{
    AllowlistStore, AuditLog, Begin, InvalidRecord, Lease, Remediator, RuleSnapshot, Scope,
};
use crate::report::{ContentReport, EventReport, Origin};

/// How long a modification of a rule with no recorded history waits for the record of the
/// rule's creation, by default (`SGGUARD_HISTORY_GRACE_SECS`).
pub const DEFAULT_HISTORY_GRACE: Duration = Duration::from_secs(180);
/// How long one attempt holds an event's lease, by default: longer than one invocation.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(90);

/// How far a record's `eventTime` may be ahead of this clock (skew between hosts).
const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// The time a remediation step may take (a read, a change and a confirmation, each bounded
/// by the SDK's timeouts) plus recording the outcome: no step starts with less left before
/// the invocation's deadline.
pub const STEP_MARGIN: Duration = Duration::from_secs(20);

/// How many of a rule's recorded changes one history read asks for.
const HISTORY_PAGE: usize = 16;

/// The orchestrator, generic over its ports so every adapter pairing runs the same code.
#[derive(Debug)]
pub struct Responder<A, L, R> {
    audit: A,
    allowlist: L,
    remediator: R,
    policy: Policy,
    retry_failed: bool,
    history_grace: Duration,
    lease: Duration,
}

/// What the decision needs besides the event, gathered before judging.
#[derive(Debug, Default)]
struct Facts {
    histories: HashMap<String, Vec<RuleSnapshot>>,
    allowlist: Allowlist,
    /// Set when the allowlist cannot be used: nothing is reverted then.
    allowlist_error: Option<PortError>,
    prefix_lists: PrefixLists,
    intents: Intents,
}

/// What claiming the event's record said.
enum Claim {
    /// Ours to finish: a first delivery, or a record taken over.
    Proceed { resumed: Option<Resumed> },
    /// Already settled: the duplicate's report.
    Settled(Box<EventReport>),
}

/// A record taken over: interrupted, a failed revert retried on request, or written by a
/// run that never acts.
#[derive(Debug, Clone, Copy)]
struct Resumed {
    outcome: Outcome,
    was_live: bool,
}

impl<A: AuditLog, L: AllowlistStore, R: Remediator> Responder<A, L, R> {
    pub fn new(audit: A, allowlist: L, remediator: R, policy: Policy) -> Self {
        Self {
            audit,
            allowlist,
            remediator,
            policy,
            retry_failed: false,
            history_grace: DEFAULT_HISTORY_GRACE,
            lease: DEFAULT_LEASE,
        }
    }

    /// Acts again on events already recorded as `revert_failed` (an operator's choice, after
    /// fixing what made the revert fail), instead of reporting them as duplicates. The event
    /// is judged afresh against today's allowlist and policy, so a rule approved since is
    /// left alone; what was reverted before counts as already gone. Only under enforce.
    pub fn retrying_failed(mut self, retry: bool) -> Self {
        self.retry_failed = retry && self.policy.mode == Mode::Enforce;
        self
    }

    /// How long a modification of a rule with no recorded history is deferred (retryably)
    /// after its event, so that the record of the rule's creation arrives first.
    pub fn with_history_grace(mut self, grace: Duration) -> Self {
        self.history_grace = grace;
        self
    }

    /// How long one attempt holds an event's lease.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn audit(&self) -> &A {
        &self.audit
    }

    /// Handles one CloudTrail record. `Err` only when the event must be delivered again
    /// (`is_retryable`: a port failed, another worker holds it, or it is deferred) or could
    /// not even be kept as invalid.
    ///
    /// The steps: classify and normalize the record, gather what the decision needs (the
    /// allowlist, the rule's history, EC2's state when acting), judge, claim the event in
    /// the audit log (a second delivery gets back what was stored), act and confirm, and
    /// record the outcome.
    ///
    /// ```
    /// use sgguard_core::testing::Authorize;
    /// use sgguard_core::{Mode, Outcome, Policy};
    /// use sgguard_local::SqliteStore;
    /// use sgguard_responder::{ReportOnlyRemediator, Responder, StaticAllowlist};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let audit = SqliteStore::open_in_memory()?;
    /// let policy = Policy { mode: Mode::Enforce, ..Policy::default() };
    /// let responder =
    ///     Responder::new(&audit, StaticAllowlist::default(), ReportOnlyRemediator, policy);
    /// let record = Authorize::new("e-1", "sg-0a1b2c3d4e5f60718")
    ///     .tcp("sgr-0aaaaaaaaaaaaaaa1", 22, "0.0.0.0/0")
    ///     .build();
    ///
    /// // The report-only remediator never calls EC2: it says what a revert would do.
    /// let report = responder.handle(&record, None).await?;
    /// assert_eq!(report.outcome, Outcome::WouldRevert);
    /// assert!(report.changes[0].remediation.as_deref().unwrap().contains("sgr-0aaaaaaaaaaaaaaa1"));
    ///
    /// // The same event delivered again is recorded once and acted on once.
    /// let again = responder.handle(&record, None).await?;
    /// assert_eq!(again.outcome, Outcome::Duplicate);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn handle(
        &self,
        record: &Value,
        origin: Option<Origin>,
    ) -> Result<EventReport, Error> {
        self.handle_until(record, origin, None).await
    }

    /// [`Responder::handle`] within a time budget: no remediation step starts with less
    /// than [`STEP_MARGIN`] left before `deadline` (the Lambda's, from the Runtime API).
    /// The event then stays pending and the error is retryable ([`Error::OutOfTime`]).
    pub async fn handle_until(
        &self,
        record: &Value,
        origin: Option<Origin>,
        deadline: Option<Instant>,
    ) -> Result<EventReport, Error> {
        let mut set = match classify_record(record) {
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
            RecordClass::SecurityGroupCall { .. } => match normalize(record) {
                Ok(set) => set,
                Err(err) => {
                    return self
                        .keep_invalid(record.clone(), origin, err.to_string())
                        .await;
                }
            },
        };
        let now = Utc::now();
        // A record from the future would count as the latest change of its rules and make
        // every real change after it look stale: it is not a record CloudTrail wrote.
        if set.meta.event_time > now + MAX_CLOCK_SKEW {
            let error = format!(
                "`eventTime` {} is in the future (now {}): not acted on",
                sgguard_core::time::format_time(&set.meta.event_time),
                sgguard_core::time::format_time(&now)
            );
            return self.keep_invalid(record.clone(), origin, error).await;
        }
        let facts = self.gather(&mut set, now).await?;
        let (mut report, steps) = self.judge(&set, &facts, now);
        report.origin = origin.clone();
        let lease = Lease::new(self.lease, self.remediator.is_live());
        let resumed = match self.claim(&report, record, &lease, &facts, origin).await? {
            Claim::Settled(duplicate) => return Ok(*duplicate),
            Claim::Proceed { resumed } => resumed,
        };
        let finished = self
            .finish(&mut report, steps, resumed, &facts, &lease, deadline)
            .await;
        if let Err(err) = &finished {
            // Let the retry take over at once instead of waiting for the lease to expire.
            let event_id = report.event_id.clone().unwrap_or_default();
            if let Err(release) = self.audit.release(&event_id, &lease).await {
                tracing::warn!(error = %error_chain(&release), cause = %error_chain(err), "lease not released; it expires by itself");
            }
        }
        finished?;
        Ok(report)
    }

    /// Acts on a claimed event, and records its outcome.
    async fn finish(
        &self,
        report: &mut EventReport,
        steps: Vec<RemediationStep>,
        resumed: Option<Resumed>,
        facts: &Facts,
        lease: &Lease,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let acting = report.outcome == Outcome::Pending;
        if acting {
            // An earlier live attempt may have acted already: what it did is recognised.
            let earlier_attempt = resumed.is_some_and(|r| r.was_live);
            self.act(report, steps, earlier_attempt, facts, deadline)
                .await?;
        }
        match resumed {
            Some(Resumed {
                was_live: false, ..
            }) if lease.live => {
                report.reason = format!(
                    "recorded before by a run that never acts (replay or a dry run), handled now: {}",
                    report.reason
                );
            }
            Some(Resumed {
                outcome: Outcome::RevertFailed,
                ..
            }) => {
                report.reason = format!("retried after revert_failed: {}", report.reason);
            }
            Some(_) if self.policy.mode == Mode::Audit => {
                report.reason = format!(
                    "pending enforcement not carried out: the responder now runs in {} mode; {}",
                    self.policy.mode, report.reason
                );
            }
            _ => {}
        }
        if acting || resumed.is_some() {
            self.audit
                .complete(report, lease)
                .await
                .map_err(Error::Audit)?;
        }
        Ok(())
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

    /// Reads what the decision needs: the history of modified rules, the allowlist, and
    /// from EC2 (when the remediator can look) the contents of prefix lists, the entries a
    /// prefix-list call really changed, and the direction of modified rules with no history.
    async fn gather(&self, set: &mut ChangeSet, now: DateTime<Utc>) -> Result<Facts, Error> {
        let mut facts = Facts {
            histories: self.histories(set).await?,
            ..Facts::default()
        };
        self.defer_if_early(set, &facts.histories, now)?;
        // Only a live responder records intents; a replayed or dry-run record never does.
        for (rule_id, history) in &facts.histories {
            for snapshot in history.iter().filter(|s| s.live) {
                if let Some(content) = snapshot
                    .change
                    .restore_to
                    .as_ref()
                    .and_then(ContentReport::content)
                {
                    facts.intents.add(rule_id.clone(), content);
                }
            }
        }
        self.resolve_directions(set, &facts.histories).await?;
        // An allowlist that cannot be read must neither approve nor condemn: the event is
        // still recorded, judged on risk alone, and nothing is reverted. Outages are retried.
        match self.allowlist.entries().await {
            Ok(entries) => facts.allowlist = Allowlist::new(entries),
            Err(err) if err.is_retryable() => return Err(Error::Allowlist(err)),
            Err(err) => facts.allowlist_error = Some(err),
        }
        if self.remediator.is_live() {
            let scope = scope_of(set);
            if let Some(list_id) = set.prefix_list_id.clone() {
                match self
                    .read_list_change(set, &scope, &list_id, &mut facts.prefix_lists)
                    .await
                {
                    Ok(()) => {}
                    Err(Error::Remediation(err)) if !err.is_retryable() => {
                        let note = format!(
                            "{list_id} could not be read from EC2 ({}); as the record states it",
                            error_chain(&err)
                        );
                        for change in &mut set.changes {
                            change.note = Some(note.clone());
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
            self.read_list_sources(set, &scope, &mut facts.prefix_lists)
                .await?;
        } else if set.prefix_list_id.is_some() {
            for change in &mut set.changes {
                change.note =
                    Some("as the record states it; not confirmed with EC2 (offline)".into());
            }
        }
        Ok(facts)
    }

    /// The recorded history of every modified rule, as far back as a restore needs: read
    /// newest first, in pages, up to its last content the policy accepted (or a removal),
    /// by events at or before this one. A rule changed a thousand times costs a page; no
    /// fixed window can hide its accepted content or sgguard's own recorded intent.
    async fn histories(
        &self,
        set: &ChangeSet,
    ) -> Result<HashMap<String, Vec<RuleSnapshot>>, Error> {
        let until = sgguard_core::time::format_time(&set.meta.event_time);
        let event_id = set.meta.event_id.as_str();
        let mut histories = HashMap::new();
        for change in set
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Modified)
        {
            let Some(rule_id) = &change.rule_id else {
                continue;
            };
            if histories.contains_key(rule_id) {
                continue;
            }
            let mut history: Vec<RuleSnapshot> = Vec::new();
            loop {
                let before = history
                    .last()
                    .map(|s| (s.event_time.as_str(), s.event_id.as_str()));
                let page = self
                    .audit
                    .rule_history_page(rule_id, &until, before, HISTORY_PAGE)
                    .await
                    .map_err(Error::Audit)?;
                let full = page.len() >= HISTORY_PAGE;
                history.extend(page);
                let reached = history.iter().any(|s| {
                    s.event_id != event_id
                        && (s.change.kind == ChangeKind::Removed
                            || s.change.was_accepted(self.policy.min_risk))
                });
                if reached || !full {
                    break;
                }
            }
            history.reverse();
            histories.insert(rule_id.clone(), history);
        }
        Ok(histories)
    }

    /// Under enforce, a modification of a rule with no recorded history, while its event is
    /// young, waits (retryably) for the record of the rule's creation: EventBridge does not
    /// deliver in order, and without history there is nothing to restore.
    fn defer_if_early(
        &self,
        set: &ChangeSet,
        histories: &HashMap<String, Vec<RuleSnapshot>>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if self.policy.mode != Mode::Enforce || !self.remediator.is_live() {
            return Ok(());
        }
        let event_id = &set.meta.event_id;
        let unknown: Vec<&str> = set
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Modified)
            .filter_map(|c| c.rule_id.as_deref())
            .filter(|id| {
                histories
                    .get(*id)
                    .is_none_or(|h| h.iter().all(|s| &s.event_id == event_id))
            })
            .collect();
        let age = now.signed_duration_since(set.meta.event_time);
        let grace = chrono::Duration::from_std(self.history_grace).unwrap_or(chrono::Duration::MAX);
        if unknown.is_empty() || age >= grace {
            return Ok(());
        }
        Err(Error::Deferred(format!(
            "{} modified {} with no recorded history, {}s after the event; waiting up to {}s for the record of its creation",
            set.meta.event_name,
            unknown.join(", "),
            age.num_seconds(),
            self.history_grace.as_secs()
        )))
    }

    /// Gives a modified rule the direction its history records, or (under enforce, where an
    /// egress rule must not be reverted without opt-in) the direction EC2 holds. Otherwise
    /// it stays unknown, which is flagged, never reverted as egress.
    async fn resolve_directions(
        &self,
        set: &mut ChangeSet,
        histories: &HashMap<String, Vec<RuleSnapshot>>,
    ) -> Result<(), Error> {
        let mut ask = Vec::new();
        for change in set
            .changes
            .iter_mut()
            .filter(|c| c.direction == Direction::Unknown && c.kind == ChangeKind::Modified)
        {
            let Some(rule_id) = &change.rule_id else {
                continue;
            };
            let known = histories.get(rule_id).and_then(|h| {
                h.iter()
                    .rev()
                    .map(|s| s.change.direction)
                    .find(|d| *d != Direction::Unknown)
            });
            match known {
                Some(direction) => change.direction = direction,
                None => ask.push(rule_id.clone()),
            }
        }
        if ask.is_empty() || self.policy.mode != Mode::Enforce {
            return Ok(());
        }
        let observed = match self.remediator.describe_rules(&scope_of(set), &ask).await {
            Ok(observed) => observed.unwrap_or_default(),
            Err(err) if err.is_retryable() => return Err(Error::Remediation(err)),
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), "rule directions not found");
                Vec::new()
            }
        };
        for change in &mut set.changes {
            if let Some(rule) = observed
                .iter()
                .find(|r| change.rule_id.as_deref() == Some(r.rule_id.as_str()))
                && change.direction == Direction::Unknown
            {
                change.direction = rule.direction;
            }
        }
        Ok(())
    }

    /// A prefix-list call: the list as EC2 holds it now, and the rules that reference it.
    /// A `ModifyManagedPrefixList` names its entries in its (authentic) request; the entries
    /// a `RestoreManagedPrefixListVersion` changed are read from the list's two versions.
    async fn read_list_change(
        &self,
        set: &mut ChangeSet,
        scope: &Scope,
        list_id: &str,
        lists: &mut PrefixLists,
    ) -> Result<(), Error> {
        let remote = Error::Remediation;
        let Some(mut current) = self
            .remediator
            .prefix_list(scope, list_id, None)
            .await
            .map_err(remote)?
        else {
            for change in &mut set.changes {
                change.note = Some(format!("{list_id} no longer exists"));
            }
            return Ok(());
        };
        if let Some(restored) = set.restores_version {
            let version = |v| async move {
                self.remediator
                    .prefix_list(scope, list_id, Some(v))
                    .await
                    .map(|l| l.map(|l| l.entries).unwrap_or_default())
                    .map_err(remote)
            };
            let (from, from_note) = match set.prefix_list_version {
                Some(v) => (version(v).await?, format!("version {v}")),
                None => (
                    current.entries.clone(),
                    "the current version (the record names none)".to_owned(),
                ),
            };
            let target = version(restored).await?;
            let note = format!(
                "read from EC2: the entries of {list_id} version {restored} restored over {from_note}"
            );
            let entry = |net: &ipnet::IpNet, kind| sgguard_core::RuleChange {
                rule_id: None,
                direction: Direction::Unknown,
                kind,
                content: Some(sgguard_core::RuleContent {
                    protocol: sgguard_core::Protocol::All,
                    from_port: None,
                    to_port: None,
                    source: crate::plan::source_of(*net),
                    description: None,
                }),
                note: Some(note.clone()),
            };
            let added = target.iter().filter(|e| !from.contains(e));
            let removed = from.iter().filter(|e| !target.contains(e));
            set.changes = added
                .map(|e| entry(e, ChangeKind::EntryAdded))
                .chain(removed.map(|e| entry(e, ChangeKind::EntryRemoved)))
                .collect();
        }
        if set.changes.iter().any(|c| c.kind == ChangeKind::EntryAdded) {
            current.references = self
                .remediator
                .prefix_list_references(scope, list_id)
                .await
                .map_err(remote)?;
        }
        lists.insert(current);
        Ok(())
    }

    /// The current entries of every prefix list a new or modified rule uses as its source.
    async fn read_list_sources(
        &self,
        set: &ChangeSet,
        scope: &Scope,
        lists: &mut PrefixLists,
    ) -> Result<(), Error> {
        for change in set
            .changes
            .iter()
            .filter(|c| matches!(c.kind, ChangeKind::Added | ChangeKind::Modified))
        {
            let Some(sgguard_core::Source::PrefixList(id)) =
                change.content.as_ref().map(|c| &c.source)
            else {
                continue;
            };
            if lists.get(id).is_some() {
                continue;
            }
            match self.remediator.prefix_list(scope, id, None).await {
                Ok(Some(list)) => lists.insert(list),
                Ok(None) => {}
                Err(err) if err.is_retryable() => return Err(Error::Remediation(err)),
                // Unresolved, the list is classified as such (its reason says so).
                Err(err) => {
                    tracing::warn!(prefix_list = %id, error = %error_chain(&err), "prefix list not read")
                }
            }
        }
        Ok(())
    }

    /// Decides, and plans what enforcement would do.
    fn judge(
        &self,
        set: &ChangeSet,
        facts: &Facts,
        now: DateTime<Utc>,
    ) -> (EventReport, Vec<RemediationStep>) {
        let live = self.remediator.is_live();
        let context = Context {
            allowlist: &facts.allowlist,
            now,
            prefix_lists: &facts.prefix_lists,
            intents: &facts.intents,
            live,
        };
        let mut decision = decide(set, &context, &self.policy);
        if let Some(err) = &facts.allowlist_error {
            tracing::error!(error = %error_chain(err), "allowlist unusable; recording without acting");
            hold_back(&mut decision, err);
        }
        let mut report = EventReport::from_decision(set, &decision);
        if let (Some(restored), false) = (set.restores_version, live) {
            report.reason = format!(
                "{} restored version {restored}; which entries that changed is known only from EC2 (offline), so nothing was judged",
                set.group_label()
            );
        }
        let restores = restore_targets(
            &report,
            &facts.histories,
            &facts.allowlist,
            &self.policy,
            now,
        );
        let steps = plan(&report, &restores);
        let prefix = match self.policy.mode {
            Mode::Audit => "would ",
            Mode::Enforce => "planned: ",
        };
        for step in &steps {
            for &index in &step.changes {
                let Some(change) = report.changes.get_mut(index) else {
                    continue;
                };
                change.remediation = Some(format!("{prefix}{}", step.describe_change(change)));
                // The intent is recorded before acting, so the responder's own restore,
                // delivered back as an event, is provably its own.
                if let (StepKind::Restore { content, .. }, Action::Pending, true) =
                    (&step.kind, change.action, live)
                {
                    change.restore_to = Some(ContentReport::of(content));
                }
            }
        }
        for (rule_id, target) in &restores {
            if let RestoreTarget::Revoke(why) = target {
                tracing::debug!(rule_id, why, "no restore target");
            }
        }
        flag_unplanned(&mut report, &steps, &self.policy);
        if let Some(err) = &facts.allowlist_error {
            report.allowlist_error = Some(error_chain(err));
        }
        (report, steps)
    }

    /// Records the event, or finds it recorded: a duplicate is reported as such; an
    /// interrupted one (or a failed revert, on request) is taken over when its lease is free.
    async fn claim(
        &self,
        report: &EventReport,
        record: &Value,
        lease: &Lease,
        facts: &Facts,
        origin: Option<Origin>,
    ) -> Result<Claim, Error> {
        let retake_failed = self.retry_failed && facts.allowlist_error.is_none();
        let take_over: &[Outcome] = if retake_failed {
            &[Outcome::Pending, Outcome::RevertFailed]
        } else {
            &[Outcome::Pending]
        };
        let begin = self
            .audit
            .begin(report, record, lease, take_over)
            .await
            .map_err(Error::Audit)?;
        match begin {
            Begin::Inserted => Ok(Claim::Proceed { resumed: None }),
            Begin::Resumed { stored, was_live } => {
                tracing::info!(event_id = ?stored.event_id, outcome = %stored.outcome, was_live, "taking over an event");
                Ok(Claim::Proceed {
                    resumed: Some(Resumed {
                        outcome: stored.outcome,
                        was_live,
                    }),
                })
            }
            Begin::Busy { until } => Err(Error::Busy {
                event_id: report.event_id.clone().unwrap_or_default(),
                until,
            }),
            Begin::Existing(stored) => {
                let reason = format!("event already recorded with outcome {}", stored.outcome);
                let mut duplicate = *stored;
                duplicate.outcome = Outcome::Duplicate;
                duplicate.reason = reason;
                duplicate.origin = origin;
                Ok(Claim::Settled(Box::new(duplicate)))
            }
        }
    }

    /// Carries out the pending steps: each step's rules are read from EC2 just before it
    /// runs, and only what still matches the event (and no later recorded change) is acted
    /// on. A retryable failure leaves the record pending for the retry; a permanent one is
    /// recorded as `failed` on the changes it concerns. `earlier_attempt`: a live attempt at
    /// this event may have acted before, so a rule already restored is recognised.
    async fn act(
        &self,
        report: &mut EventReport,
        steps: Vec<RemediationStep>,
        earlier_attempt: bool,
        facts: &Facts,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let live = self.remediator.is_live();
        let scope = Scope {
            account: report.account.clone().unwrap_or_default(),
            region: report.region.clone().unwrap_or_default(),
        };
        let later = if live {
            self.later_changes(report, &steps, &facts.histories).await?
        } else {
            HashMap::new()
        };
        let mut gone = 0;
        let total = steps.len();
        for (taken, step) in steps.into_iter().enumerate() {
            // A step is a read, a change and a confirmation: start one only with time for it
            // and for recording the outcome. The retry finds the steps taken settled in EC2.
            if let Some(remaining) = deadline.map(|d| d.saturating_duration_since(Instant::now()))
                && remaining < STEP_MARGIN
                && live
            {
                return Err(Error::OutOfTime {
                    left: total - taken,
                    remaining_ms: remaining.as_millis(),
                });
            }
            let (run, settled) = if live {
                self.check(step, report, &scope, &later, earlier_attempt)
                    .await?
            } else {
                (Some(step), Vec::new())
            };
            for Settled {
                index,
                action,
                detail,
            } in settled
            {
                if action == Action::Reverted {
                    gone += 1;
                }
                settle(report, index, action, detail);
            }
            let Some(step) = run else {
                continue;
            };
            // A permission matched to EC2's rule by content: record the rule it is.
            if let StepKind::RevokeRules { rule_ids } = &step.kind {
                for (id, &index) in rule_ids.iter().zip(&step.changes) {
                    if let Some(change) = report.changes.get_mut(index)
                        && change.rule_id.is_none()
                    {
                        change.rule_id = Some(id.clone());
                    }
                }
            }
            let (action, detail) = match self.remediator.execute(&step).await {
                Ok(result) => {
                    if result.status == StepStatus::AlreadyGone {
                        gone += step.changes.len();
                    }
                    (result.action(), result.detail)
                }
                Err(err) if err.is_retryable() => return Err(Error::Remediation(err)),
                Err(err) => (Action::Failed, format!("failed: {}", error_chain(&err))),
            };
            for &index in &step.changes {
                let text = report
                    .changes
                    .get(index)
                    .map(|c| format!("{}: {detail}", step.describe_change(c)))
                    .unwrap_or_default();
                settle(report, index, action, text);
            }
        }
        // Whatever no step settled is flagged, never left waiting for a retry that cannot
        // settle it either.
        for change in &mut report.changes {
            if change.action == Action::Pending {
                change.action = Action::Flagged;
                change.remediation =
                    Some("not reverted: no step settled this change; revert by hand".into());
            }
        }
        let (outcome, mut reason) = finished(report, &self.policy, gone);
        // What the decision said about whose identity made the call still holds.
        if let Some(at) = report.reason.find(BORROWED_NOTE) {
            reason.push_str(&report.reason[at..]);
        }
        report.outcome = outcome;
        report.reason = reason;
        Ok(())
    }

    /// Compares one step with what EC2 holds, just before it runs: what is left to do, and
    /// what the comparison settled. A permanent failure to read fails the step's changes
    /// (never acted on blind); an outage or throttling is retried.
    async fn check(
        &self,
        step: RemediationStep,
        report: &EventReport,
        scope: &Scope,
        later: &HashMap<String, String>,
        earlier_attempt: bool,
    ) -> Result<act::Checked, Error> {
        let checked = match &step.kind {
            StepKind::RevokePermissions { .. } => match &report.group_id {
                Some(group) => permanent(self.remediator.describe_group(scope, group).await)?
                    .map(Option::unwrap_or_default)
                    .map(|group| act::match_permissions(step.clone(), report, &group)),
                // A group named only by name cannot be read back, so nothing is acted on.
                None => return Ok((None, act::named_only(&step, report))),
            },
            StepKind::RemoveEntries { prefix_list_id, .. } => {
                let current = permanent(
                    self.remediator
                        .prefix_list(scope, prefix_list_id, None)
                        .await,
                )?;
                if let Ok(Some(list)) = &current
                    && list.busy
                {
                    return Err(Error::Remediation(PortError::retryable(format!(
                        "{prefix_list_id} is being modified; its entries are not final yet"
                    ))));
                }
                current.map(|current| act::present_entries(step.clone(), current.as_ref()))
            }
            StepKind::RevokeRules { .. } | StepKind::Restore { .. } => permanent(
                self.remediator
                    .describe_rules(scope, &step.rule_ids())
                    .await,
            )?
            .map(Option::unwrap_or_default)
            .map(|observed| {
                act::verify_step(step.clone(), report, &observed, later, earlier_attempt)
            }),
        };
        Ok(checked.unwrap_or_else(|err| (None, act::unread(&step, &report.changes, &err))))
    }

    /// For each rule a step would change: a later recorded change of it by another event,
    /// described. Acting on a late event must not undo a newer change, even one that put
    /// the same content back. The histories read for modified rules answer for them; the
    /// rest is one read of the group's later changes.
    async fn later_changes(
        &self,
        report: &EventReport,
        steps: &[RemediationStep],
        known: &HashMap<String, Vec<RuleSnapshot>>,
    ) -> Result<HashMap<String, String>, Error> {
        let event_id = report.event_id.clone().unwrap_or_default();
        let event_time = report.event_time.clone().unwrap_or_default();
        let rule_ids: Vec<String> = steps.iter().flat_map(RemediationStep::rule_ids).collect();
        let fetched;
        let snapshots: Vec<&RuleSnapshot> = if rule_ids.iter().all(|id| known.contains_key(id)) {
            rule_ids.iter().flat_map(|id| &known[id]).collect()
        } else {
            fetched = match &report.group_id {
                Some(group) => self
                    .audit
                    .changes_after(group, &event_time)
                    .await
                    .map_err(Error::Audit)?,
                None => Vec::new(),
            };
            fetched.iter().collect()
        };
        let mut later = HashMap::new();
        for snapshot in snapshots
            .into_iter()
            .filter(|s| s.event_id != event_id && s.event_time > event_time)
        {
            let Some(rule_id) = snapshot
                .change
                .rule_id
                .as_ref()
                .filter(|id| rule_ids.contains(id))
            else {
                continue;
            };
            later.insert(
                rule_id.clone(),
                format!(
                    "a later change of {rule_id} (event {}, {} at {}) is recorded; it is judged on its own",
                    snapshot.event_id, snapshot.event_name, snapshot.event_time
                ),
            );
        }
        Ok(later)
    }
}

/// Splits a port result into a retryable failure (returned, so the event is retried) and
/// the rest (kept, so the caller records a permanent failure where it happened).
fn permanent<T>(result: Result<T, PortError>) -> Result<Result<T, PortError>, Error> {
    match result {
        Err(err) if err.is_retryable() => Err(Error::Remediation(err)),
        other => Ok(other),
    }
}

/// How a decision's reason marks a call made with the responder's identity.
const BORROWED_NOTE: &str = "; made with the responder's identity";

fn scope_of(set: &ChangeSet) -> Scope {
    Scope {
        account: set.meta.account.clone(),
        region: set.meta.region.clone(),
    }
}

/// Every change marked for reverting that no step can revert is flagged, with why: an
/// event never waits `pending` for an action that cannot come.
fn flag_unplanned(report: &mut EventReport, steps: &[RemediationStep], policy: &Policy) {
    let planned: std::collections::HashSet<usize> = steps
        .iter()
        .flat_map(|s| s.changes.iter().copied())
        .collect();
    let mut why_first = None;
    let mut flagged = 0;
    for (index, change) in report.changes.iter_mut().enumerate() {
        if planned.contains(&index)
            || !matches!(change.action, Action::Pending | Action::WouldRevert)
        {
            continue;
        }
        let why = if change.rule_id.is_none() && change.content().is_none() {
            "the record names neither the rule's id nor its content"
        } else if change.kind == sgguard_core::ChangeKind::EntryAdded {
            "the entry is not a network a prefix list holds"
        } else {
            "no revert step fits this change"
        };
        change.action = Action::Flagged;
        change.remediation = Some(format!("not reverted: {why}; revert by hand"));
        why_first.get_or_insert(why);
        flagged += 1;
    }
    let Some(why) = why_first else {
        return;
    };
    let still_acting = report
        .changes
        .iter()
        .any(|c| matches!(c.action, Action::Pending | Action::WouldRevert));
    if !still_acting {
        report.outcome = Outcome::Flagged;
    }
    report.reason = format!(
        "{flagged} unapproved rule(s) at or above {} cannot be reverted ({why}), flagged; {}",
        policy.min_risk, report.reason
    );
}

fn settle(report: &mut EventReport, index: usize, action: Action, detail: String) {
    if let Some(change) = report.changes.get_mut(index) {
        change.action = action;
        change.remediation = Some(detail);
    }
}

/// The outcome after remediation: the strongest action wins.
fn finished(report: &EventReport, policy: &Policy, gone: usize) -> (Outcome, String) {
    let count = |action: Action| report.changes.iter().filter(|c| c.action == action).count();
    // Flagged with a remediation note: meant to be reverted, and held back by a step that
    // could not act or by no step at all (a flag from the decision alone carries no note).
    let held = report
        .changes
        .iter()
        .filter(|c| c.action == Action::Flagged && c.remediation.is_some())
        .count();
    let outcome = report
        .changes
        .iter()
        .filter_map(|c| Outcome::from_action(c.action))
        .max()
        .unwrap_or(Outcome::Recorded);
    let mut parts = Vec::new();
    for (action, words) in [
        (Action::Reverted, "reverted"),
        (Action::Restored, "restored"),
        (Action::Failed, "failed to revert"),
        (Action::WouldRevert, "dry run, would revert"),
    ] {
        let n = count(action);
        if n > 0 {
            parts.push(format!("{words} {n}"));
        }
    }
    if held > 0 {
        parts.push(format!("could not revert {held} (flagged)"));
    }
    let superseded = count(Action::Superseded);
    let mut reason = if parts.is_empty() {
        format!(
            "{superseded} unapproved rule(s) at or above {}",
            policy.min_risk
        )
    } else {
        format!(
            "{} unapproved rule(s) at or above {}",
            parts.join(", "),
            policy.min_risk
        )
    };
    if gone > 0 {
        reason.push_str(&format!(" ({gone} already gone)"));
    }
    if superseded > 0 {
        let first = report
            .changes
            .iter()
            .find(|c| c.action == Action::Superseded)
            .and_then(|c| c.remediation.clone())
            .unwrap_or_default();
        reason.push_str(&format!(
            "; {superseded} superseded, nothing done to them: {first}"
        ));
    }
    (outcome, reason)
}

/// Without a usable allowlist nothing unapproved can be told from approved: flag, never act.
fn hold_back(decision: &mut sgguard_core::Decision, err: &PortError) {
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
        "allowlist unusable ({}); recorded and flagged, nothing reverted: {}",
        error_chain(err),
        decision.reason
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

#[cfg(test)]
mod tests {
    use sgguard_core::{ChangeKind, Direction, RiskLevel};

    use super::*;
    use crate::report::ChangeReport;

    fn pending_change(rule_id: Option<&str>, source: Option<&str>) -> ChangeReport {
        ChangeReport {
            rule_id: rule_id.map(str::to_owned),
            direction: Direction::Ingress,
            kind: ChangeKind::Added,
            protocol: source.map(|_| "tcp".to_owned()),
            from_port: source.map(|_| 22),
            to_port: source.map(|_| 22),
            source: source.map(str::to_owned),
            source_kind: None,
            description: None,
            risk: RiskLevel::Critical,
            risk_reasons: Vec::new(),
            approved_by: None,
            closest_entry: None,
            action: Action::Pending,
            remediation: None,
            note: None,
            restore_to: None,
        }
    }

    #[test]
    fn a_change_no_step_can_revert_is_flagged_with_why_never_left_pending() {
        let mut report = EventReport::bare(&Value::Null, Outcome::Pending, "decided");
        report.changes = vec![pending_change(None, None)];
        flag_unplanned(&mut report, &[], &Policy::default());
        assert_eq!(report.outcome, Outcome::Flagged);
        assert_eq!(report.changes[0].action, Action::Flagged);
        assert_eq!(
            report.changes[0].remediation.as_deref(),
            Some(
                "not reverted: the record names neither the rule's id nor its content; revert by hand"
            )
        );
        assert!(
            report
                .reason
                .starts_with("1 unapproved rule(s) at or above high cannot be reverted"),
            "{}",
            report.reason
        );
    }

    #[test]
    fn a_planned_change_keeps_the_event_pending() {
        let mut report = EventReport::bare(&Value::Null, Outcome::Pending, "decided");
        report.changes = vec![
            pending_change(Some("sgr-1"), Some("0.0.0.0/0")),
            pending_change(None, None),
        ];
        let step = RemediationStep {
            account: String::new(),
            region: String::new(),
            group_id: Some("sg-1".into()),
            group_name: None,
            direction: Direction::Ingress,
            kind: StepKind::RevokeRules {
                rule_ids: vec!["sgr-1".into()],
            },
            changes: vec![0],
            note: None,
        };
        flag_unplanned(&mut report, &[step], &Policy::default());
        assert_eq!(
            report.outcome,
            Outcome::Pending,
            "one change is still to revert"
        );
        assert_eq!(report.changes[0].action, Action::Pending);
        assert_eq!(report.changes[1].action, Action::Flagged);
    }
}
