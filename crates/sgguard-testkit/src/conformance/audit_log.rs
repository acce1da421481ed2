//! The audit log contract ([`AuditLog`]): the idempotent `begin`, `complete`, `event`, rule
//! histories, a group's later changes and invalid records; the lease rules are in
//! [`leases`] (re-exported here). One function per clause; the tests are listed in
//! [`audit_log_conformance!`](crate::audit_log_conformance).

use serde_json::{Value, json};
use sgguard_core::{Action, ChangeKind, Direction, Outcome, RiskLevel};
use sgguard_responder::{AuditLog, Begin, EventReport, InvalidRecord, Lease, Origin, RuleSnapshot};

use super::fixtures::{ALICE, GROUP, Names, PENDING, change, lease, raw, report};

pub mod large;
pub mod leases;
pub use leases::*;

crate::__audit_log_clauses!(__every_clause!((AuditLog)));

/// The first delivery of an event, begun: two changes (one approved), an origin.
struct FirstDelivery {
    event: String,
    /// The rule of the unapproved change.
    rule: String,
    /// The rule of the approved change.
    approved_rule: String,
    report: EventReport,
    /// What the store holds: the report without its origin.
    stored: EventReport,
    /// The lease the first delivery holds.
    held: Lease,
}

/// Begins the first delivery of a new event and checks that it was inserted as given.
async fn begin_first_delivery<A: AuditLog>(log: &A, names: &Names) -> FirstDelivery {
    // The origin belongs to one run, not to the event.
    let (e1, sgr1, sgr2) = (names.id("e-1"), names.id("sgr-1"), names.id("sgr-2"));
    let mut approved = change(&sgr2, "203.0.113.0/24", 22, ChangeKind::Added, Action::None);
    approved.approved_by = Some("office-ssh".into());
    approved.closest_entry = None;
    approved.risk = RiskLevel::Medium;
    let first = report(
        &e1,
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Pending,
        vec![
            change(&sgr1, "0.0.0.0/0", 22, ChangeKind::Added, Action::Pending),
            approved,
        ],
    )
    .with_origin(Some(Origin {
        file: "events/a.json".into(),
        index: 3,
    }));
    let held = lease();
    assert_eq!(
        log.begin(&first, &raw(&e1), &held, PENDING).await.unwrap(),
        Begin::Inserted,
        "first begin of {e1}"
    );
    let expected = first.clone().with_origin(None);
    assert_eq!(
        log.event(&e1).await.unwrap().as_ref(),
        Some(&expected),
        "event() returns the stored report, origin stripped"
    );
    FirstDelivery {
        event: e1,
        rule: sgr1,
        approved_rule: sgr2,
        report: first,
        stored: expected,
        held,
    }
}

/// A second delivery of `event`, decided differently and from another file.
fn second_delivery(event: &str) -> EventReport {
    report(
        event,
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Approved,
        vec![],
    )
    .with_origin(Some(Origin {
        file: "events/b.json".into(),
        index: 0,
    }))
}

/// The first delivery, completed: the unapproved rule reverted.
fn reverted(first: &FirstDelivery) -> EventReport {
    let mut done = first.report.clone();
    done.outcome = Outcome::Reverted;
    done.reason = "reverted 1 unapproved rule(s) at or above high".into();
    done.changes[0].action = Action::Reverted;
    done.changes[0].remediation = Some(format!(
        "revoke ingress {} by rule id: revoked; confirmed absent",
        first.rule
    ));
    done
}

/// Checks that `first` is stored as it was begun, with one change row for its rule.
async fn unchanged<A: AuditLog>(log: &A, first: &FirstDelivery) {
    assert_eq!(
        log.event(&first.event).await.unwrap().as_ref(),
        Some(&first.stored),
        "a duplicate begin changes nothing"
    );
    assert_eq!(
        log.rule_history(&first.rule).await.unwrap().len(),
        1,
        "a duplicate begin adds no change rows"
    );
}

/// `event` of an id never stored is `None`.
pub async fn event_of_an_id_never_stored_is_none<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    assert_eq!(
        log.event(&names.id("e-unknown")).await.unwrap(),
        None,
        "event() of an unknown id"
    );
}

/// The first `begin` of an event inserts it, and `event` returns it without its origin.
pub async fn begin_inserts_once_and_returns_what_was_stored<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    begin_first_delivery(log, &names).await;
}

/// A second delivery, even one decided differently, gets back what was stored and changes nothing.
pub async fn a_second_delivery_gets_back_exactly_what_was_stored<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let first = begin_first_delivery(log, &names).await;
    let e1 = &first.event;
    match log
        .begin(&second_delivery(e1), &raw(e1), &lease(), &[])
        .await
        .unwrap()
    {
        Begin::Existing(stored) => assert_eq!(
            *stored, first.stored,
            "Existing carries the stored report, origin stripped"
        ),
        other => panic!("a second begin of {e1} must report Existing: {other:?}"),
    }
    unchanged(log, &first).await;
}

/// A pending record whose lease is held is busy for everyone else, until the lease expires.
pub async fn a_pending_record_whose_lease_is_held_is_busy<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let first = begin_first_delivery(log, &names).await;
    let e1 = &first.event;
    match log
        .begin(&second_delivery(e1), &raw(e1), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Busy { until } => assert!(until.starts_with("20"), "{until}"),
        other => panic!("a pending record under a live lease is busy: {other:?}"),
    }
    unchanged(log, &first).await;
}

/// `complete` without the record's lease is refused as retryable and changes nothing.
pub async fn complete_without_the_records_lease_is_refused_and_changes_nothing<A: AuditLog>(
    log: &A,
) {
    let names = Names::new("conf");
    let first = begin_first_delivery(log, &names).await;
    let done = reverted(&first);
    let err = log
        .complete(&done, &lease())
        .await
        .expect_err("complete without the record's lease must fail");
    assert!(err.is_retryable(), "a lost lease is retried: {err}");
    assert_eq!(
        log.event(&first.event).await.unwrap().as_ref(),
        Some(&first.stored),
        "a complete without the lease changes nothing"
    );
}

/// `complete` replaces outcome, reason, actions, remediation and change rows, adding none.
pub async fn complete_replaces_outcome_reason_actions_and_remediation<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let first = begin_first_delivery(log, &names).await;
    let done = reverted(&first);
    log.complete(&done, &first.held).await.unwrap();
    let done_stored = done.clone().with_origin(None);
    assert_eq!(
        log.event(&first.event).await.unwrap().as_ref(),
        Some(&done_stored),
        "event() returns the completed report"
    );
    let history = log.rule_history(&first.rule).await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "complete replaces the change rows, it does not add to them"
    );
    assert_eq!(history[0].outcome, Outcome::Reverted);
    assert_eq!(history[0].change, done.changes[0]);
    assert_eq!(
        log.rule_history(&first.approved_rule).await.unwrap()[0].change,
        done.changes[1]
    );
}

/// A `begin` after `complete` gets back the completed record.
pub async fn a_begin_after_complete_gets_back_the_completed_record<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let first = begin_first_delivery(log, &names).await;
    let done = reverted(&first);
    log.complete(&done, &first.held).await.unwrap();
    let done_stored = done.with_origin(None);
    match log
        .begin(&first.report, &raw(&first.event), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Existing(stored) => assert_eq!(
            *stored, done_stored,
            "a later begin sees the completed record"
        ),
        other => panic!("begin after complete must report Existing: {other:?}"),
    }
}

/// `complete` of an event never begun is refused, not retryable, and stores nothing.
pub async fn complete_of_an_event_never_begun_is_refused_and_stores_nothing<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let orphan_id = names.id("e-orphan");
    let orphan_rule = names.id("sgr-orphan");
    let orphan = report(
        &orphan_id,
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:30:00Z",
        Outcome::Reverted,
        vec![change(
            &orphan_rule,
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::Reverted,
        )],
    );
    let err = log
        .complete(&orphan, &lease())
        .await
        .expect_err("complete of an event never begun must fail");
    assert!(
        !err.is_retryable(),
        "retrying cannot make an unknown event exist: {err}"
    );
    assert_eq!(log.event(&orphan_id).await.unwrap(), None);
    assert!(
        log.rule_history(&orphan_rule).await.unwrap().is_empty(),
        "a refused complete leaves no change rows"
    );
}

/// Three events changing one rule (added, modified, removed) in group [`GROUP`], the first
/// also approving another rule, stored out of time order on purpose.
struct History {
    rule: String,
    other_rule: String,
    e_add: String,
    e_modify: String,
    e_remove: String,
    added: EventReport,
    modified: EventReport,
    removed: EventReport,
}

async fn write_history<A: AuditLog>(log: &A, names: &Names) -> History {
    let rule = names.id("sgr-h");
    let other_rule = names.id("sgr-other");
    let (e_add, e_modify, e_remove) = (
        names.id("e-add"),
        names.id("e-modify"),
        names.id("e-remove"),
    );
    let mut accepted = change(
        &rule,
        "10.20.0.0/16",
        5432,
        ChangeKind::Added,
        Action::Flagged,
    );
    accepted.risk = RiskLevel::Low;
    let mut approved_other = change(
        &other_rule,
        "198.51.100.0/24",
        80,
        ChangeKind::Added,
        Action::None,
    );
    approved_other.approved_by = Some("partner-http".into());
    let added = report(
        &e_add,
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Flagged,
        vec![approved_other, accepted],
    );
    let mut widened = change(
        &rule,
        "0.0.0.0/0",
        5432,
        ChangeKind::Modified,
        Action::WouldRevert,
    );
    widened.direction = Direction::Unknown;
    let modified = report(
        &e_modify,
        "ModifySecurityGroupRules",
        "2026-11-20T14:00:00Z",
        Outcome::WouldRevert,
        vec![widened],
    );
    let mut revoked = change(&rule, "0.0.0.0/0", 5432, ChangeKind::Removed, Action::None);
    revoked.risk = RiskLevel::None;
    revoked.risk_reasons = Vec::new();
    revoked.approved_by = Some("cleanup".into());
    let removed = report(
        &e_remove,
        "RevokeSecurityGroupIngress",
        "2026-11-20T15:00:00Z",
        Outcome::Recorded,
        vec![revoked],
    );
    for r in [&modified, &removed, &added] {
        let event_id = r.event_id.clone().unwrap();
        assert_eq!(
            log.begin(r, &raw(&event_id), &lease(), PENDING)
                .await
                .unwrap(),
            Begin::Inserted,
            "begin of {event_id}"
        );
    }
    History {
        rule,
        other_rule,
        e_add,
        e_modify,
        e_remove,
        added,
        modified,
        removed,
    }
}

/// Checks that `history` lists the events of `h` oldest first.
fn assert_oldest_first(history: &[RuleSnapshot], h: &History) {
    let ids: Vec<&str> = history.iter().map(|s| s.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [h.e_add.as_str(), h.e_modify.as_str(), h.e_remove.as_str()],
        "oldest first"
    );
}

/// `rule_history` lists a rule's changes across events oldest first, whatever the write order.
pub async fn rule_history_lists_a_rules_changes_oldest_first<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let h = write_history(log, &names).await;
    let history = log.rule_history(&h.rule).await.unwrap();
    assert_oldest_first(&history, &h);
}

/// Each `rule_history` snapshot holds its event's fields and that rule's change whole.
pub async fn rule_history_snapshots_hold_the_event_and_that_rules_change<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let h = write_history(log, &names).await;
    let rule = &h.rule;
    let history = log.rule_history(rule).await.unwrap();
    assert_oldest_first(&history, &h);
    let expected = [
        (&h.added, &h.added.changes[1]),
        (&h.modified, &h.modified.changes[0]),
        (&h.removed, &h.removed.changes[0]),
    ];
    for (snapshot, (event, change)) in history.iter().zip(expected) {
        let what = &snapshot.event_id;
        assert_eq!(
            Some(&snapshot.event_time),
            event.event_time.as_ref(),
            "{what}: event_time"
        );
        assert_eq!(
            Some(&snapshot.event_name),
            event.event_name.as_ref(),
            "{what}: event_name"
        );
        assert_eq!(
            snapshot.group_id.as_deref(),
            Some(GROUP),
            "{what}: group_id"
        );
        assert_eq!(snapshot.actor.as_deref(), Some(ALICE), "{what}: actor");
        assert_eq!(snapshot.outcome, event.outcome, "{what}: outcome");
        assert_eq!(
            snapshot.change.rule_id.as_deref(),
            Some(rule.as_str()),
            "{what}: only this rule's changes"
        );
        assert_eq!(
            snapshot.change.content(),
            change.content(),
            "{what}: content"
        );
        assert!(
            snapshot.change.content().is_some(),
            "{what}: the content is recorded"
        );
        assert_eq!(
            snapshot.change.direction, change.direction,
            "{what}: direction"
        );
        assert_eq!(
            snapshot.change.approved_by, change.approved_by,
            "{what}: approved_by"
        );
        assert_eq!(snapshot.change.action, change.action, "{what}: action");
        assert_eq!(&snapshot.change, change, "{what}: the whole change");
    }
    assert_eq!(
        history[0]
            .change
            .content()
            .map(|c| (c.from_port, c.source.to_string())),
        Some((Some(5432), "10.20.0.0/16".to_owned()))
    );
    assert_eq!(history[1].change.kind, ChangeKind::Modified);
    assert_eq!(history[2].change.kind, ChangeKind::Removed);
}

/// Another rule changed by the same event has a history of its own.
pub async fn rule_history_of_another_rule_of_the_same_event_is_its_own<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let h = write_history(log, &names).await;
    let other = log.rule_history(&h.other_rule).await.unwrap();
    assert_eq!(
        other.len(),
        1,
        "another rule of the same event has its own history"
    );
    assert_eq!(other[0].change.approved_by.as_deref(), Some("partner-http"));
    assert_eq!(other[0].change.from_port, Some(80));
}

/// `rule_history` of a rule never changed is empty.
pub async fn rule_history_of_a_rule_never_changed_is_empty<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    write_history(log, &names).await;
    assert!(
        log.rule_history(&names.id("sgr-never"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// This clause's snapshots among `snapshots`, as (event id, rule id).
fn mine(names: &Names, snapshots: Vec<RuleSnapshot>) -> Vec<(String, String)> {
    snapshots
        .into_iter()
        .filter(|s| s.event_id.ends_with(names.suffix()))
        .map(|s| (s.event_id, s.change.rule_id.unwrap_or_default()))
        .collect()
}

/// `changes_after` lists a group's rule changes by events strictly later than a time.
pub async fn changes_after_lists_a_groups_changes_by_strictly_later_events<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let h = write_history(log, &names).await;
    let after_add = mine(
        &names,
        log.changes_after(GROUP, "2026-11-20T09:00:00Z")
            .await
            .unwrap(),
    );
    assert!(
        after_add.contains(&(h.e_modify.clone(), h.rule.clone()))
            && after_add.contains(&(h.e_remove.clone(), h.rule.clone())),
        "{after_add:?}"
    );
    assert!(
        !after_add.iter().any(|(event, _)| *event == h.e_add),
        "an event at exactly that time is not later: {after_add:?}"
    );
}

/// `changes_after` the time of a group's last change is empty.
pub async fn changes_after_the_last_change_is_empty<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    write_history(log, &names).await;
    assert!(
        mine(
            &names,
            log.changes_after(GROUP, "2026-11-20T15:00:00Z")
                .await
                .unwrap()
        )
        .is_empty(),
        "nothing after the last change"
    );
}

/// `changes_after` of a group never changed is empty.
pub async fn changes_after_of_a_group_never_changed_is_empty<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    assert!(
        log.changes_after(&names.id("sg-never"), "2000-01-01T00:00:00Z")
            .await
            .unwrap()
            .is_empty()
    );
}

/// `record_invalid` is idempotent on its key, and an invalid record is not an event.
pub async fn record_invalid_is_idempotent_and_an_invalid_record_is_not_an_event<A: AuditLog>(
    log: &A,
) {
    let names = Names::new("conf");
    let bad = names.id("e-bad");
    let invalid = InvalidRecord {
        key: bad.clone(),
        origin: Some(Origin {
            file: "events/bad.json".into(),
            index: 2,
        }),
        error: "events/bad.json record 2: invalid event: field `eventTime`: missing".into(),
        raw: json!({"eventID": bad, "eventName": "AuthorizeSecurityGroupIngress", "weird": [1, {"a": null}]}),
        received_at: "2026-11-20T10:00:00Z".into(),
    };
    log.record_invalid(&invalid).await.unwrap();
    log.record_invalid(&invalid).await.unwrap();
    let again = InvalidRecord {
        error: "a newer explanation".into(),
        raw: json!("the first raw record is kept"),
        ..invalid.clone()
    };
    log.record_invalid(&again).await.unwrap();
    let text = InvalidRecord {
        key: names.id("invalid-0123456789abcdef"),
        origin: None,
        error: "not valid JSON".into(),
        raw: Value::String("{\"eventName\": ".into()),
        received_at: "2026-11-20T11:00:00Z".into(),
    };
    log.record_invalid(&text).await.unwrap();
    log.record_invalid(&text).await.unwrap();
    assert_eq!(
        log.event(&bad).await.unwrap(),
        None,
        "an invalid record is not an event"
    );
}
