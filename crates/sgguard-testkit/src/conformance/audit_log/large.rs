//! Events of many rules: an Authorize of a thousand and a Modify of a hundred are begun,
//! completed and read back whole and in order, each rule's history its own, whatever limits
//! the store puts on item or transaction sizes.

use serde_json::{Value, json};
use sgguard_core::{Action, ChangeKind, Outcome};
use sgguard_responder::{AuditLog, Begin, ChangeReport, EventReport};

use super::super::fixtures::{Names, PENDING, change, lease, report};

/// The record of an Authorize of `rules`, as large as CloudTrail writes it.
fn raw_of(event_id: &str, rules: &[String]) -> Value {
    let items: Vec<Value> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            json!({
                "securityGroupRuleId": rule,
                "ipProtocol": "tcp",
                "fromPort": 1000 + i,
                "toPort": 1000 + i,
                "cidrIpv4": "0.0.0.0/0",
                "description": format!("rule {i} of a pipeline that opened too much"),
            })
        })
        .collect();
    json!({
        "eventID": event_id,
        "eventName": "AuthorizeSecurityGroupIngress",
        "responseElements": {"securityGroupRuleSet": {"items": items}},
    })
}

fn many(names: &Names, prefix: &str, n: usize, kind: ChangeKind) -> Vec<ChangeReport> {
    (0..n)
        .map(|i| {
            let rule = names.id(&format!("{prefix}-{i:04}"));
            let port = i32::try_from(1000 + i).unwrap();
            change(&rule, "0.0.0.0/0", port, kind, Action::Pending)
        })
        .collect()
}

/// Begins `pending`, checks it reads back whole, completes it as `done` with every change
/// at `action`, and checks the completed record and the last rule's history.
async fn record_and_complete<A: AuditLog>(log: &A, pending: EventReport, action: Action) {
    let event = pending.event_id.clone().unwrap();
    let rules: Vec<String> = pending
        .changes
        .iter()
        .map(|c| c.rule_id.clone().unwrap())
        .collect();
    let held = lease();
    assert_eq!(
        log.begin(&pending, &raw_of(&event, &rules), &held, PENDING)
            .await
            .unwrap(),
        Begin::Inserted,
        "begin of {} changes",
        rules.len()
    );
    let stored = log.event(&event).await.unwrap().unwrap();
    assert_eq!(stored.changes.len(), rules.len(), "every change is stored");
    assert_eq!(
        stored, pending,
        "the begun record reads back whole, in order"
    );

    let mut done = pending.clone();
    done.outcome = Outcome::Reverted;
    done.reason = format!("{} rules handled", rules.len());
    for change in &mut done.changes {
        change.action = action;
        change.remediation = Some(format!("{} by rule id", action.as_str()));
    }
    log.complete(&done, &held).await.unwrap();
    assert_eq!(
        log.event(&event).await.unwrap().as_ref(),
        Some(&done),
        "the completed record reads back whole"
    );
    let last = rules.last().unwrap();
    let history = log.rule_history(last).await.unwrap();
    assert_eq!(history.len(), 1, "{last} has its own history");
    assert_eq!(history[0].change.action, action);
    assert_eq!(history[0].change.rule_id.as_ref(), Some(last));
    assert_eq!(history[0].outcome, Outcome::Reverted);

    // A second delivery gets back what was stored, changes and all.
    match log
        .begin(&pending, &raw_of(&event, &rules), &lease(), PENDING)
        .await
        .unwrap()
    {
        Begin::Existing(stored) => assert_eq!(*stored, done),
        other => panic!("a second delivery of a completed record: {other:?}"),
    }
}

pub async fn a_thousand_rule_authorize_is_begun_completed_and_read_back_whole<A: AuditLog>(
    log: &A,
) {
    let names = Names::new("thousand");
    let changes = many(&names, "sgr-k", 1000, ChangeKind::Added);
    let pending = report(
        &names.id("e-thousand"),
        "AuthorizeSecurityGroupIngress",
        "2026-11-22T09:00:00Z",
        Outcome::Pending,
        changes,
    );
    record_and_complete(log, pending, Action::Reverted).await;
}

pub async fn a_hundred_rule_modification_is_begun_completed_and_read_back_whole<A: AuditLog>(
    log: &A,
) {
    let names = Names::new("hundred");
    let changes = many(&names, "sgr-h", 100, ChangeKind::Modified);
    let pending = report(
        &names.id("e-hundred"),
        "ModifySecurityGroupRules",
        "2026-11-22T10:00:00Z",
        Outcome::Pending,
        changes,
    );
    record_and_complete(log, pending, Action::Restored).await;
}

/// A rule changed forty times, read back in pages from an event in the middle: newest
/// first, nothing after the event, each page strictly before the last, until none is left.
pub async fn rule_history_pages_read_back_from_an_event_newest_first<A: AuditLog>(log: &A) {
    let names = Names::new("pages");
    let rule = names.id("sgr-often");
    let time = |i: usize| format!("2026-11-23T09:{:02}:{:02}Z", i / 60, i % 60);
    for i in 0..40 {
        let port = i32::try_from(1000 + i).unwrap();
        let modified = report(
            &names.id(&format!("e-{i:03}")),
            "ModifySecurityGroupRules",
            &time(i),
            Outcome::Flagged,
            vec![change(
                &rule,
                "10.0.0.0/8",
                port,
                ChangeKind::Modified,
                Action::Flagged,
            )],
        );
        let event = modified.event_id.clone().unwrap();
        assert_eq!(
            log.begin(&modified, &json!({"eventID": event}), &lease(), PENDING)
                .await
                .unwrap(),
            Begin::Inserted
        );
    }
    let until = time(30);
    let mut read = Vec::new();
    let mut pages = 0;
    loop {
        let before = read
            .last()
            .map(|s: &sgguard_responder::RuleSnapshot| (s.event_time.clone(), s.event_id.clone()));
        let page = log
            .rule_history_page(
                &rule,
                &until,
                before.as_ref().map(|(t, id)| (t.as_str(), id.as_str())),
                16,
            )
            .await
            .unwrap();
        assert!(page.len() <= 16);
        if page.is_empty() {
            break;
        }
        pages += 1;
        read.extend(page);
    }
    let ports: Vec<i32> = read.iter().map(|s| s.change.from_port.unwrap()).collect();
    let expected: Vec<i32> = (1000..=1030).rev().collect();
    assert_eq!(
        ports, expected,
        "newest first, none after the event, none twice"
    );
    assert_eq!(pages, 2);
}
