//! `Responder::handle` end to end, against the SQLite store and fakes defined here: what is
//! recorded, which steps are executed under audit and enforce, and how an interrupted event
//! is resumed without reverting anything twice.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use sgguard_core::testing::{Authorize, Caller, Record, modify_rules, revoke_by_ids, tcp_content};
use sgguard_core::{
    Action, AllowEntry, Direction, Mode, ObservedRule, Outcome, Policy, PortRange, Protocol,
    RuleContent, Source,
};
use sgguard_local::SqliteStore;
use sgguard_responder::testing::{Fault, Faulty};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditLog, Error, EventReport, Lease, Origin, PortError,
    RemediationStep, Remediator, ReportOnlyRemediator, Responder, Scope, StaticAllowlist, StepKind,
    StepResult, StepStatus,
};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const GROUP: &str = "sg-0a1b2c3d4e5f60718";
const WORLD: &str = "0.0.0.0/0";
const OFFICE: &str = "203.0.113.0/24";
const SELF_ROLE: &str = "arn:aws:iam::111122223333:role/sgguard-responder";

// ---------------------------------------------------------------------------------------
// Event builders (on the shared ones of `sgguard_core::testing`)
// ---------------------------------------------------------------------------------------

fn user(name: &str) -> Caller {
    Caller::user(ACCOUNT, name)
}

fn assumed_role(role: &str, session: &str) -> Caller {
    Caller::role(ACCOUNT, role, session)
}

fn user_json(name: &str) -> Value {
    user(name).identity(ACCOUNT)
}

fn assumed_role_json(role: &str, session: &str) -> Value {
    assumed_role(role, session).identity(ACCOUNT)
}

/// An Authorize of `GROUP` at `time`, by alice.
fn authorize(event_id: &str, time: &str) -> Authorize {
    Authorize::new(event_id, GROUP).at(time)
}

/// `ModifySecurityGroupRules` of one rule to tcp `port` from `cidr`, by erin.
fn modify(event_id: &str, time: &str, rule_id: &str, cidr: &str, port: i32) -> Value {
    modify_many(event_id, time, &[(rule_id, cidr, port)])
}

/// `ModifySecurityGroupRules` of several rules, each `(rule id, cidr, tcp port)`, by erin.
fn modify_many(event_id: &str, time: &str, rules: &[(&str, &str, i32)]) -> Value {
    let rules: Vec<(&str, Value)> = rules
        .iter()
        .map(|(rule_id, cidr, port)| {
            let mut content = tcp_content(*port, cidr);
            content["Description"] = json!("changed");
            (*rule_id, content)
        })
        .collect();
    let mut record = modify_rules(event_id, &user("erin"), GROUP, &rules);
    record.time = time.to_owned();
    record.build()
}

/// `RevokeSecurityGroupIngress` by rule id, by alice.
fn revoke_by_id(event_id: &str, time: &str, rule_id: &str) -> Value {
    let mut record = revoke_by_ids(event_id, &user("alice"), GROUP, &[rule_id.to_owned()]);
    record.time = time.to_owned();
    record.build()
}

fn office_ssh() -> AllowEntry {
    let mut entry = AllowEntry::new("office-ssh", "netops@example.com", "NET-123 office SSH");
    entry.protocol = Protocol::Tcp;
    entry.ports = PortRange::single(22);
    entry.cidrs = vec![OFFICE.parse().unwrap()];
    entry
}

fn allowlist() -> StaticAllowlist {
    StaticAllowlist::new(vec![office_ssh()])
}

fn policy(mode: Mode) -> Policy {
    Policy {
        mode,
        self_arns: vec![SELF_ROLE.to_owned()],
        ..Policy::default()
    }
}

fn origin(file: &str, index: usize) -> Option<Origin> {
    Some(Origin {
        file: file.to_owned(),
        index,
    })
}

fn tcp_from(cidr: &str, port: i32) -> RuleContent {
    RuleContent {
        protocol: Protocol::Tcp,
        from_port: Some(port),
        to_port: Some(port),
        source: Source::parse(cidr).unwrap(),
        description: None,
    }
}

async fn stored(store: &SqliteStore, event_id: &str) -> EventReport {
    store
        .event(event_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("event {event_id} is not stored"))
}

// ---------------------------------------------------------------------------------------
// Fakes
// ---------------------------------------------------------------------------------------

/// What a scripted remediator does on one call.
#[derive(Debug, Clone, Copy)]
enum Script {
    Status(StepStatus),
    Retryable,
    Permanent,
}

/// Records every step it is given; follows its script, then succeeds (`Reverted`, or
/// `Restored` for a restore).
#[derive(Debug, Default)]
struct Recorder {
    steps: Mutex<Vec<RemediationStep>>,
    script: Mutex<VecDeque<Script>>,
}

impl Recorder {
    fn scripted(script: impl IntoIterator<Item = Script>) -> Self {
        Self {
            steps: Mutex::default(),
            script: Mutex::new(script.into_iter().collect()),
        }
    }

    fn steps(&self) -> Vec<RemediationStep> {
        self.steps.lock().unwrap().clone()
    }
}

impl Remediator for Recorder {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        self.steps.lock().unwrap().push(step.clone());
        let next = self.script.lock().unwrap().pop_front();
        let status = match next {
            Some(Script::Retryable) => {
                return Err(PortError::retryable(
                    "RequestLimitExceeded: request rate exceeded",
                ));
            }
            Some(Script::Permanent) => {
                return Err(PortError::permanent(
                    "UnauthorizedOperation: access denied to ec2:RevokeSecurityGroupIngress",
                ));
            }
            Some(Script::Status(status)) => status,
            None if matches!(step.kind, StepKind::Restore { .. }) => StepStatus::Restored,
            None => StepStatus::Reverted,
        };
        let detail = match status {
            StepStatus::AlreadyGone => "the rule was already gone".to_owned(),
            StepStatus::Restored => "restored and confirmed".to_owned(),
            other => format!("{other:?} and confirmed"),
        };
        Ok(StepResult { status, detail })
    }
}

// ---------------------------------------------------------------------------------------
// (a) audit mode
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn audit_mode_reports_what_it_would_revoke_and_stores_the_event() {
    let store = SqliteStore::open_in_memory().unwrap();
    let responder = Responder::new(
        &store,
        allowlist(),
        ReportOnlyRemediator,
        policy(Mode::Audit),
    );
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .tcp("sgr-office", 22, OFFICE)
        .build();

    let report = responder
        .handle(&record, origin("a.json", 0))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::WouldRevert);
    assert!(
        report.reason.contains("audit mode, nothing reverted"),
        "{}",
        report.reason
    );
    assert_eq!(report.event_id.as_deref(), Some("e-1"));
    assert_eq!(report.event_time.as_deref(), Some("2026-11-20T09:15:02Z"));
    assert_eq!(report.account.as_deref(), Some(ACCOUNT));
    assert_eq!(report.region.as_deref(), Some(REGION));
    assert_eq!(report.group_id.as_deref(), Some(GROUP));
    assert_eq!(
        report.actor.as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert_eq!(report.origin, origin("a.json", 0));

    let [world, office] = report.changes.as_slice() else {
        panic!("expected two changes: {:?}", report.changes)
    };
    assert_eq!(world.rule_id.as_deref(), Some("sgr-world"));
    assert_eq!(world.action, Action::WouldRevert);
    assert_eq!(world.approved_by, None);
    assert_eq!(
        world.remediation.as_deref(),
        Some("would revoke ingress sgr-world by rule id")
    );
    assert_eq!(office.action, Action::None);
    assert_eq!(office.approved_by.as_deref(), Some("office-ssh"));
    assert_eq!(office.remediation, None);

    // Stored as reported, without the run's origin.
    assert_eq!(
        stored(&store, "e-1").await,
        report.clone().with_origin(None)
    );
    assert_eq!(store.raw_event("e-1").unwrap(), Some(record));
}

#[tokio::test]
async fn audit_mode_never_calls_the_remediator() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Audit));
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .build();
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::WouldRevert);
    assert!(recorder.steps().is_empty(), "{:?}", recorder.steps());
}

#[tokio::test]
async fn report_only_remediator_under_enforce_is_a_dry_run() {
    let store = SqliteStore::open_in_memory().unwrap();
    let responder = Responder::new(
        &store,
        allowlist(),
        ReportOnlyRemediator,
        policy(Mode::Enforce),
    );
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .build();
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::WouldRevert);
    assert_eq!(report.changes[0].action, Action::WouldRevert);
    let remediation = report.changes[0].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.starts_with("revoke ingress sgr-world by rule id: dry run, not executed"),
        "{remediation}"
    );
    assert!(
        report.reason.contains("dry run, would revert 1"),
        "{}",
        report.reason
    );
    let kept = stored(&store, "e-1").await;
    assert_eq!(
        kept.outcome,
        Outcome::WouldRevert,
        "a dry run is not left pending"
    );
    assert_eq!(kept.changes[0].action, Action::WouldRevert);
}

#[tokio::test]
async fn the_store_serves_as_the_allowlist() {
    let store = SqliteStore::open_in_memory().unwrap();
    let responder = Responder::new(&store, &store, ReportOnlyRemediator, policy(Mode::Audit));
    let before = authorize("e-1", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, OFFICE)
        .build();
    let report = responder.handle(&before, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Flagged, "{}", report.reason);
    assert_eq!(report.changes[0].approved_by, None);

    let change = AllowlistChange {
        at: "2026-11-20T09:30:00Z".into(),
        by: "netops".into(),
        action: "add".into(),
        entry_id: "office-ssh".into(),
        detail: "NET-123".into(),
    };
    store.put(&office_ssh(), &change).await.unwrap();
    let after = authorize("e-2", "2026-11-20T10:00:00Z")
        .tcp("sgr-2", 22, OFFICE)
        .build();
    let report = responder.handle(&after, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Approved);
    assert_eq!(report.changes[0].approved_by.as_deref(), Some("office-ssh"));
    assert!(report.reason.contains("office-ssh"), "{}", report.reason);
}

// ---------------------------------------------------------------------------------------
// (b) enforce mode with a recording remediator
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn enforce_revokes_only_the_unapproved_rule_ids_of_the_call() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world-ssh", 22, WORLD)
        .tcp("sgr-office", 22, OFFICE)
        .tcp("sgr-world-rdp", 3389, WORLD)
        .build();

    let report = responder.handle(&record, None).await.unwrap();
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    let step = &steps[0];
    assert_eq!(
        step.kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-world-ssh".into(), "sgr-world-rdp".into()]
        }
    );
    assert_eq!(step.direction, Direction::Ingress);
    assert_eq!(step.account, ACCOUNT);
    assert_eq!(step.region, REGION);
    assert_eq!(step.group_id.as_deref(), Some(GROUP));
    assert_eq!(step.changes, vec![0, 2]);

    assert_eq!(report.outcome, Outcome::Reverted);
    assert!(report.reason.contains("reverted 2"), "{}", report.reason);
    let actions: Vec<Action> = report.changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Reverted, Action::None, Action::Reverted]);
    // Each change names its own rule only: a record stays linear in the rule count.
    let remediation = report.changes[0].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.starts_with("revoke ingress sgr-world-ssh by rule id"),
        "{remediation}"
    );
    let remediation = report.changes[2].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.starts_with("revoke ingress sgr-world-rdp by rule id"),
        "{remediation}"
    );
    assert_eq!(report.changes[1].remediation, None);

    let kept = stored(&store, "e-1").await;
    assert_eq!(kept.outcome, Outcome::Reverted);
    assert_eq!(kept.changes, report.changes);
}

#[tokio::test]
async fn records_without_rule_ids_revoke_exactly_the_unapproved_permissions() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let record = authorize("e-old", "2019-05-01T12:00:00Z")
        .tcp("unused", 22, WORLD)
        .tcp("unused", 22, OFFICE)
        .tcp("unused", 3306, "198.51.100.7/0")
        .without_rule_ids()
        .build();

    let report = responder.handle(&record, None).await.unwrap();
    assert!(
        report.changes.iter().all(|c| c.rule_id.is_none()),
        "{:?}",
        report.changes
    );
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        steps[0].kind,
        StepKind::RevokePermissions {
            contents: vec![tcp_from(WORLD, 22), tcp_from("198.51.100.7/0", 3306)]
        }
    );
    assert_eq!(steps[0].changes, vec![0, 2]);
    assert!(
        steps[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("no rule ids"),
        "{:?}",
        steps[0].note
    );
    // Host bits are kept as written, so the revoke matches the permission EC2 stored.
    assert!(
        steps[0]
            .to_string()
            .contains("tcp 3306 from 198.51.100.7/0"),
        "{}",
        steps[0]
    );
    assert_eq!(report.outcome, Outcome::Reverted);
    let actions: Vec<Action> = report.changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Reverted, Action::None, Action::Reverted]);
}

#[tokio::test]
async fn a_modification_of_an_accepted_rule_is_restored_to_the_accepted_content() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, OFFICE)
        .build();
    assert_eq!(
        responder.handle(&added, None).await.unwrap().outcome,
        Outcome::Approved
    );
    assert!(recorder.steps().is_empty());

    let widened = modify("e-modify", "2026-11-20T14:00:00Z", "sgr-1", WORLD, 22);
    let report = responder.handle(&widened, None).await.unwrap();
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    let StepKind::Restore {
        rule_id,
        content,
        from_event,
    } = &steps[0].kind
    else {
        panic!("expected a restore, got {:?}", steps[0]);
    };
    assert_eq!(rule_id, "sgr-1");
    assert_eq!(from_event, "e-add");
    assert_eq!(content.protocol, Protocol::Tcp);
    assert_eq!((content.from_port, content.to_port), (Some(22), Some(22)));
    assert_eq!(content.source, Source::parse(OFFICE).unwrap());
    // The record does not say the direction; the rule's history does.
    assert_eq!(steps[0].direction, Direction::Ingress);
    assert_eq!(report.changes[0].direction, Direction::Ingress);

    assert_eq!(report.outcome, Outcome::Restored);
    assert_eq!(report.changes[0].action, Action::Restored);
    assert!(report.reason.contains("restored 1"), "{}", report.reason);
    let remediation = report.changes[0].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation
            .starts_with("restore sgr-1 to tcp 22 from 203.0.113.0/24 (accepted in event e-add)"),
        "{remediation}"
    );
    assert_eq!(stored(&store, "e-modify").await.outcome, Outcome::Restored);

    // A second widening goes back to the same accepted content, not to the restored-from one.
    let again = modify("e-modify-2", "2026-11-20T15:00:00Z", "sgr-1", WORLD, 3389);
    responder.handle(&again, None).await.unwrap();
    let steps = recorder.steps();
    assert_eq!(steps.len(), 2);
    assert!(
        matches!(&steps[1].kind, StepKind::Restore { from_event, content, .. } if from_event == "e-add" && content.source == Source::parse(OFFICE).unwrap()),
        "{:?}",
        steps[1]
    );
}

#[tokio::test]
async fn audit_mode_says_it_would_restore() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Audit));
    responder
        .handle(
            &authorize("e-add", "2026-11-20T09:00:00Z")
                .tcp("sgr-1", 22, OFFICE)
                .build(),
            None,
        )
        .await
        .unwrap();
    let report = responder
        .handle(
            &modify("e-modify", "2026-11-20T14:00:00Z", "sgr-1", WORLD, 22),
            None,
        )
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::WouldRevert);
    assert_eq!(report.changes[0].action, Action::WouldRevert);
    assert_eq!(
        report.changes[0].remediation.as_deref(),
        Some("would restore sgr-1 to tcp 22 from 203.0.113.0/24 (accepted in event e-add)")
    );
    assert!(recorder.steps().is_empty());
}

#[tokio::test]
async fn a_modification_without_accepted_history_is_revoked_and_says_why() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let report = responder
        .handle(
            &modify("e-modify", "2026-11-20T14:00:00Z", "sgr-unknown", WORLD, 22),
            None,
        )
        .await
        .unwrap();
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        steps[0].kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-unknown".into()]
        }
    );
    let note = steps[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains("no earlier accepted content is known"),
        "{note}"
    );
    assert_eq!(report.outcome, Outcome::Reverted);
    assert_eq!(report.changes[0].action, Action::Reverted);
    let remediation = report.changes[0].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.contains("no earlier accepted content is known, so the rule is revoked"),
        "{remediation}"
    );
}

#[tokio::test]
async fn accepted_content_from_before_a_revoke_is_not_restored() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    responder
        .handle(
            &authorize("e-add", "2026-11-20T09:00:00Z")
                .tcp("sgr-1", 22, OFFICE)
                .build(),
            None,
        )
        .await
        .unwrap();
    let revoked = responder
        .handle(
            &revoke_by_id("e-revoke", "2026-11-20T10:00:00Z", "sgr-1"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(revoked.outcome, Outcome::Recorded);
    responder
        .handle(
            &modify("e-modify", "2026-11-20T14:00:00Z", "sgr-1", WORLD, 22),
            None,
        )
        .await
        .unwrap();
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(
        steps[0].kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-1".into()]
        }
    );
}

#[tokio::test]
async fn a_duplicate_delivery_executes_no_step() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .build();
    let first = responder
        .handle(&record, origin("a.json", 0))
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Reverted);
    assert_eq!(recorder.steps().len(), 1);

    let second = responder
        .handle(&record, origin("b.json", 5))
        .await
        .unwrap();
    assert_eq!(second.outcome, Outcome::Duplicate);
    assert!(
        second
            .reason
            .contains("already recorded with outcome reverted"),
        "{}",
        second.reason
    );
    assert_eq!(second.origin, origin("b.json", 5));
    assert_eq!(
        second.changes, first.changes,
        "the duplicate shows what was done the first time"
    );
    assert_eq!(
        recorder.steps().len(),
        1,
        "a duplicate must not be acted on again"
    );
    assert_eq!(
        stored(&store, "e-1").await.outcome,
        Outcome::Reverted,
        "the stored outcome is not overwritten"
    );
    assert_eq!(store.events().unwrap().len(), 1);
}

#[tokio::test]
async fn own_actions_are_proven_not_presumed() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let user_arn = "arn:aws:iam::111122223333:user/sgguard-operator";
    let mut own = policy(Mode::Enforce);
    own.self_arns.push(user_arn.to_owned());
    let responder = Responder::new(&store, allowlist(), &recorder, own);

    // The responder's revokes, by its role (any session) or an exact user ARN, are its own.
    let mut by_role = revoke_by_id("e-role", "2026-11-20T09:00:00Z", "sgr-1");
    by_role["userIdentity"] = assumed_role_json("sgguard-responder", "lambda-1234");
    let mut by_user = revoke_by_id("e-user", "2026-11-20T09:01:00Z", "sgr-2");
    by_user["userIdentity"] = user_json("sgguard-operator");
    for (record, id) in [(by_role, "e-role"), (by_user, "e-user")] {
        let report = responder.handle(&record, None).await.unwrap();
        assert_eq!(
            report.outcome,
            Outcome::OwnAction,
            "{id}: {}",
            report.reason
        );
        assert!(
            report.reason.contains("responder itself"),
            "{}",
            report.reason
        );
        let kept = stored(&store, id).await;
        assert_eq!(kept.outcome, Outcome::OwnAction);
        assert_eq!(kept.changes.len(), 1);
    }
    assert!(recorder.steps().is_empty(), "{:?}", recorder.steps());

    // An Authorize with the responder's identity is not something it does: judged and
    // reverted like anyone's, with a reason that says whose identity it used.
    let borrowed = authorize("e-borrowed", "2026-11-20T09:02:00Z")
        .tcp("sgr-3", 22, WORLD)
        .by(assumed_role("sgguard-responder", "mallory"));
    let report = responder.handle(&borrowed.build(), None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    assert!(
        report.changes[0]
            .risk_reasons
            .iter()
            .any(|r| r.contains("responder's own identity")),
        "{:?}",
        report.changes[0].risk_reasons
    );
    assert_eq!(recorder.steps().len(), 1);

    // Another role's session is not the responder.
    let other = authorize("e-other", "2026-11-20T09:03:00Z")
        .tcp("sgr-4", 22, WORLD)
        .by(assumed_role("sgguard-responder-test", "x"));
    let report = responder.handle(&other.build(), None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted);
    assert!(
        !report.changes[0]
            .risk_reasons
            .iter()
            .any(|r| r.contains("responder's own identity"))
    );
    assert_eq!(recorder.steps().len(), 2);
}

#[tokio::test]
async fn failed_calls_and_unrelated_records_are_not_stored() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));

    let failed = authorize("e-failed", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .failed("Client.InvalidPermission.Duplicate")
        .build();
    let report = responder
        .handle(&failed, origin("f.json", 1))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::SkippedFailedCall);
    assert!(
        report.reason.contains("Client.InvalidPermission.Duplicate"),
        "{}",
        report.reason
    );
    assert_eq!(report.event_id.as_deref(), Some("e-failed"));
    assert_eq!(report.origin, origin("f.json", 1));

    let unrelated = json!({"eventID": "e-run", "eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "eventTime": "2026-11-20T09:00:00Z"});
    let report = responder.handle(&unrelated, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::SkippedUnrelated);
    assert!(report.reason.contains("RunInstances"), "{}", report.reason);

    // The right name from another service is not a security-group call either.
    let elsewhere = authorize("e-elsewhere", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .event_source("s3.amazonaws.com")
        .build();
    assert_eq!(
        responder.handle(&elsewhere, None).await.unwrap().outcome,
        Outcome::SkippedUnrelated
    );

    assert!(store.events().unwrap().is_empty());
    assert!(store.invalid_records().unwrap().is_empty());
    assert_eq!(store.raw_event("e-failed").unwrap(), None);
    assert!(recorder.steps().is_empty());
}

#[tokio::test]
async fn invalid_records_are_kept_with_an_error_naming_the_field() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));

    let mut record = authorize("e-bad", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .build();
    record["responseElements"]["securityGroupRuleSet"]["items"][0]["cidrIpv4"] =
        json!("not-a-cidr");
    let report = responder
        .handle(&record, origin("bad.json", 4))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Invalid);
    assert!(
        report
            .reason
            .contains("responseElements.securityGroupRuleSet.items[0].cidrIpv4"),
        "{}",
        report.reason
    );
    assert!(
        report.reason.contains("bad.json record 4"),
        "{}",
        report.reason
    );
    assert_eq!(report.event_id.as_deref(), Some("e-bad"));

    let kept = store.invalid_records().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].key, "e-bad");
    assert_eq!(kept[0].raw, record);
    assert_eq!(kept[0].error, report.reason);
    assert_eq!(kept[0].origin, origin("bad.json", 4));
    assert!(
        store.events().unwrap().is_empty(),
        "an invalid record is not an event"
    );

    // Without an eventID the key is a digest of the record, the same every time.
    let mut anonymous = authorize("ignored", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .build();
    anonymous.as_object_mut().unwrap().remove("eventID");
    for _ in 0..2 {
        let report = responder.handle(&anonymous, None).await.unwrap();
        assert_eq!(report.outcome, Outcome::Invalid);
        assert!(report.reason.contains("`eventID`"), "{}", report.reason);
    }
    let kept = store.invalid_records().unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let digest = kept.iter().find(|r| r.key != "e-bad").unwrap();
    assert!(digest.key.starts_with("invalid-"), "{}", digest.key);
    assert_eq!(digest.raw, anonymous);
    assert!(recorder.steps().is_empty());
}

#[tokio::test]
async fn egress_is_only_flagged_unless_reverting_egress_is_enabled() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let record = authorize("e-egress", "2026-11-20T09:00:00Z")
        .tcp("sgr-out", 22, WORLD)
        .egress()
        .build();
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Flagged);
    assert!(recorder.steps().is_empty());

    let store = SqliteStore::open_in_memory().unwrap();
    let revert_egress = Policy {
        revert_egress: true,
        ..policy(Mode::Enforce)
    };
    let responder = Responder::new(&store, allowlist(), &recorder, revert_egress);
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted);
    let steps = recorder.steps();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].direction, Direction::Egress);
    assert_eq!(
        steps[0].kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-out".into()]
        }
    );
}

#[tokio::test]
async fn a_modified_egress_rule_keeps_its_direction_from_history() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-out", 5432, "10.0.0.0/8")
        .egress()
        .build();
    assert_eq!(
        responder.handle(&added, None).await.unwrap().outcome,
        Outcome::Flagged
    );
    let report = responder
        .handle(
            &modify("e-modify", "2026-11-20T14:00:00Z", "sgr-out", WORLD, 5432),
            None,
        )
        .await
        .unwrap();
    assert_eq!(report.changes[0].direction, Direction::Egress);
    assert_eq!(
        report.outcome,
        Outcome::Flagged,
        "egress is not reverted without revert_egress: {}",
        report.reason
    );
    assert!(recorder.steps().is_empty(), "{:?}", recorder.steps());
}

#[tokio::test]
async fn a_modification_of_several_rules_restores_one_and_revokes_the_other() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    responder
        .handle(
            &authorize("e-add", "2026-11-20T09:00:00Z")
                .tcp("sgr-1", 22, OFFICE)
                .build(),
            None,
        )
        .await
        .unwrap();
    let record = modify_many(
        "e-modify",
        "2026-11-20T14:00:00Z",
        &[
            ("sgr-1", WORLD, 22),
            ("sgr-new", WORLD, 3389),
            ("sgr-fine", OFFICE, 22),
        ],
    );
    let report = responder.handle(&record, None).await.unwrap();
    let steps = recorder.steps();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        matches!(&steps[0].kind, StepKind::Restore { rule_id, .. } if rule_id == "sgr-1"),
        "{:?}",
        steps[0]
    );
    assert_eq!(steps[0].changes, vec![0]);
    assert_eq!(
        steps[1].kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-new".into()]
        }
    );
    assert_eq!(steps[1].changes, vec![1]);
    let actions: Vec<Action> = report.changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Restored, Action::Reverted, Action::None]);
    assert_eq!(report.changes[2].approved_by.as_deref(), Some("office-ssh"));
    assert_eq!(
        report.outcome,
        Outcome::Reverted,
        "the strongest action wins"
    );
    assert!(
        report.reason.contains("reverted 1") && report.reason.contains("restored 1"),
        "{}",
        report.reason
    );
}

// ---------------------------------------------------------------------------------------
// (c) faults
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_retryable_remediation_failure_leaves_the_event_pending_and_a_retry_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .tcp("sgr-office", 22, OFFICE)
        .build();

    // First delivery: EC2 throttles.
    {
        let store = SqliteStore::open(&path).unwrap();
        let throttled = Recorder::scripted([Script::Retryable]);
        let responder = Responder::new(&store, allowlist(), &throttled, policy(Mode::Enforce));
        let err = responder.handle(&record, None).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(matches!(err, Error::Remediation(_)), "{err:?}");
        assert_eq!(throttled.steps().len(), 1);
        let kept = stored(&store, "e-1").await;
        assert_eq!(kept.outcome, Outcome::Pending);
        assert_eq!(kept.changes[0].action, Action::Pending);
        assert_eq!(kept.changes[1].action, Action::None);
    }

    // The retry (a new process) resumes from the stored record.
    let store = SqliteStore::open(&path).unwrap();
    let working = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &working, policy(Mode::Enforce));
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted);
    assert_eq!(report.changes[0].action, Action::Reverted);
    assert_eq!(working.steps().len(), 1, "{:?}", working.steps());
    assert_eq!(
        working.steps()[0].kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-world".into()]
        }
    );
    assert_eq!(stored(&store, "e-1").await.outcome, Outcome::Reverted);

    // Once completed, another delivery is a duplicate and calls nothing.
    assert_eq!(
        responder.handle(&record, None).await.unwrap().outcome,
        Outcome::Duplicate
    );
    assert_eq!(working.steps().len(), 1);
}

#[tokio::test]
async fn a_permanent_remediation_failure_is_recorded_as_revert_failed() {
    let store = SqliteStore::open_in_memory().unwrap();
    let denied = Recorder::scripted([Script::Permanent]);
    let responder = Responder::new(&store, allowlist(), &denied, policy(Mode::Enforce));
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .build();
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::RevertFailed);
    assert_eq!(report.changes[0].action, Action::Failed);
    let remediation = report.changes[0].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.contains("failed: UnauthorizedOperation: access denied"),
        "{remediation}"
    );
    assert!(
        report.reason.contains("failed to revert 1"),
        "{}",
        report.reason
    );
    let kept = stored(&store, "e-1").await;
    assert_eq!(kept.outcome, Outcome::RevertFailed);
    assert_eq!(kept.changes[0].action, Action::Failed);
    assert_eq!(
        store.rule_history("sgr-world").await.unwrap()[0]
            .change
            .action,
        Action::Failed
    );

    // Not retried on redelivery: a person has to look at it.
    assert_eq!(
        responder.handle(&record, None).await.unwrap().outcome,
        Outcome::Duplicate
    );
    assert_eq!(denied.steps().len(), 1);
}

#[tokio::test]
async fn a_failed_revert_is_retried_only_on_request_and_judged_afresh() {
    let store = SqliteStore::open_in_memory().unwrap();
    let denied = Recorder::scripted([Script::Permanent, Script::Permanent]);
    let failing = Responder::new(&store, allowlist(), &denied, policy(Mode::Enforce));
    let ssh = authorize("e-ssh", "2026-11-20T09:15:02Z")
        .tcp("sgr-ssh", 22, WORLD)
        .build();
    let rdp = authorize("e-rdp", "2026-11-20T09:16:02Z")
        .tcp("sgr-rdp", 3389, WORLD)
        .build();
    for record in [&ssh, &rdp] {
        let report = failing.handle(record, None).await.unwrap();
        assert_eq!(report.outcome, Outcome::RevertFailed);
    }

    // The cause is fixed, and RDP from anywhere has been approved since.
    let mut kiosk = AllowEntry::new("kiosk-rdp", "it@example.com", "IT-7 kiosk");
    kiosk.protocol = Protocol::Tcp;
    kiosk.ports = PortRange::single(3389);
    kiosk.cidrs = vec![WORLD.parse().unwrap()];
    let approved_since = StaticAllowlist::new(vec![office_ssh(), kiosk]);
    let working = Recorder::default();

    // Without asking, a failed revert stays as it is.
    let plain = Responder::new(&store, &approved_since, &working, policy(Mode::Enforce));
    assert_eq!(
        plain.handle(&ssh, None).await.unwrap().outcome,
        Outcome::Duplicate
    );
    // Asking in audit mode changes nothing either.
    let audit = Responder::new(&store, &approved_since, &working, policy(Mode::Audit))
        .retrying_failed(true);
    assert_eq!(
        audit.handle(&ssh, None).await.unwrap().outcome,
        Outcome::Duplicate
    );
    assert!(working.steps().is_empty());

    let retry = Responder::new(&store, &approved_since, &working, policy(Mode::Enforce))
        .retrying_failed(true);
    let report = retry.handle(&ssh, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    assert!(
        report.reason.starts_with("retried after revert_failed: "),
        "{}",
        report.reason
    );
    assert_eq!(stored(&store, "e-ssh").await.outcome, Outcome::Reverted);
    assert_eq!(
        store.rule_history("sgr-ssh").await.unwrap()[0]
            .change
            .action,
        Action::Reverted
    );

    // Approved since the failure: recorded as approved, nothing done.
    let report = retry.handle(&rdp, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Approved, "{}", report.reason);
    assert_eq!(report.changes[0].approved_by.as_deref(), Some("kiosk-rdp"));
    assert_eq!(stored(&store, "e-rdp").await.outcome, Outcome::Approved);

    // One revoke in all, and settled events are duplicates even when retrying.
    assert_eq!(working.steps().len(), 1);
    assert_eq!(
        retry.handle(&ssh, None).await.unwrap().outcome,
        Outcome::Duplicate
    );
    assert_eq!(working.steps().len(), 1);
}

#[tokio::test]
async fn a_failed_complete_is_resumed_and_the_revoke_reissued() {
    let store = SqliteStore::open_in_memory().unwrap();
    let flaky = Faulty::new(&store).fail("complete", Fault::Retryable, 1);
    let recorder = Recorder::scripted([
        Script::Status(StepStatus::Reverted),
        Script::Status(StepStatus::AlreadyGone),
    ]);
    let responder = Responder::new(&flaky, allowlist(), &recorder, policy(Mode::Enforce));
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .build();

    let err = responder.handle(&record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Audit(_)), "{err:?}");
    assert_eq!(
        recorder.steps().len(),
        1,
        "the revoke ran before the audit log failed"
    );
    assert_eq!(
        stored(&store, "e-1").await.outcome,
        Outcome::Pending,
        "the interrupted event stays pending"
    );

    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted);
    assert_eq!(report.changes[0].action, Action::Reverted);
    let steps = recorder.steps();
    assert_eq!(steps.len(), 2, "the revoke is re-issued: {steps:?}");
    assert_eq!(steps[0], steps[1]);
    assert!(
        report.reason.contains("1 already gone"),
        "{}",
        report.reason
    );
    assert_eq!(flaky.calls("complete"), 2);
    let kept = stored(&store, "e-1").await;
    assert_eq!(kept.outcome, Outcome::Reverted);
    assert_eq!(kept.changes[0].action, Action::Reverted);
}

#[tokio::test]
async fn an_unreachable_allowlist_is_retryable_and_stores_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(
        &store,
        Faulty::new(StaticAllowlist::default()).fail("entries", Fault::Retryable, usize::MAX),
        &recorder,
        policy(Mode::Enforce),
    );
    let record = authorize("e-1", "2026-11-20T09:15:02Z")
        .tcp("sgr-world", 22, WORLD)
        .build();
    let err = responder.handle(&record, None).await.unwrap_err();
    assert!(matches!(err, Error::Allowlist(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("allowlist"), "{err}");
    assert!(
        store.events().unwrap().is_empty(),
        "nothing is recorded before the decision"
    );
    assert!(recorder.steps().is_empty());
}

#[tokio::test]
async fn a_retry_after_a_partial_remediation_settles_every_step() {
    let store = SqliteStore::open_in_memory().unwrap();
    let setup = Responder::new(
        &store,
        allowlist(),
        ReportOnlyRemediator,
        policy(Mode::Enforce),
    );
    setup
        .handle(
            &authorize("e-add", "2026-11-20T09:00:00Z")
                .tcp("sgr-1", 22, OFFICE)
                .build(),
            None,
        )
        .await
        .unwrap();
    let record = modify_many(
        "e-modify",
        "2026-11-20T14:00:00Z",
        &[("sgr-1", WORLD, 22), ("sgr-new", WORLD, 3389)],
    );

    // The restore works, then EC2 throttles the revoke.
    let first = Recorder::scripted([Script::Status(StepStatus::Restored), Script::Retryable]);
    let err = Responder::new(&store, allowlist(), &first, policy(Mode::Enforce))
        .handle(&record, None)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(first.steps().len(), 2);
    let kept = stored(&store, "e-modify").await;
    assert_eq!(kept.outcome, Outcome::Pending);
    assert!(
        kept.changes.iter().all(|c| c.action == Action::Pending),
        "{:?}",
        kept.changes
    );

    // The retry settles both: the restore again (harmless) and the revoke.
    let second = Recorder::default();
    let report = Responder::new(&store, allowlist(), &second, policy(Mode::Enforce))
        .handle(&record, None)
        .await
        .unwrap();
    assert_eq!(second.steps(), first.steps());
    let actions: Vec<Action> = report.changes.iter().map(|c| c.action).collect();
    assert_eq!(actions, [Action::Restored, Action::Reverted]);
    assert_eq!(stored(&store, "e-modify").await.outcome, Outcome::Reverted);
}

/// An allowlist whose entries are invalid (a permanent error, as one malformed item gives).
fn broken_allowlist() -> Faulty<StaticAllowlist> {
    Faulty::new(StaticAllowlist::default()).fail("entries", Fault::Permanent, usize::MAX)
}

#[tokio::test]
async fn an_unusable_allowlist_records_and_flags_but_never_reverts() {
    let store = SqliteStore::open_in_memory().unwrap();
    let remediator = Recorder::default();
    let policy = Policy {
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let responder = Responder::new(&store, broken_allowlist(), &remediator, policy);
    let record = authorize("broken-allowlist", "2026-11-20T09:00:00Z")
        .tcp("sgr-0000000000000000b", 22, "0.0.0.0/0")
        .build();
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Flagged, "{report:?}");
    assert!(
        report.reason.contains("allowlist unusable"),
        "{}",
        report.reason
    );
    // Named apart from the reason, so the outcome rule and the metric can tell it.
    let error = report.allowlist_error.as_deref().unwrap_or_default();
    assert!(error.contains("entries failed (injected)"), "{error}");
    assert_eq!(
        stored(&store, "broken-allowlist").await.allowlist_error,
        report.allowlist_error
    );
    assert!(
        remediator.steps().is_empty(),
        "nothing is reverted without an allowlist"
    );
    assert!(
        store.event("broken-allowlist").await.unwrap().is_some(),
        "the event is still recorded"
    );
}

// ---------------------------------------------------------------------------------------
// (d) compare, then act: a live remediator over an EC2 held in memory
// ---------------------------------------------------------------------------------------

/// A live remediator over an EC2 held in memory: it describes the rules it holds and
/// changes them when a step runs, so the comparison before acting is exercised. (The real
/// EC2 adapter is tested against the emulator; this fake lets the orchestration be tested
/// with plain data.)
#[derive(Debug, Default)]
struct World {
    rules: Mutex<std::collections::HashMap<String, ObservedRule>>,
    steps: Mutex<Vec<RemediationStep>>,
    /// Prefix lists: every version's entries, the current version last.
    lists: Mutex<std::collections::HashMap<String, Vec<Vec<ipnet::IpNet>>>>,
    busy: std::sync::atomic::AtomicBool,
}

impl World {
    /// EC2 after the calls of `records`: the rules each Authorize created, with the content
    /// each Modify set.
    fn after(records: &[&Value]) -> Self {
        let world = Self::default();
        for record in records {
            let set = sgguard_core::normalize(record).unwrap();
            for change in set.changes {
                let (Some(id), Some(content)) = (change.rule_id, change.content) else {
                    continue;
                };
                let mut rules = world.rules.lock().unwrap();
                match change.kind {
                    sgguard_core::ChangeKind::Added => {
                        rules.insert(
                            id.clone(),
                            ObservedRule {
                                rule_id: id,
                                group_id: GROUP.into(),
                                direction: change.direction,
                                content,
                            },
                        );
                    }
                    sgguard_core::ChangeKind::Modified => {
                        if let Some(rule) = rules.get_mut(&id) {
                            rule.content = content;
                        }
                    }
                    _ => {}
                }
            }
        }
        world
    }

    fn content(&self, rule_id: &str) -> Option<String> {
        self.rules
            .lock()
            .unwrap()
            .get(rule_id)
            .map(|r| r.content.to_string())
    }

    /// Someone changes the rule in EC2, and sgguard hears of it later.
    fn set(&self, rule_id: &str, content: RuleContent) {
        if let Some(rule) = self.rules.lock().unwrap().get_mut(rule_id) {
            rule.content = content;
        }
    }

    fn steps(&self) -> Vec<RemediationStep> {
        self.steps.lock().unwrap().clone()
    }
}

impl World {
    /// A prefix list whose versions held these entries, oldest first.
    fn with_list(self, id: &str, versions: &[&[&str]]) -> Self {
        let versions = versions
            .iter()
            .map(|v| v.iter().map(|e| e.parse().unwrap()).collect())
            .collect();
        self.lists.lock().unwrap().insert(id.to_owned(), versions);
        self
    }

    fn entries(&self, id: &str) -> Vec<String> {
        self.lists.lock().unwrap()[id]
            .last()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

impl Remediator for World {
    fn is_live(&self) -> bool {
        true
    }

    async fn prefix_list(
        &self,
        _: &Scope,
        prefix_list_id: &str,
        version: Option<i64>,
    ) -> Result<Option<sgguard_core::PrefixList>, PortError> {
        let lists = self.lists.lock().unwrap();
        let Some(versions) = lists.get(prefix_list_id) else {
            return Ok(None);
        };
        let current = versions.len() as i64;
        let wanted = version.unwrap_or(current);
        let entries = usize::try_from(wanted - 1)
            .ok()
            .and_then(|i| versions.get(i))
            .cloned()
            .unwrap_or_default();
        Ok(Some(sgguard_core::PrefixList {
            id: prefix_list_id.into(),
            name: Some("partners".into()),
            aws_managed: false,
            version: Some(wanted),
            busy: self.busy.load(Ordering::SeqCst),
            entries,
            references: None,
        }))
    }

    async fn prefix_list_references(
        &self,
        _: &Scope,
        prefix_list_id: &str,
    ) -> Result<Option<Vec<sgguard_core::Reference>>, PortError> {
        Ok(Some(vec![sgguard_core::Reference {
            rule_id: "sgr-via-list".into(),
            group_id: GROUP.into(),
            direction: Direction::Ingress,
            content: tcp_from(prefix_list_id, 22),
        }]))
    }

    async fn describe_rules(
        &self,
        _: &Scope,
        rule_ids: &[String],
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        let rules = self.rules.lock().unwrap();
        Ok(Some(
            rule_ids
                .iter()
                .filter_map(|id| rules.get(id).cloned())
                .collect(),
        ))
    }

    async fn describe_group(
        &self,
        _: &Scope,
        group_id: &str,
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        let rules = self.rules.lock().unwrap();
        Ok(Some(
            rules
                .values()
                .filter(|r| r.group_id == group_id)
                .cloned()
                .collect(),
        ))
    }

    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        self.steps.lock().unwrap().push(step.clone());
        let mut rules = self.rules.lock().unwrap();
        let status = match &step.kind {
            StepKind::RevokeRules { rule_ids } => {
                for id in rule_ids {
                    rules.remove(id);
                }
                StepStatus::Reverted
            }
            StepKind::Restore {
                rule_id, content, ..
            } => match rules.get_mut(rule_id) {
                Some(rule) => {
                    rule.content = content.clone();
                    StepStatus::Restored
                }
                None => StepStatus::AlreadyGone,
            },
            StepKind::RemoveEntries {
                prefix_list_id,
                entries,
                version,
            } => {
                let mut lists = self.lists.lock().unwrap();
                let versions = lists.get_mut(prefix_list_id).unwrap();
                assert_eq!(
                    *version,
                    Some(versions.len() as i64),
                    "removal pinned to the current version"
                );
                let mut next = versions.last().unwrap().clone();
                next.retain(|e| !entries.contains(e));
                versions.push(next);
                StepStatus::Reverted
            }
            other => panic!("unexpected step {other:?}"),
        };
        Ok(StepResult {
            status,
            detail: "done and confirmed".into(),
        })
    }
}

fn now_text(offset_secs: i64) -> String {
    sgguard_core::time::format_time(&(chrono::Utc::now() + chrono::Duration::seconds(offset_secs)))
}

#[tokio::test]
async fn a_late_authorize_whose_rule_changed_since_is_superseded() {
    let store = SqliteStore::open_in_memory().unwrap();
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .build();
    let world = World::after(&[&added]);
    // Before sgguard hears of the Authorize, the rule is changed to the approved office range.
    world.set("sgr-1", tcp_from(OFFICE, 22));
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    let report = responder.handle(&added, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Superseded, "{}", report.reason);
    assert_eq!(report.changes[0].action, Action::Superseded);
    assert!(
        report.reason.contains("now: tcp 22 from 203.0.113.0/24"),
        "{}",
        report.reason
    );
    assert!(world.steps().is_empty(), "nothing is acted on");
    assert_eq!(
        world.content("sgr-1").as_deref(),
        Some("tcp 22 from 203.0.113.0/24")
    );
    assert_eq!(stored(&store, "e-add").await.outcome, Outcome::Superseded);
}

#[tokio::test]
async fn forged_records_cannot_make_sgguard_change_an_existing_rule() {
    let store = SqliteStore::open_in_memory().unwrap();
    // EC2 holds a private rule.
    let real = authorize("e-real", "2026-11-20T08:00:00Z")
        .tcp("sgr-private", 80, "10.0.0.0/8")
        .build();
    let world = World::after(&[&real]);
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    responder.handle(&real, None).await.unwrap();
    // A forged Authorize claims the rule holds "all from 8.0.0.0/5", then a forged Modify
    // changes it: neither matches EC2, so nothing is touched.
    let mut forged = authorize("e-forged", "2026-11-20T09:00:00Z")
        .tcp("sgr-private", 22, "8.0.0.0/5")
        .build();
    forged["responseElements"]["securityGroupRuleSet"]["items"][0]["ipProtocol"] = json!("-1");
    forged["requestParameters"]["ipPermissions"]["items"][0]["ipProtocol"] = json!("-1");
    let report = responder.handle(&forged, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Superseded, "{}", report.reason);
    let forged_modify = modify(
        "e-forged-modify",
        "2026-11-20T09:01:00Z",
        "sgr-private",
        "0.0.0.0/0",
        22,
    );
    let report = responder.handle(&forged_modify, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Superseded, "{}", report.reason);
    assert!(world.steps().is_empty(), "{:?}", world.steps());
    assert_eq!(
        world.content("sgr-private").as_deref(),
        Some("tcp 80 from 10.0.0.0/8"),
        "the rule is untouched"
    );
}

#[tokio::test]
async fn a_stale_modify_does_not_overwrite_a_newer_one() {
    let store = SqliteStore::open_in_memory().unwrap();
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 5432, "10.20.0.0/16")
        .build();
    let e1 = modify("e1", "2026-11-20T10:00:00Z", "sgr-1", WORLD, 22);
    let e2 = modify("e2", "2026-11-20T10:05:00Z", "sgr-1", OFFICE, 22);
    let world = World::after(&[&added, &e1, &e2]);
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    responder.handle(&added, None).await.unwrap();
    // E2 (to the approved office range) is handled first: approved, nothing to do.
    assert_eq!(
        responder.handle(&e2, None).await.unwrap().outcome,
        Outcome::Approved
    );
    // E1 arrives late: restoring it would wipe out E2. EC2 shows E2's content: superseded.
    let report = responder.handle(&e1, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Superseded, "{}", report.reason);
    assert!(world.steps().is_empty());
    assert_eq!(
        world.content("sgr-1").as_deref(),
        Some("tcp 22 from 203.0.113.0/24")
    );
}

#[tokio::test]
async fn a_restore_target_whose_approval_lapsed_is_revoked_instead() {
    let store = SqliteStore::open_in_memory().unwrap();
    // tcp 443 from the world, approved by an entry that has since expired.
    let mut launch = AllowEntry::new("launch-https", "web@example.com", "WEB-7 launch");
    launch.protocol = Protocol::Tcp;
    launch.ports = PortRange::single(443);
    launch.cidrs = vec![WORLD.parse().unwrap()];
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 443, WORLD)
        .build();
    let widened = modify("e-widen", "2026-11-20T10:00:00Z", "sgr-1", WORLD, 22);
    let world = World::after(&[&added, &widened]);
    Responder::new(
        &store,
        StaticAllowlist::new(vec![launch.clone()]),
        ReportOnlyRemediator,
        policy(Mode::Audit),
    )
    .handle(&added, None)
    .await
    .unwrap();
    launch.expires = Some("2026-11-20T09:30:00Z".parse().unwrap());
    let report = Responder::new(
        &store,
        StaticAllowlist::new(vec![launch]),
        &world,
        policy(Mode::Enforce),
    )
    .handle(&widened, None)
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    let steps = world.steps();
    assert_eq!(
        steps[0].kind,
        StepKind::RevokeRules {
            rule_ids: vec!["sgr-1".into()]
        }
    );
    let remediation = report.changes[0].remediation.as_deref().unwrap_or_default();
    assert!(
        remediation.contains(
            "earlier content tcp 443 from 0.0.0.0/0 is no longer approved (entry launch-https expired at 2026-11-20T09:30:00Z)"
        ),
        "{remediation}"
    );
    assert_eq!(world.content("sgr-1"), None);
}

#[tokio::test]
async fn the_responders_own_restore_delivered_back_is_an_own_action() {
    let store = SqliteStore::open_in_memory().unwrap();
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, OFFICE)
        .build();
    let widened = modify("e-widen", "2026-11-20T10:00:00Z", "sgr-1", WORLD, 22);
    let world = World::after(&[&added, &widened]);
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    responder.handle(&added, None).await.unwrap();
    let report = responder.handle(&widened, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Restored, "{}", report.reason);
    assert_eq!(
        world.content("sgr-1").as_deref(),
        Some("tcp 22 from 203.0.113.0/24")
    );
    // The intent was recorded before acting.
    let kept = stored(&store, "e-widen").await;
    assert_eq!(
        kept.changes[0]
            .restore_to
            .as_ref()
            .and_then(|c| c.content())
            .map(|c| c.to_string())
            .as_deref(),
        Some("tcp 22 from 203.0.113.0/24")
    );
    // CloudTrail delivers sgguard's own ModifySecurityGroupRules back: its own action.
    let mut own = modify("e-own", "2026-11-20T10:00:05Z", "sgr-1", OFFICE, 22);
    own["userIdentity"] = assumed_role_json("sgguard-responder", "sgguard-lambda");
    let report = responder.handle(&own, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::OwnAction, "{}", report.reason);
    // The same identity setting other content is judged like anyone's modify.
    let mut other = modify("e-own-other", "2026-11-20T10:00:09Z", "sgr-1", WORLD, 3389);
    other["userIdentity"] = assumed_role_json("sgguard-responder", "sgguard-lambda");
    world.set("sgr-1", tcp_from(WORLD, 3389));
    let report = responder.handle(&other, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Restored, "{}", report.reason);
    assert!(
        report.reason.contains("responder's identity"),
        "{}",
        report.reason
    );
}

#[tokio::test]
async fn an_interrupted_restore_that_already_happened_is_recorded_as_restored() {
    let store = SqliteStore::open_in_memory().unwrap();
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, OFFICE)
        .build();
    let widened = modify("e-widen", "2026-11-20T10:00:00Z", "sgr-1", WORLD, 22);
    let world = World::after(&[&added, &widened]);
    Responder::new(&store, allowlist(), &world, policy(Mode::Enforce))
        .handle(&added, None)
        .await
        .unwrap();
    // The first attempt restored the rule, then the audit log failed before `complete`.
    let flaky = Faulty::new(&store).fail("complete", Fault::Retryable, 1);
    let responder = Responder::new(&flaky, allowlist(), &world, policy(Mode::Enforce));
    assert!(
        responder
            .handle(&widened, None)
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert_eq!(world.steps().len(), 1);
    // The retry sees EC2 already holding the target: restored, without a second modify.
    let report = responder.handle(&widened, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Restored, "{}", report.reason);
    assert_eq!(world.steps().len(), 1, "{:?}", world.steps());
}

#[tokio::test]
async fn a_young_modify_of_a_rule_with_no_history_waits_for_its_authorize() {
    let store = SqliteStore::open_in_memory().unwrap();
    let added = authorize("e-add", &now_text(-30))
        .tcp("sgr-1", 22, OFFICE)
        .build();
    let widened = modify("e-widen", &now_text(-20), "sgr-1", WORLD, 22);
    let world = World::after(&[&added, &widened]);
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    // The Modify arrives first: deferred, retryably, nothing recorded or done.
    let err = responder.handle(&widened, None).await.unwrap_err();
    assert!(matches!(err, Error::Deferred(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("sgr-1"), "{err}");
    assert!(store.events().unwrap().is_empty());
    // Its Authorize arrives; the retried Modify is restored.
    responder.handle(&added, None).await.unwrap();
    let report = responder.handle(&widened, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Restored, "{}", report.reason);
    // After the grace period, a Modify with no history is handled (revoked) and says why.
    let old = modify("e-old", "2026-11-20T10:00:00Z", "sgr-unknown", WORLD, 22);
    let world = World::after(&[]);
    let report = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce))
        .handle(&old, None)
        .await
        .unwrap();
    assert!(
        report.changes[0]
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("already gone"),
        "{:?}",
        report.changes[0]
    );
}

#[tokio::test]
async fn a_permission_the_response_does_not_list_is_matched_by_content_and_reverted() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut record = authorize("e-1", "2026-11-20T09:00:00Z")
        .tcp("sgr-office", 22, OFFICE)
        .tcp("sgr-world", 22, WORLD)
        .build();
    let world = World::after(&[&record]);
    // The response lists only the office rule (a truncated record, or moto's reply).
    let items = &mut record["responseElements"]["securityGroupRuleSet"]["items"];
    items.as_array_mut().unwrap().truncate(1);
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    let world_change = &report.changes[1];
    assert_eq!(world_change.rule_id.as_deref(), Some("sgr-world"));
    assert!(
        world_change
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("not in the response"),
        "{world_change:?}"
    );
    assert_eq!(world.content("sgr-world"), None);
    assert!(world.content("sgr-office").is_some());
    // Offline, the exact permission is what would be revoked.
    let offline = SqliteStore::open_in_memory().unwrap();
    let report = Responder::new(
        &offline,
        allowlist(),
        ReportOnlyRemediator,
        policy(Mode::Audit),
    )
    .handle(&record, None)
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::WouldRevert);
    assert!(
        report.changes[1]
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("revoke ingress permission tcp 22 from 0.0.0.0/0"),
        "{:?}",
        report.changes[1]
    );
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_act_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let record = authorize("e-1", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .build();
    let world = World::after(&[&record]);
    // Two workers: the first claims the event; the second finds it pending under a live
    // lease and must fail retryably rather than act.
    let first_store = SqliteStore::open(&path).unwrap();
    let second_store = SqliteStore::open(&path).unwrap();
    let pending = EventReport {
        outcome: Outcome::Pending,
        ..EventReport::bare(&record, Outcome::Pending, "claimed by worker one")
    };
    let held = Lease::new(std::time::Duration::from_secs(60), true);
    first_store
        .begin(&pending, &record, &held, &[Outcome::Pending])
        .await
        .unwrap();
    let err = Responder::new(&second_store, allowlist(), &world, policy(Mode::Enforce))
        .handle(&record, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        world.steps().is_empty(),
        "the second worker acts on nothing"
    );
    // Once the holder gives the lease up, a retry finishes the event, once.
    first_store.release("e-1", &held).await.unwrap();
    let report = Responder::new(&second_store, allowlist(), &world, policy(Mode::Enforce))
        .handle(&record, None)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Reverted);
    assert_eq!(world.steps().len(), 1);
    assert_eq!(
        Responder::new(&first_store, allowlist(), &world, policy(Mode::Enforce))
            .handle(&record, None)
            .await
            .unwrap()
            .outcome,
        Outcome::Duplicate
    );
}

#[tokio::test]
async fn a_dry_run_or_a_replay_never_keeps_a_live_responder_from_acting() {
    let store = SqliteStore::open_in_memory().unwrap();
    let record = authorize("e-1", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .build();
    let world = World::after(&[&record]);
    // `respond --dry-run --mode enforce`, or a `replay` backfill, records the event first.
    let dry = Responder::new(
        &store,
        allowlist(),
        ReportOnlyRemediator,
        policy(Mode::Enforce),
    )
    .handle(&record, None)
    .await
    .unwrap();
    assert_eq!(dry.outcome, Outcome::WouldRevert);
    // The live responder then receives it: it acts, rather than calling it a duplicate.
    let live = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    let report = live.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    assert!(report.reason.contains("never acts"), "{}", report.reason);
    assert_eq!(world.content("sgr-1"), None);
    // And once a live responder settled it, it is a duplicate for everyone.
    assert_eq!(
        live.handle(&record, None).await.unwrap().outcome,
        Outcome::Duplicate
    );
    assert_eq!(
        Responder::new(
            &store,
            allowlist(),
            ReportOnlyRemediator,
            policy(Mode::Enforce)
        )
        .handle(&record, None)
        .await
        .unwrap()
        .outcome,
        Outcome::Duplicate
    );
}

#[tokio::test]
async fn planted_history_cannot_choose_what_sgguard_restores() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Only the break-glass role may open SSH to the world.
    let mut breakglass = AllowEntry::new("breakglass-ssh", "sec@example.com", "SEC-1");
    breakglass.protocol = Protocol::Tcp;
    breakglass.ports = PortRange::single(22);
    breakglass.cidrs = vec![WORLD.parse().unwrap()];
    breakglass.principals = vec![format!("arn:aws:iam::{ACCOUNT}:role/breakglass")];
    let allow = || StaticAllowlist::new(vec![breakglass.clone()]);
    // A forged record, replayed into the shared store: "break-glass authorized sgr-R as
    // world SSH" (approved), with a planted intent.
    let forged = authorize("e-forged", "2026-11-20T08:00:00Z")
        .tcp("sgr-r", 22, WORLD)
        .by(assumed_role("breakglass", "mallory"))
        .build();
    let planted = Responder::new(&store, allow(), ReportOnlyRemediator, policy(Mode::Enforce))
        .handle(&forged, None)
        .await
        .unwrap();
    assert_eq!(planted.outcome, Outcome::Approved);
    // Mallory really widens sgr-R to world RDP. Restoring "world SSH" would make sgguard open
    // SSH to the world itself: judged as mallory's change, it is not approved, so sgguard
    // revokes the rule instead.
    let widened = modify("e-widen", "2026-11-20T10:00:00Z", "sgr-r", WORLD, 3389);
    let world = World::after(&[&authorize("e-real", "2026-11-20T07:00:00Z")
        .tcp("sgr-r", 22, "10.0.0.0/8")
        .build()]);
    world.set("sgr-r", tcp_from(WORLD, 3389));
    let report = Responder::new(&store, allow(), &world, policy(Mode::Enforce))
        .handle(&widened, None)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    let remediation = report.changes[0].remediation.clone().unwrap_or_default();
    assert!(
        remediation.contains("does not approve it for this caller"),
        "{remediation}"
    );
    assert_eq!(
        world.content("sgr-r"),
        None,
        "revoked, not opened to the world"
    );
    // A replayed record never carries an intent: the responder's identity setting that
    // content is not its own action.
    let mut fake_own = modify("e-fake-own", "2026-11-20T11:00:00Z", "sgr-r", WORLD, 22);
    fake_own["userIdentity"] = assumed_role_json("sgguard-responder", "sgguard");
    let world = World::after(&[&authorize("e-real-2", "2026-11-20T07:00:00Z")
        .tcp("sgr-r", 22, WORLD)
        .build()]);
    let report = Responder::new(&store, allow(), &world, policy(Mode::Enforce))
        .handle(&fake_own, None)
        .await
        .unwrap();
    assert_ne!(report.outcome, Outcome::OwnAction, "{}", report.reason);
}

#[tokio::test]
async fn a_late_event_does_not_undo_a_later_recorded_change() {
    let store = SqliteStore::open_in_memory().unwrap();
    let added = authorize("e-add", "2026-11-20T09:00:00Z")
        .tcp("sgr-1", 22, WORLD)
        .build();
    // Later, someone narrowed it, then break-glass widened it back to the same content
    // (approved). EC2 holds exactly what the late Authorize says, yet undoing it would undo
    // the approved later change.
    let narrowed = modify("e-narrow", "2026-11-20T09:30:00Z", "sgr-1", OFFICE, 22);
    let world = World::after(&[&added]);
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    responder.handle(&narrowed, None).await.unwrap();
    let report = responder.handle(&added, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Superseded, "{}", report.reason);
    assert!(report.reason.contains("e-narrow"), "{}", report.reason);
    assert!(world.steps().is_empty());
    assert!(world.content("sgr-1").is_some());
}

#[tokio::test]
async fn a_group_named_only_by_name_is_flagged_never_called_gone() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut record = authorize("e-1", "2026-11-20T09:00:00Z")
        .tcp("sgr-x", 3389, WORLD)
        .without_rule_ids()
        .build();
    let request = record["requestParameters"].as_object_mut().unwrap();
    request.remove("groupId");
    request.insert("groupName".into(), json!("default"));
    let world = World::default();
    let report = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce))
        .handle(&record, None)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Flagged, "{}", report.reason);
    assert!(
        report.reason.contains("could not revert 1 (flagged)"),
        "the reason says it, never an empty or pending one: {}",
        report.reason
    );
    let remediation = report.changes[0].remediation.clone().unwrap_or_default();
    assert!(
        remediation.contains("only by name") && remediation.contains("revert by hand"),
        "{remediation}"
    );
    assert!(world.steps().is_empty());
}

fn list_call(event_id: &str, name: &str, request: Value) -> Value {
    Record {
        caller: user("mallory"),
        account: ACCOUNT.into(),
        region: REGION.into(),
        ..Record::new(event_id, name, request, Value::Null)
    }
    .build()
}

#[tokio::test]
async fn prefix_list_entries_come_from_the_request_and_restores_from_ec2() {
    let store = SqliteStore::open_in_memory().unwrap();
    let world = World::default().with_list(
        "pl-p",
        &[
            &["10.0.0.0/8"],
            &["10.0.0.0/8", "10.1.0.0/16"],
            &["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0"],
        ],
    );
    let responder = Responder::new(&store, allowlist(), &world, policy(Mode::Enforce));
    // The call that added 0.0.0.0/0 (version 2 to 3), whatever version its answer names.
    let added = list_call(
        "e-add",
        "ModifyManagedPrefixList",
        json!({"ModifyManagedPrefixListRequest": {"PrefixListId": "pl-p", "CurrentVersion": 2, "AddEntry": {"Cidr": "0.0.0.0/0"}}}),
    );
    let report = responder.handle(&added, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    assert_eq!(report.changes.len(), 1);
    assert_eq!(report.changes[0].source.as_deref(), Some("0.0.0.0/0"));
    assert_eq!(world.entries("pl-p"), ["10.0.0.0/8", "10.1.0.0/16"]);
    // A rename changes no entry: nothing is judged again.
    let renamed = list_call(
        "e-rename",
        "ModifyManagedPrefixList",
        json!({"ModifyManagedPrefixListRequest": {"PrefixListId": "pl-p", "PrefixListName": "x"}}),
    );
    let report = responder.handle(&renamed, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Recorded, "{}", report.reason);
    // Restoring version 3 (which held 0.0.0.0/0) over version 4 puts the world back in:
    // read from EC2, judged, and removed again.
    let restored = list_call(
        "e-restore",
        "RestoreManagedPrefixListVersion",
        json!({"PrefixListId": "pl-p", "PreviousVersion": 3, "CurrentVersion": 4}),
    );
    world.lists.lock().unwrap().get_mut("pl-p").unwrap().push(
        ["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0"]
            .iter()
            .map(|e| e.parse().unwrap())
            .collect(),
    );
    let report = responder.handle(&restored, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{}", report.reason);
    assert_eq!(report.changes[0].kind, sgguard_core::ChangeKind::EntryAdded);
    assert!(
        report.changes[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("version 3 restored over version 4"),
        "{:?}",
        report.changes[0]
    );
    assert_eq!(world.entries("pl-p"), ["10.0.0.0/8", "10.1.0.0/16"]);
    // While a modification is in progress the entries are not final: retried, not "gone".
    world.busy.store(true, Ordering::SeqCst);
    let again = list_call(
        "e-add-again",
        "ModifyManagedPrefixList",
        json!({"PrefixListId": "pl-p", "CurrentVersion": 6, "AddEntry": [{"Cidr": "0.0.0.0/0"}]}),
    );
    let err = responder.handle(&again, None).await.unwrap_err();
    let chain = sgguard_responder::error_chain(&err);
    assert!(err.is_retryable(), "{chain}");
    assert!(chain.contains("being modified"), "{chain}");
}

/// A record dated in the future (forged, since CloudTrail writes the past) would be the
/// latest change of its rules and make every real change after it look stale: it is kept
/// as `invalid`, and nothing is done.
#[tokio::test]
async fn a_record_from_the_future_is_invalid_and_changes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let recorder = Recorder::default();
    let responder = Responder::new(&store, allowlist(), &recorder, policy(Mode::Enforce));
    let record = authorize("e-future", "2099-01-01T00:00:00Z")
        .tcp("sgr-future", 22, WORLD)
        .build();
    let report = responder.handle(&record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Invalid, "{}", report.reason);
    assert!(
        report.reason.contains("eventTime") && report.reason.contains("2099-01-01T00:00:00Z"),
        "{}",
        report.reason
    );
    assert!(recorder.steps().is_empty(), "nothing acted on");
    assert!(
        store.rule_history("sgr-future").await.unwrap().is_empty(),
        "it never enters a rule's history"
    );
}
