//! The embedded store against the port contracts: schema versioning, the idempotent
//! `begin`, `complete`, rule histories, invalid records, the allowlist and its change log.

use std::path::Path;

use serde_json::{Value, json};
use sgguard_core::{
    Action, AllowEntry, ChangeKind, Direction, Outcome, PortRange, Protocol, RiskLevel, SourceKind,
};
use sgguard_local::{Error, SCHEMA_VERSION, SqliteStore};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditLog, Begin, ChangeReport, EventReport, InvalidRecord,
    Lease, Origin,
};

/// One lease for every write of these tests (they test idempotency, not leases: the
/// conformance suite does).
fn lease() -> Lease {
    Lease {
        owner: "store-test".into(),
        until: 4_102_444_800,
        live: true,
    }
}

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
        risk_reasons: vec![format!("world-open IPv4 source {cidr}")],
        approved_by: None,
        closest_entry: None,
        action,
        remediation: None,
        note: None,
        restore_to: None,
    }
}

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
        account: Some("111122223333".into()),
        region: Some("eu-west-1".into()),
        group_id: Some("sg-0a1b2c3d4e5f60718".into()),
        group_name: None,
        prefix_list_id: None,
        actor: Some("arn:aws:iam::111122223333:user/alice".into()),
        principal: Some("arn:aws:iam::111122223333:user/alice".into()),
        source_ip: Some("203.0.113.25".into()),
        user_agent: None,
        outcome,
        reason: format!("{outcome} for the test"),
        changes,
        allowlist_error: None,
        origin: None,
    }
}

fn raw(event_id: &str) -> Value {
    json!({"eventID": event_id, "eventName": "AuthorizeSecurityGroupIngress", "eventSource": "ec2.amazonaws.com", "nested": {"n": [1, 2, 3]}})
}

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

fn allow_change(action: &str, entry_id: &str, detail: &str) -> AllowlistChange {
    AllowlistChange {
        at: "2026-11-20T10:00:00Z".into(),
        by: "arn:aws:iam::111122223333:user/netops".into(),
        action: action.to_owned(),
        entry_id: entry_id.to_owned(),
        detail: detail.to_owned(),
    }
}

#[tokio::test]
async fn schema_is_created_at_the_current_version_and_reopening_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.path(), path.display().to_string());
        let r = report(
            "e-1",
            "AuthorizeSecurityGroupIngress",
            "2026-11-20T09:00:00Z",
            Outcome::WouldRevert,
            vec![],
        );
        assert_eq!(
            store.begin(&r, &raw("e-1"), &lease(), &[]).await.unwrap(),
            Begin::Inserted
        );
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    // Opening again must not re-run the migration (it would fail on existing tables) and
    // must keep the data.
    for _ in 0..2 {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let events = store.events().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id.as_deref(), Some("e-1"));
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn in_memory_store_is_migrated_too() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.events().unwrap().is_empty());
    assert!(store.invalid_records().unwrap().is_empty());
    assert!(store.allowlist_changes().unwrap().is_empty());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (x INTEGER)")
            .unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
    }
    match SqliteStore::open(&path) {
        Err(Error::SchemaTooNew {
            path: p,
            found,
            supported,
        }) => {
            assert_eq!(found, 7);
            assert_eq!(supported, SCHEMA_VERSION);
            assert!(p.contains("future.db"), "{p}");
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(
        message.contains("future.db") && message.contains("upgrade"),
        "{message}"
    );
    // Refusing must leave the file alone.
    assert_eq!(user_version(&path), 7);
}

#[test]
fn a_path_in_a_missing_directory_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("audit.db");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::NoDirectory { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open the audit store `{}`: the directory `{}` does not exist",
            path.display(),
            dir.path().join("no-such-dir").display()
        )
    );
}

#[tokio::test]
async fn begin_inserts_once_then_reports_the_stored_record() {
    let store = SqliteStore::open_in_memory().unwrap();
    let first = report(
        "e-1",
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Pending,
        vec![change(
            "sgr-1",
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::Pending,
        )],
    )
    .with_origin(Some(Origin {
        file: "a.json".into(),
        index: 3,
    }));
    assert_eq!(
        store
            .begin(&first, &raw("e-1"), &lease(), &[])
            .await
            .unwrap(),
        Begin::Inserted
    );

    // A second delivery, even one decided differently, gets back what was stored first.
    let second = report(
        "e-1",
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Approved,
        vec![],
    );
    let Begin::Existing(stored) = store
        .begin(&second, &raw("e-1"), &lease(), &[])
        .await
        .unwrap()
    else {
        panic!("a second begin with the same event id must report Existing");
    };
    assert_eq!(stored.outcome, Outcome::Pending);
    assert_eq!(stored.changes, first.changes);
    // The origin belongs to one run, not to the event.
    assert_eq!(stored.origin, None);
    assert_eq!(*stored, first.clone().with_origin(None));

    // Still exactly one record.
    assert_eq!(store.events().unwrap().len(), 1);
    assert_eq!(
        store.event("e-1").await.unwrap().map(|r| r.outcome),
        Some(Outcome::Pending)
    );
    assert_eq!(store.event("e-unknown").await.unwrap(), None);

    // Another event id is a new record.
    let other = report(
        "e-2",
        "RevokeSecurityGroupIngress",
        "2026-11-20T09:05:00Z",
        Outcome::Recorded,
        vec![],
    );
    assert_eq!(
        store
            .begin(&other, &raw("e-2"), &lease(), &[])
            .await
            .unwrap(),
        Begin::Inserted
    );
    assert_eq!(store.events().unwrap().len(), 2);
}

#[tokio::test]
async fn complete_replaces_outcome_reason_and_actions() {
    let store = SqliteStore::open_in_memory().unwrap();
    let pending = report(
        "e-1",
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Pending,
        vec![
            change("sgr-1", "0.0.0.0/0", 22, ChangeKind::Added, Action::Pending),
            change(
                "sgr-2",
                "203.0.113.0/24",
                22,
                ChangeKind::Added,
                Action::None,
            ),
        ],
    );
    store
        .begin(&pending, &raw("e-1"), &lease(), &[])
        .await
        .unwrap();
    assert_eq!(
        store.rule_history("sgr-1").await.unwrap()[0].change.action,
        Action::Pending
    );

    let mut done = pending.clone();
    done.outcome = Outcome::Reverted;
    done.reason = "reverted 1 unapproved rule(s) at or above high".into();
    done.changes[0].action = Action::Reverted;
    done.changes[0].remediation = Some("revoke ingress sgr-1 by rule id: gone".into());
    store.complete(&done, &lease()).await.unwrap();

    let stored = store.event("e-1").await.unwrap().unwrap();
    assert_eq!(stored, done);
    let history = store.rule_history("sgr-1").await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "complete must replace the change rows, not add to them"
    );
    assert_eq!(history[0].outcome, Outcome::Reverted);
    assert_eq!(history[0].change.action, Action::Reverted);
    assert_eq!(
        history[0].change.remediation.as_deref(),
        Some("revoke ingress sgr-1 by rule id: gone")
    );
    assert_eq!(store.rule_history("sgr-2").await.unwrap().len(), 1);

    // A later begin of the same event sees the completed record.
    let Begin::Existing(again) = store
        .begin(&pending, &raw("e-1"), &lease(), &[])
        .await
        .unwrap()
    else {
        panic!("expected Existing");
    };
    assert_eq!(again.outcome, Outcome::Reverted);
}

#[tokio::test]
async fn rule_history_is_oldest_first_with_the_content_of_each_version() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Inserted out of time order on purpose.
    let modified = report(
        "e-modify",
        "ModifySecurityGroupRules",
        "2026-11-20T14:00:00Z",
        Outcome::WouldRevert,
        vec![change(
            "sgr-1",
            "0.0.0.0/0",
            22,
            ChangeKind::Modified,
            Action::WouldRevert,
        )],
    );
    let added = report(
        "e-add",
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Flagged,
        vec![
            change(
                "sgr-other",
                "198.51.100.0/24",
                80,
                ChangeKind::Added,
                Action::Flagged,
            ),
            change(
                "sgr-1",
                "10.20.0.0/16",
                5432,
                ChangeKind::Added,
                Action::Flagged,
            ),
        ],
    );
    let mut removed_change = change("sgr-1", "0.0.0.0/0", 22, ChangeKind::Removed, Action::None);
    removed_change.risk = RiskLevel::None;
    let removed = report(
        "e-remove",
        "RevokeSecurityGroupIngress",
        "2026-11-20T15:00:00Z",
        Outcome::Recorded,
        vec![removed_change],
    );
    for r in [&modified, &removed, &added] {
        store
            .begin(r, &raw(r.event_id.as_deref().unwrap()), &lease(), &[])
            .await
            .unwrap();
    }

    let history = store.rule_history("sgr-1").await.unwrap();
    let ids: Vec<&str> = history.iter().map(|s| s.event_id.as_str()).collect();
    assert_eq!(ids, ["e-add", "e-modify", "e-remove"]);
    let first = &history[0];
    assert_eq!(first.event_time, "2026-11-20T09:00:00Z");
    assert_eq!(first.event_name, "AuthorizeSecurityGroupIngress");
    assert_eq!(first.group_id.as_deref(), Some("sg-0a1b2c3d4e5f60718"));
    assert_eq!(
        first.actor.as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert_eq!(first.outcome, Outcome::Flagged);
    // The snapshot is the change of that rule, not the other change of the same event.
    assert_eq!(first.change, added.changes[1]);
    assert_eq!(first.change.source.as_deref(), Some("10.20.0.0/16"));
    assert_eq!(first.change.from_port, Some(5432));
    assert_eq!(history[1].change, modified.changes[0]);
    assert_eq!(history[1].change.kind, ChangeKind::Modified);
    assert_eq!(history[2].change.kind, ChangeKind::Removed);

    let other = store.rule_history("sgr-other").await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].change.from_port, Some(80));
    assert!(store.rule_history("sgr-never").await.unwrap().is_empty());

    let all: Vec<Option<String>> = store
        .events()
        .unwrap()
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    assert_eq!(
        all,
        [
            Some("e-add".into()),
            Some("e-modify".into()),
            Some("e-remove".into())
        ],
        "events are listed oldest first"
    );
}

#[tokio::test]
async fn record_invalid_keeps_raw_and_error_and_is_idempotent_on_key() {
    let store = SqliteStore::open_in_memory().unwrap();
    let invalid = InvalidRecord {
        key: "e-bad".into(),
        origin: Some(Origin {
            file: "events/bad.json".into(),
            index: 2,
        }),
        error: "events/bad.json record 2: invalid event: field `eventTime`: missing".into(),
        raw: json!({"eventID": "e-bad", "eventName": "AuthorizeSecurityGroupIngress", "weird": [1, {"a": null}]}),
        received_at: "2026-11-20T10:00:00Z".into(),
    };
    store.record_invalid(&invalid).await.unwrap();
    store.record_invalid(&invalid).await.unwrap();
    assert_eq!(store.invalid_records().unwrap(), vec![invalid.clone()]);

    // The same key again (a replay) updates the error but keeps one row and the raw record.
    let mut again = invalid.clone();
    again.error = "a newer explanation".into();
    again.raw = json!("ignored: the first raw record is kept");
    store.record_invalid(&again).await.unwrap();
    let kept = store.invalid_records().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].raw, invalid.raw);
    assert_eq!(kept[0].error, "a newer explanation");

    let text = InvalidRecord {
        key: "invalid-0123456789abcdef".into(),
        origin: None,
        error: "not valid JSON".into(),
        raw: Value::String("{\"eventName\": ".into()),
        received_at: "2026-11-20T11:00:00Z".into(),
    };
    store.record_invalid(&text).await.unwrap();
    let kept = store.invalid_records().unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[1], text);
    // Invalid records are not events.
    assert!(store.events().unwrap().is_empty());
}

#[tokio::test]
async fn raw_event_returns_the_raw_record() {
    let store = SqliteStore::open_in_memory().unwrap();
    let record = raw("e-1");
    let r = report(
        "e-1",
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Approved,
        vec![],
    );
    store.begin(&r, &record, &lease(), &[]).await.unwrap();
    assert_eq!(store.raw_event("e-1").unwrap(), Some(record.clone()));
    assert_eq!(store.raw_event("e-2").unwrap(), None);
    // A duplicate delivery does not overwrite the raw record.
    store
        .begin(
            &r,
            &json!({"eventID": "e-1", "different": true}),
            &lease(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(store.raw_event("e-1").unwrap(), Some(record));
}

fn entry(id: &str, port: u16) -> AllowEntry {
    let mut e = AllowEntry::new(id, "netops@example.com", format!("NET-{port}"));
    e.protocol = Protocol::Tcp;
    e.ports = PortRange::single(port);
    e.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    e
}

/// Entries are listed in id order whatever order they were added in (the order
/// `Allowlist::new` evaluates them in, and the order the DynamoDB store returns), so every
/// store credits the same entry; the change log keeps the order things happened in.
#[tokio::test]
async fn allowlist_lists_by_id_replaces_in_place_and_logs_every_change() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert!(store.entries().await.unwrap().is_empty());
    for (id, port) in [("c", 3389), ("a", 22), ("b", 443)] {
        store
            .put(
                &entry(id, port),
                &allow_change("add", id, &format!("added {id}")),
            )
            .await
            .unwrap();
    }
    let ids = |entries: &[AllowEntry]| entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&store.entries().await.unwrap()), ["a", "b", "c"]);

    // Replacing `b` keeps one entry with that id, with the new content.
    let replacement = entry("b", 8443);
    store
        .put(&replacement, &allow_change("add", "b", "replaced b"))
        .await
        .unwrap();
    let entries = store.entries().await.unwrap();
    assert_eq!(ids(&entries), ["a", "b", "c"]);
    assert_eq!(entries[1], replacement);
    assert_eq!(entries[1].ports, PortRange::single(8443));

    assert!(
        store
            .remove("a", &allow_change("remove", "a", "removed a"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove("zzz", &allow_change("remove", "zzz", "nothing"))
            .await
            .unwrap()
    );
    assert_eq!(ids(&store.entries().await.unwrap()), ["b", "c"]);

    // Re-adding a removed entry brings it back in its place.
    store
        .put(&entry("a", 22), &allow_change("add", "a", "added a again"))
        .await
        .unwrap();
    assert_eq!(ids(&store.entries().await.unwrap()), ["a", "b", "c"]);

    let log = store.allowlist_changes().unwrap();
    let summary: Vec<(String, String, String)> = log
        .iter()
        .map(|c| (c.action.clone(), c.entry_id.clone(), c.detail.clone()))
        .collect();
    let expected = [
        ("add", "c", "added c"),
        ("add", "a", "added a"),
        ("add", "b", "added b"),
        ("add", "b", "replaced b"),
        ("remove", "a", "removed a"),
        ("add", "a", "added a again"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(
        summary, expected,
        "every change is logged in order; removing a missing entry is not a change"
    );
    assert_eq!(log[0], allow_change("add", "c", "added c"));
}

#[tokio::test]
async fn allowlist_entries_round_trip_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allow.db");
    let mut rich = AllowEntry::new(
        "terraform-public-https",
        "platform@example.com",
        "PLAT-77 public load balancers",
    );
    rich.expires = Some("2030-01-31T00:00:00Z".parse().unwrap());
    rich.direction = Direction::Egress;
    rich.protocol = Protocol::Tcp;
    rich.ports = PortRange {
        from: 8000,
        to: 8100,
    };
    rich.cidrs = vec![
        "203.0.113.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    rich.prefix_lists = vec!["pl-0a1b2c3d4e5f60718".into()];
    rich.source_groups = vec!["sg-0123".into()];
    rich.groups = vec!["sg-0fedcba9876543210".into()];
    rich.accounts = vec!["111122223333".into()];
    rich.regions = vec!["eu-west-1".into()];
    rich.principals = vec!["arn:aws:iam::*:role/terraform-*".into()];
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .put(&rich, &allow_change("import", &rich.id, "from file"))
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.entries().await.unwrap(), vec![rich]);
    assert_eq!(store.allowlist_changes().unwrap().len(), 1);
}

#[tokio::test]
async fn port_errors_from_the_store_are_permanent_and_explain() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Completing an event that was never begun cannot attach its changes to anything.
    let orphan = report(
        "e-orphan",
        "AuthorizeSecurityGroupIngress",
        "2026-11-20T09:00:00Z",
        Outcome::Reverted,
        vec![change(
            "sgr-1",
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::Reverted,
        )],
    );
    let err = store.complete(&orphan, &lease()).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("audit store"), "{err}");
    assert!(store.rule_history("sgr-1").await.unwrap().is_empty());
}

#[test]
fn a_file_that_is_not_a_database_names_the_store_and_the_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "not a database").unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    let chain = sgguard_responder::error_chain(&sgguard_responder::PortError::from(err));
    assert_eq!(
        chain,
        format!(
            "cannot open the audit store `{}`: file is not a database",
            path.display()
        )
    );
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(
        sgguard_responder::error_chain(&err),
        format!(
            "cannot open the audit store `{0}`: unable to open database file: {0}",
            dir.path().display()
        )
    );
}
