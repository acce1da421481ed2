//! Conformance suites for the ports: every store runs the same assertions.
//!
//! Each suite names its events, rules and entries with a suffix no other run uses, so it can
//! run repeatedly against one shared store (an on-disk SQLite file, a DynamoDB table) and
//! only ever looks at what it wrote itself.
#![expect(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a conformance suite asserts: a failed call is a failed clause"
)]

use serde_json::{Value, json};
use sgguard_core::{
    Action, AllowEntry, ChangeKind, Direction, Outcome, PortRange, Protocol, RiskLevel, SourceKind,
};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditLog, Begin, ChangeReport, EventReport, InvalidRecord,
    Lease, Origin,
};

mod audit_reader;
pub use audit_reader::{allowlist_changes, audit_reader};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const GROUP: &str = "sg-0a1b2c3d4e5f60718";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

/// A tcp rule change from an IPv4 source, with every optional field set.
fn change(rule_id: &str, cidr: &str, port: i32, kind: ChangeKind, action: Action) -> ChangeReport {
    ChangeReport {
        rule_id: Some(rule_id.to_owned()),
        direction: Direction::Ingress,
        kind,
        protocol: Some("tcp".into()),
        from_port: Some(port),
        to_port: Some(port),
        source: Some(cidr.to_owned()),
        source_kind: Some(SourceKind::CidrIpv4),
        description: Some(format!("{cidr} on {port}")),
        risk: RiskLevel::Critical,
        risk_reasons: vec![
            format!("world-open IPv4 source {cidr}"),
            format!("sensitive port {port}"),
        ],
        approved_by: None,
        closest_entry: Some("office-ssh (cidrs: 0.0.0.0/0 is not within 203.0.113.0/24)".into()),
        action,
        remediation: None,
        note: None,
        restore_to: None,
    }
}

/// A report with every optional field set, so a store that drops one is caught.
fn report(
    event_id: &str,
    event_name: &str,
    time: &str,
    outcome: Outcome,
    changes: Vec<ChangeReport>,
) -> EventReport {
    EventReport {
        event_id: Some(event_id.to_owned()),
        event_name: Some(event_name.to_owned()),
        event_time: Some(time.to_owned()),
        account: Some(ACCOUNT.into()),
        region: Some(REGION.into()),
        group_id: Some(GROUP.into()),
        group_name: Some("web".into()),
        prefix_list_id: None,
        actor: Some(ALICE.into()),
        principal: Some(ALICE.into()),
        source_ip: Some("203.0.113.25".into()),
        user_agent: Some("aws-cli/2.17.0".into()),
        outcome,
        reason: format!("{outcome} for the conformance suite"),
        changes,
        origin: None,
    }
}

/// A lease held for a minute from now.
fn lease() -> Lease {
    Lease::new(std::time::Duration::from_secs(60), true)
}

/// What the pipeline takes over: an interrupted remediation.
const PENDING: &[Outcome] = &[Outcome::Pending];

fn raw(event_id: &str) -> Value {
    json!({"eventID": event_id, "eventName": "AuthorizeSecurityGroupIngress", "nested": {"items": [1, null, "x"]}})
}

/// The audit log contract: the idempotent `begin`, `complete`, `event`, rule histories and
/// invalid records.
pub async fn audit_log<A: AuditLog>(log: &A) {
    let suffix = crate::aws::unique("conf");
    let id = |name: &str| format!("{name}-{suffix}");

    // An id never stored is not there.
    assert_eq!(
        log.event(&id("e-unknown")).await.unwrap(),
        None,
        "event() of an unknown id"
    );

    // begin: the first delivery inserts; the origin belongs to one run, not to the event.
    let (e1, sgr1, sgr2) = (id("e-1"), id("sgr-1"), id("sgr-2"));
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

    // A second delivery, even one decided differently, gets back exactly what was stored.
    let second = report(
        &e1,
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Approved,
        vec![],
    )
    .with_origin(Some(Origin {
        file: "events/b.json".into(),
        index: 0,
    }));
    match log.begin(&second, &raw(&e1), &lease(), &[]).await.unwrap() {
        Begin::Existing(stored) => assert_eq!(
            *stored, expected,
            "Existing carries the stored report, origin stripped"
        ),
        other => panic!("a second begin of {e1} must report Existing: {other:?}"),
    }
    // A pending record whose lease is held is busy for everyone else.
    match log
        .begin(&second, &raw(&e1), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Busy { until } => assert!(until.starts_with("20"), "{until}"),
        other => panic!("a pending record under a live lease is busy: {other:?}"),
    }
    assert_eq!(
        log.event(&e1).await.unwrap().as_ref(),
        Some(&expected),
        "a duplicate begin changes nothing"
    );
    assert_eq!(
        log.rule_history(&sgr1).await.unwrap().len(),
        1,
        "a duplicate begin adds no change rows"
    );

    // complete: replaces outcome, reason, actions and remediation.
    let mut done = first.clone();
    done.outcome = Outcome::Reverted;
    done.reason = "reverted 1 unapproved rule(s) at or above high".into();
    done.changes[0].action = Action::Reverted;
    done.changes[0].remediation = Some(format!(
        "revoke ingress {sgr1} by rule id: revoked; confirmed absent"
    ));
    let err = log
        .complete(&done, &lease())
        .await
        .expect_err("complete without the record's lease must fail");
    assert!(err.is_retryable(), "a lost lease is retried: {err}");
    assert_eq!(
        log.event(&e1).await.unwrap().as_ref(),
        Some(&expected),
        "a complete without the lease changes nothing"
    );
    log.complete(&done, &held).await.unwrap();
    let done_stored = done.clone().with_origin(None);
    assert_eq!(
        log.event(&e1).await.unwrap().as_ref(),
        Some(&done_stored),
        "event() returns the completed report"
    );
    match log
        .begin(&first, &raw(&e1), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Existing(stored) => assert_eq!(
            *stored, done_stored,
            "a later begin sees the completed record"
        ),
        other => panic!("begin after complete must report Existing: {other:?}"),
    }
    let history = log.rule_history(&sgr1).await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "complete replaces the change rows, it does not add to them"
    );
    assert_eq!(history[0].outcome, Outcome::Reverted);
    assert_eq!(history[0].change, done.changes[0]);
    assert_eq!(
        log.rule_history(&sgr2).await.unwrap()[0].change,
        done.changes[1]
    );

    // complete of an event never begun is refused and stores nothing.
    let orphan_id = id("e-orphan");
    let orphan_rule = id("sgr-orphan");
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

    // rule_history: oldest first across events (stored out of time order on purpose), each
    // snapshot the change of that rule, not another change of the same event.
    let rule = id("sgr-h");
    let other_rule = id("sgr-other");
    let (e_add, e_modify, e_remove) = (id("e-add"), id("e-modify"), id("e-remove"));
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
    let history = log.rule_history(&rule).await.unwrap();
    let ids: Vec<&str> = history.iter().map(|s| s.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [e_add.as_str(), e_modify.as_str(), e_remove.as_str()],
        "oldest first"
    );
    let expected = [
        (&added, &added.changes[1]),
        (&modified, &modified.changes[0]),
        (&removed, &removed.changes[0]),
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
    let other = log.rule_history(&other_rule).await.unwrap();
    assert_eq!(
        other.len(),
        1,
        "another rule of the same event has its own history"
    );
    assert_eq!(other[0].change.approved_by.as_deref(), Some("partner-http"));
    assert_eq!(other[0].change.from_port, Some(80));
    assert!(log.rule_history(&id("sgr-never")).await.unwrap().is_empty());

    // changes_after: the group's rule changes by events strictly later than a time.
    let mine = |snapshots: Vec<sgguard_responder::RuleSnapshot>| -> Vec<(String, String)> {
        snapshots
            .into_iter()
            .filter(|s| s.event_id.ends_with(&suffix))
            .map(|s| (s.event_id, s.change.rule_id.unwrap_or_default()))
            .collect()
    };
    let after_add = mine(
        log.changes_after(GROUP, "2026-11-20T09:00:00Z")
            .await
            .unwrap(),
    );
    assert!(
        after_add.contains(&(e_modify.clone(), rule.clone()))
            && after_add.contains(&(e_remove.clone(), rule.clone())),
        "{after_add:?}"
    );
    assert!(
        !after_add.iter().any(|(event, _)| *event == e_add),
        "an event at exactly that time is not later: {after_add:?}"
    );
    assert!(
        mine(
            log.changes_after(GROUP, "2026-11-20T15:00:00Z")
                .await
                .unwrap()
        )
        .is_empty(),
        "nothing after the last change"
    );
    assert!(
        log.changes_after(&id("sg-never"), "2000-01-01T00:00:00Z")
            .await
            .unwrap()
            .is_empty()
    );

    leases(log, &id).await;

    // record_invalid: idempotent on its key, and an invalid record is not an event.
    let bad = id("e-bad");
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
        key: id("invalid-0123456789abcdef"),
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

/// Leases: an interrupted record is taken over only once its lease has expired, by exactly
/// one worker, and only the holder completes it. A failed revert is taken over only when
/// the caller asks for it.
async fn leases<A: AuditLog>(log: &A, id: &dyn Fn(&str) -> String) {
    let event = id("e-lease");
    let rule = id("sgr-lease");
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
    let mut with_restore = pending.clone();
    with_restore.changes[0].restore_to = Some(sgguard_responder::ContentReport {
        protocol: "tcp".into(),
        from_port: Some(22),
        to_port: Some(22),
        source: "10.0.0.0/8".into(),
        description: None,
    });
    let taker = lease();
    match log
        .begin(&pending, &raw(&event), &taker, PENDING)
        .await
        .unwrap()
    {
        Begin::Resumed { stored, was_live } => {
            assert_eq!(*stored, pending, "the stored report comes back");
            assert!(!was_live, "the crashed worker did not act");
        }
        other => panic!("an expired lease is taken over: {other:?}"),
    }
    match log
        .begin(&pending, &raw(&event), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Busy { .. } => {}
        other => panic!("the new holder's lease is live: {other:?}"),
    }
    let mut failed = with_restore.clone();
    failed.outcome = Outcome::RevertFailed;
    failed.changes[0].action = Action::Failed;
    let err = log
        .complete(&failed, &expired)
        .await
        .expect_err("the crashed worker lost its lease");
    assert!(err.is_retryable(), "{err}");
    log.complete(&failed, &taker).await.unwrap();
    let stored = log.event(&event).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&failed));
    assert_eq!(
        log.rule_history(&rule).await.unwrap()[0].change.restore_to,
        failed.changes[0].restore_to,
        "the recorded intent is part of the rule's history"
    );
    // A failed revert is settled, unless the caller asks to take it over.
    assert!(matches!(
        log.begin(&pending, &raw(&event), &lease(), PENDING)
            .await
            .unwrap(),
        Begin::Existing(_)
    ));
    let retry = lease();
    assert!(matches!(
        log.begin(
            &pending,
            &raw(&event),
            &retry,
            &[Outcome::Pending, Outcome::RevertFailed]
        )
        .await
        .unwrap(),
        Begin::Resumed { .. }
    ));
    log.complete(&pending, &retry).await.unwrap();

    // An attempt that stops early releases its lease: the retry need not wait.
    let early = id("e-release");
    let record = report(
        &early,
        "AuthorizeSecurityGroupIngress",
        "2026-11-21T10:00:00Z",
        Outcome::Pending,
        vec![change(
            &id("sgr-release"),
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

fn allow_change(action: &str, entry_id: &str, detail: &str) -> AllowlistChange {
    AllowlistChange {
        at: sgguard_core::time::format_time(&chrono::Utc::now()),
        by: "conformance@example.com".into(),
        action: action.into(),
        entry_id: entry_id.into(),
        detail: detail.into(),
    }
}

fn entry(id: &str, port: u16) -> AllowEntry {
    let mut e = AllowEntry::new(id, "netops@example.com", format!("NET-{port}"));
    e.protocol = Protocol::Tcp;
    e.ports = PortRange::single(port);
    e.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    e
}

/// The allowlist contract: put inserts and replaces, entries are listed by id with every
/// field intact (expired ones included), remove reports whether there was anything, and
/// put_many inserts and replaces several entries at once.
pub async fn allowlist_store<S: AllowlistStore>(store: &S) {
    let suffix = crate::aws::unique("conf");
    let id = |name: &str| format!("conf-{suffix}-{name}");
    let mine = |entries: Vec<AllowEntry>| -> Vec<AllowEntry> {
        let all: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "entries are sorted by id, each once: {all:?}"
        );
        entries
            .into_iter()
            .filter(|e| e.id.starts_with(&format!("conf-{suffix}-")))
            .collect()
    };
    let ids = |entries: &[AllowEntry]| entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert!(mine(store.entries().await.unwrap()).is_empty());

    // Every criterion set, expiry included.
    let mut rich = AllowEntry::new(
        id("b-rich"),
        "platform@example.com",
        "PLAT-77 public load balancers",
    );
    rich.expires = Some("2030-01-31T00:00:00Z".parse().unwrap());
    rich.direction = Direction::Egress;
    rich.protocol = Protocol::Udp;
    rich.ports = PortRange {
        from: 8000,
        to: 8100,
    };
    rich.cidrs = vec![
        "203.0.113.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    rich.prefix_lists = vec!["pl-0a1b2c3d4e5f60718".into()];
    rich.source_groups = vec!["sg-0123456789abcdef0".into(), "sg-0fedcba987654321f".into()];
    rich.groups = vec!["sg-0fedcba9876543210".into()];
    rich.accounts = vec![ACCOUNT.into(), "444455556666".into()];
    rich.regions = vec![REGION.into(), "us-east-1".into()];
    rich.principals = vec!["arn:aws:iam::*:role/terraform-*".into()];
    // Expired entries approve nothing but are still listed.
    let mut expired = entry(&id("a-expired"), 22);
    expired.expires = Some("2020-01-01T00:00:00Z".parse().unwrap());
    let plain = entry(&id("c-plain"), 443);

    // Added out of id order.
    for e in [&plain, &rich, &expired] {
        store
            .put(e, &allow_change("add", &e.id, "added"))
            .await
            .unwrap();
    }
    let listed = mine(store.entries().await.unwrap());
    assert_eq!(
        ids(&listed),
        [expired.id.clone(), rich.id.clone(), plain.id.clone()],
        "sorted by id"
    );
    assert_eq!(
        listed,
        vec![expired.clone(), rich.clone(), plain.clone()],
        "every field round-trips"
    );

    // put with an existing id replaces in place.
    let mut replacement = entry(&plain.id, 8443);
    replacement.owner = "someone-else@example.com".into();
    replacement.reason = "NET-8443 replaced".into();
    store
        .put(&replacement, &allow_change("add", &plain.id, "replaced"))
        .await
        .unwrap();
    let listed = mine(store.entries().await.unwrap());
    assert_eq!(
        listed,
        vec![expired.clone(), rich.clone(), replacement.clone()],
        "one entry per id, with the new content"
    );

    // remove: true when it was there, then false.
    assert!(
        store
            .remove(&rich.id, &allow_change("remove", &rich.id, "removed"))
            .await
            .unwrap(),
        "removing a present entry"
    );
    assert!(
        !store
            .remove(&rich.id, &allow_change("remove", &rich.id, "again"))
            .await
            .unwrap(),
        "removing it again"
    );
    assert!(
        !store
            .remove(
                &id("never"),
                &allow_change("remove", &id("never"), "nothing")
            )
            .await
            .unwrap()
    );
    assert_eq!(
        mine(store.entries().await.unwrap()),
        vec![expired.clone(), replacement.clone()]
    );

    // Re-adding a removed entry brings it back in its place.
    store
        .put(&rich, &allow_change("add", &rich.id, "added again"))
        .await
        .unwrap();
    assert_eq!(
        mine(store.entries().await.unwrap()),
        vec![expired.clone(), rich.clone(), replacement.clone()]
    );

    // put_many adds and replaces several entries at once, each with its change record.
    let mut narrowed = rich.clone();
    narrowed.ports = PortRange::single(8080);
    let many = vec![
        entry(&id("d-many"), 25),
        narrowed.clone(),
        entry(&id("e-many"), 53),
    ];
    let changes: Vec<AllowlistChange> = many
        .iter()
        .map(|e| allow_change("import", &e.id, "imported"))
        .collect();
    store.put_many(&many, &changes).await.unwrap();
    assert_eq!(
        mine(store.entries().await.unwrap()),
        vec![
            expired.clone(),
            narrowed.clone(),
            replacement.clone(),
            many[0].clone(),
            many[2].clone()
        ],
        "put_many inserts new ids and replaces existing ones"
    );
    // Nothing at all is a no-op.
    store.put_many(&[], &[]).await.unwrap();
    assert_eq!(mine(store.entries().await.unwrap()).len(), 5);

    // Leave a shared store as it was found: these entries must approve nothing elsewhere.
    for e in [&expired, &rich, &replacement, &many[0], &many[2]] {
        assert!(
            store
                .remove(&e.id, &allow_change("remove", &e.id, "cleanup"))
                .await
                .unwrap()
        );
    }
    assert!(mine(store.entries().await.unwrap()).is_empty());
}
