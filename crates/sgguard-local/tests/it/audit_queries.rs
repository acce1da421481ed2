//! Which index SQLite uses for each audit filter (`EXPLAIN QUERY PLAN`): every filter that
//! names an indexed column is a `SEARCH` on its index, not a scan of the events table.

use sgguard_core::Outcome;
use sgguard_local::SqliteStore;
use sgguard_responder::AuditFilter;

#[test]
fn each_filter_is_served_by_its_index() {
    let store = SqliteStore::open_in_memory().unwrap();
    let base = AuditFilter::default;
    let cases = [
        (
            "event id",
            AuditFilter {
                event_id: Some("e-1".into()),
                group_id: Some("sg-0a1b2c3d4e5f60718".into()),
                ..base()
            },
            vec!["(event_id=?)"],
        ),
        (
            "rule id",
            AuditFilter {
                rule_id: Some("sgr-0a7c3e5b9d1f2a4c6".into()),
                ..base()
            },
            vec!["changes_by_rule (rule_id=?)"],
        ),
        (
            "group id",
            AuditFilter {
                group_id: Some("sg-0a1b2c3d4e5f60718".into()),
                ..base()
            },
            vec!["events_by_group (group_id=?)"],
        ),
        (
            "exact actor or principal",
            AuditFilter {
                actor: Some("arn:aws:iam::111122223333:role/NetworkAdmin".into()),
                ..base()
            },
            vec![
                "events_by_actor (actor=?)",
                "events_by_principal (principal=?)",
            ],
        ),
        (
            "glob actor: the prefix before the first wildcard is a range",
            AuditFilter {
                actor: Some("arn:aws:sts::*:assumed-role/NetworkAdmin/*".into()),
                ..base()
            },
            vec![
                "events_by_actor (actor>? AND actor<?)",
                "events_by_principal (principal>? AND principal<?)",
            ],
        ),
        (
            "outcomes",
            AuditFilter {
                outcomes: vec![Outcome::Reverted, Outcome::WouldRevert],
                ..base()
            },
            vec!["events_by_outcome (outcome=?)"],
        ),
        (
            "account and region",
            AuditFilter {
                account: Some("111122223333".into()),
                region: Some("eu-west-1".into()),
                ..base()
            },
            vec!["events_by_scope (account=? AND region=?)"],
        ),
        (
            "time range",
            AuditFilter {
                since: Some(chrono::Utc::now() - chrono::Duration::days(7)),
                until: Some(chrono::Utc::now()),
                ..base()
            },
            vec!["events_by_time (event_time>? AND event_time<?)"],
        ),
    ];
    for (what, filter, wanted) in cases {
        let plan = store.query_plan(&filter).unwrap();
        let text = plan.join("\n");
        for step in wanted {
            assert!(
                plan.iter()
                    .any(|p| p.starts_with("SEARCH") && p.contains(step)),
                "{what}: no `SEARCH … {step}` in\n{text}"
            );
        }
        assert!(
            !plan.iter().any(|p| p.starts_with("SCAN events")),
            "{what}: scans the events table:\n{text}"
        );
    }
}
