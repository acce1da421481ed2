//! The lease rules of the audit log: an interrupted record is taken over only once its lease
//! has expired, by exactly one worker, and only the holder completes or releases it. A
//! failed revert is taken over only when the caller asks for it.

use sgguard_core::{Action, ChangeKind, Outcome};
use sgguard_responder::{AuditLog, Begin, ContentReport, EventReport, Lease};

use super::super::fixtures::{Names, PENDING, change, lease, raw, report};

/// A pending record whose worker crashed: written under a lease that has expired.
struct Interrupted {
    event: String,
    rule: String,
    pending: EventReport,
    expired: Lease,
}

async fn interrupted<A: AuditLog>(log: &A, names: &Names) -> Interrupted {
    let event = names.id("e-lease");
    let rule = names.id("sgr-lease");
    let pending = report(
        &event,
        "AuthorizeSecurityGroupIngress",
        "2026-11-21T09:00:00Z",
        Outcome::Pending,
        vec![change(
            &rule,
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::Pending,
        )],
    );
    let expired = Lease {
        owner: "crashed-worker".into(),
        until: chrono::Utc::now().timestamp() - 1,
        live: false,
    };
    assert_eq!(
        log.begin(&pending, &raw(&event), &expired, PENDING)
            .await
            .unwrap(),
        Begin::Inserted
    );
    Interrupted {
        event,
        rule,
        pending,
        expired,
    }
}

/// Takes `record` over with a fresh lease, which is returned.
async fn take_over<A: AuditLog>(log: &A, record: &Interrupted) -> Lease {
    let taker = lease();
    match log
        .begin(&record.pending, &raw(&record.event), &taker, PENDING)
        .await
        .unwrap()
    {
        Begin::Resumed { stored, was_live } => {
            assert_eq!(*stored, record.pending, "the stored report comes back");
            assert!(!was_live, "the crashed worker did not act");
        }
        other => panic!("an expired lease is taken over: {other:?}"),
    }
    taker
}

/// `record` completed as a failed revert, with the restore it intended.
fn failed_revert(record: &Interrupted) -> EventReport {
    let mut failed = record.pending.clone();
    failed.changes[0].restore_to = Some(ContentReport {
        protocol: "tcp".into(),
        from_port: Some(22),
        to_port: Some(22),
        source: "10.0.0.0/8".into(),
        description: None,
    });
    failed.outcome = Outcome::RevertFailed;
    failed.changes[0].action = Action::Failed;
    failed
}

/// Takes `record` over and completes it as a failed revert: only the new holder can.
async fn complete_as_failed<A: AuditLog>(log: &A, record: &Interrupted) -> EventReport {
    let taker = take_over(log, record).await;
    let failed = failed_revert(record);
    let err = log
        .complete(&failed, &record.expired)
        .await
        .expect_err("the crashed worker lost its lease");
    assert!(err.is_retryable(), "{err}");
    log.complete(&failed, &taker).await.unwrap();
    failed
}

/// A pending record whose lease expired is taken over by exactly one worker; the next is busy.
pub async fn an_expired_lease_is_taken_over_by_exactly_one_worker<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let record = interrupted(log, &names).await;
    take_over(log, &record).await;
    match log
        .begin(&record.pending, &raw(&record.event), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Busy { .. } => {}
        other => panic!("the new holder's lease is live: {other:?}"),
    }
}

/// Only the lease holder completes a taken-over record; the one that lost it is told to retry.
pub async fn only_the_lease_holder_completes_a_taken_over_record<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let record = interrupted(log, &names).await;
    let failed = complete_as_failed(log, &record).await;
    let stored = log.event(&record.event).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&failed));
}

/// The restore a change intended, recorded with `complete`, is part of the rule's history.
pub async fn a_recorded_restore_intent_is_part_of_the_rules_history<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let record = interrupted(log, &names).await;
    let failed = complete_as_failed(log, &record).await;
    assert_eq!(
        log.rule_history(&record.rule).await.unwrap()[0]
            .change
            .restore_to,
        failed.changes[0].restore_to,
        "the recorded intent is part of the rule's history"
    );
}

/// A failed revert is settled, unless the caller asks to take it over.
pub async fn a_failed_revert_is_settled_unless_the_caller_takes_it_over<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let record = interrupted(log, &names).await;
    complete_as_failed(log, &record).await;
    let (pending, event) = (&record.pending, &record.event);
    assert!(matches!(
        log.begin(pending, &raw(event), &lease(), PENDING)
            .await
            .unwrap(),
        Begin::Existing(_)
    ));
    let retry = lease();
    assert!(matches!(
        log.begin(
            pending,
            &raw(event),
            &retry,
            &[Outcome::Pending, Outcome::RevertFailed]
        )
        .await
        .unwrap(),
        Begin::Resumed { .. }
    ));
    log.complete(pending, &retry).await.unwrap();
}

/// A pending record begun under a live lease, and another worker found it busy: returns the
/// record, the holder's lease and the other worker's.
async fn held_and_busy<A: AuditLog>(log: &A, names: &Names) -> (EventReport, Lease, Lease) {
    let early = names.id("e-release");
    let record = report(
        &early,
        "AuthorizeSecurityGroupIngress",
        "2026-11-21T10:00:00Z",
        Outcome::Pending,
        vec![change(
            &names.id("sgr-release"),
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::Pending,
        )],
    );
    let first = lease();
    assert_eq!(
        log.begin(&record, &raw(&early), &first, PENDING)
            .await
            .unwrap(),
        Begin::Inserted
    );
    let second = lease();
    assert!(matches!(
        log.begin(&record, &raw(&early), &second, PENDING)
            .await
            .unwrap(),
        Begin::Busy { .. }
    ));
    (record, first, second)
}

/// An attempt that stops early releases its lease: the retry need not wait for it to expire.
pub async fn a_released_lease_lets_the_retry_in_at_once<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let (record, first, second) = held_and_busy(log, &names).await;
    let early = record.event_id.clone().unwrap();
    log.release(&early, &first).await.unwrap();
    assert!(matches!(
        log.begin(&record, &raw(&early), &second, PENDING)
            .await
            .unwrap(),
        Begin::Resumed { .. }
    ));
    log.complete(&record, &second).await.unwrap();
}

/// Only the holder can release a lease: another worker's release leaves it held.
pub async fn only_the_holder_can_release_a_lease<A: AuditLog>(log: &A) {
    let names = Names::new("conf");
    let (record, first, second) = held_and_busy(log, &names).await;
    let early = record.event_id.clone().unwrap();
    log.release(&early, &second).await.unwrap();
    assert!(
        matches!(
            log.begin(&record, &raw(&early), &second, PENDING)
                .await
                .unwrap(),
            Begin::Busy { .. }
        ),
        "only the holder can release a lease"
    );
    log.release(&early, &first).await.unwrap();
    assert!(matches!(
        log.begin(&record, &raw(&early), &second, PENDING)
            .await
            .unwrap(),
        Begin::Resumed { .. }
    ));
    log.complete(&record, &second).await.unwrap();
}

/// A run that never acts (`replay`, a dry run) never takes over a pending record a live
/// responder wrote, even with its lease expired: it would rewrite the record without the
/// live attempt's intents. It gets the record back as settled.
pub async fn a_reporting_run_never_takes_over_a_live_record<A: AuditLog>(log: &A) {
    let names = Names::new("live-held");
    let event = names.id("e-live");
    let rule = names.id("sgr-live");
    let pending = report(
        &event,
        "AuthorizeSecurityGroupIngress",
        "2026-11-21T10:00:00Z",
        Outcome::Pending,
        vec![change(
            &rule,
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::Pending,
        )],
    );
    let crashed_live = Lease {
        owner: "crashed-live-worker".into(),
        until: chrono::Utc::now().timestamp() - 1,
        live: true,
    };
    assert_eq!(
        log.begin(&pending, &raw(&event), &crashed_live, PENDING)
            .await
            .unwrap(),
        Begin::Inserted
    );
    let reporting = Lease::new(std::time::Duration::from_secs(60), false);
    match log
        .begin(&pending, &raw(&event), &reporting, PENDING)
        .await
        .unwrap()
    {
        Begin::Existing(stored) => assert_eq!(stored.outcome, Outcome::Pending),
        other => panic!("a reporting run took over a live record: {other:?}"),
    }
    // A live responder still takes it over.
    assert!(matches!(
        log.begin(&pending, &raw(&event), &lease(), PENDING)
            .await
            .unwrap(),
        Begin::Resumed { was_live: true, .. }
    ));
}
