#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fault injection with the real adapters on the local emulator: the DynamoDB audit log and
//! the EC2 remediator, each wrapped by a wrapper defined here that fails a chosen call a
//! chosen number of times before delegating. Every scenario checks what EC2 actually holds
//! (DescribeSecurityGroupRules) and what the audit table actually stored.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_ec2::Client as Ec2;
use serde_json::Value;
use sgguard_aws::{DynamoAuditLog, Ec2Remediator, TableNames, create_tables};
use sgguard_core::{Action, Mode, Outcome, Policy};
use sgguard_responder::{
    AuditLog, Begin, Error, EventReport, InvalidRecord, Lease, PortError, RemediationStep,
    Remediator, Responder, RuleSnapshot, StaticAllowlist, StepResult, StepStatus,
};
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{Vpc, tcp, v4};
use sgguard_testkit::fault_proxy::{Fault, FaultProxy};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// Takes one failure from `budget`; `false` once it is spent.
fn take(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn injected() -> std::io::Error {
    std::io::Error::other("injected by the fault test")
}

// ---------------------------------------------------------------------------------------
// The fault-injecting wrappers
// ---------------------------------------------------------------------------------------

/// The real DynamoDB audit log, whose `begin` or `complete` fails the first N times with
/// a retryable error (as a throttled or unavailable table would) before delegating.
#[derive(Debug)]
struct FlakyAudit {
    inner: DynamoAuditLog,
    fail_begin: AtomicUsize,
    fail_complete: AtomicUsize,
    begins: AtomicUsize,
    completes: AtomicUsize,
}

impl FlakyAudit {
    fn new(inner: DynamoAuditLog, fail_begin: usize, fail_complete: usize) -> Self {
        Self {
            inner,
            fail_begin: AtomicUsize::new(fail_begin),
            fail_complete: AtomicUsize::new(fail_complete),
            begins: AtomicUsize::new(0),
            completes: AtomicUsize::new(0),
        }
    }
}

impl AuditLog for FlakyAudit {
    async fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, PortError> {
        self.begins.fetch_add(1, Ordering::SeqCst);
        if take(&self.fail_begin) {
            return Err(PortError::retryable(
                "TransactWriteItems failed: ProvisionedThroughputExceededException (injected before begin)",
                injected(),
            ));
        }
        self.inner.begin(report, raw, lease, take_over).await
    }

    async fn complete(&self, report: &EventReport, lease: &Lease) -> Result<(), PortError> {
        self.completes.fetch_add(1, Ordering::SeqCst);
        if take(&self.fail_complete) {
            return Err(PortError::retryable(
                "TransactWriteItems failed: InternalServerError (injected before complete)",
                injected(),
            ));
        }
        self.inner.complete(report, lease).await
    }

    async fn release(&self, event_id: &str, lease: &Lease) -> Result<(), PortError> {
        self.inner.release(event_id, lease).await
    }

    async fn record_invalid(&self, record: &InvalidRecord) -> Result<(), PortError> {
        self.inner.record_invalid(record).await
    }

    async fn rule_history(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, PortError> {
        self.inner.rule_history(rule_id).await
    }

    async fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        self.inner.changes_after(group_id, event_time).await
    }

    async fn event(&self, event_id: &str) -> Result<Option<EventReport>, PortError> {
        self.inner.event(event_id).await
    }
}

#[derive(Debug, Clone, Copy)]
enum Ec2Fault {
    /// `RequestLimitExceeded`: EC2 throttling, retryable.
    Throttled,
    /// `UnauthorizedOperation`: the role may not revoke, permanent.
    AccessDenied,
}

/// What one `execute` answered: the step status, or the error's text.
type Answer = Result<StepStatus, String>;

/// The real EC2 remediator, whose `execute` fails the first N times with the adapter's own
/// error type (classified as the adapter classifies EC2 error codes) before delegating.
#[derive(Debug)]
struct FlakyEc2 {
    inner: Ec2Remediator,
    fault: Ec2Fault,
    failures: AtomicUsize,
    answers: Mutex<Vec<Answer>>,
}

impl FlakyEc2 {
    fn new(inner: Ec2Remediator, fault: Ec2Fault, failures: usize) -> Self {
        Self {
            inner,
            fault,
            failures: AtomicUsize::new(failures),
            answers: Mutex::new(Vec::new()),
        }
    }

    fn answers(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.answers.lock().unwrap().len()
    }
}

impl Remediator for FlakyEc2 {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        let result = if take(&self.failures) {
            let (code, message, retryable) = match self.fault {
                Ec2Fault::Throttled => ("RequestLimitExceeded", "Request limit exceeded.", true),
                Ec2Fault::AccessDenied => (
                    "UnauthorizedOperation",
                    "You are not authorized to perform this operation.",
                    false,
                ),
            };
            Err(PortError::from(sgguard_aws::Error::Service {
                operation: "RevokeSecurityGroupIngress",
                code: code.into(),
                message: message.into(),
                retryable,
                source: Box::new(injected()),
            }))
        } else {
            self.inner.execute(step).await
        };
        let answer = match &result {
            Ok(r) => Ok(r.status),
            Err(e) => Err(e.to_string()),
        };
        self.answers.lock().unwrap().push(answer);
        result
    }
}

// ---------------------------------------------------------------------------------------
// The emulator world
// ---------------------------------------------------------------------------------------

struct World {
    config: aws_config::SdkConfig,
    dynamo: aws_sdk_dynamodb::Client,
    tables: TableNames,
    vpc: Vpc,
}

/// A world-open SSH rule just added to a fresh group, and the CloudTrail record of it.
struct OpenSsh {
    group: String,
    rule: String,
    event_id: String,
    record: Value,
}

async fn world(test: &str) -> Option<World> {
    let endpoint = aws::endpoint(test)?;
    let config = aws::config(&endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let tables = TableNames {
        audit: aws::unique("faults-audit"),
        allowlist: aws::unique("faults-allow"),
    };
    create_tables(&dynamo, &tables).await.unwrap();
    let vpc = Vpc::create(Ec2::new(&config), "sgguard fault test").await;
    Some(World {
        config,
        dynamo,
        tables,
        vpc,
    })
}

impl World {
    fn audit(&self) -> DynamoAuditLog {
        DynamoAuditLog::new(self.dynamo.clone(), &self.tables.audit)
    }

    fn remediator(&self) -> Ec2Remediator {
        Ec2Remediator::new(self.config.clone())
    }

    async fn open_ssh(&self, name: &str) -> OpenSsh {
        let group = self.vpc.group(name).await;
        let permissions = vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()];
        let created = self.vpc.authorize(&group, permissions.clone()).await;
        assert_eq!(created.len(), 1);
        let rule = created[0].security_group_rule_id().unwrap().to_owned();
        let event_id = aws::unique(&format!("faults-{name}"));
        let caller = Caller::user(ACCOUNT, "mallory");
        let record = cloudtrail::authorize(
            &event_id,
            false,
            ACCOUNT,
            REGION,
            &caller,
            &group,
            &permissions,
            &created,
        );
        OpenSsh {
            group,
            rule,
            event_id,
            record,
        }
    }
}

fn enforce() -> Policy {
    Policy {
        mode: Mode::Enforce,
        ..Policy::default()
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// (a) The table fails before anything is recorded: nothing is reverted (the decision to act
/// is never taken without a record of it), nothing is stored; the retry does it all once.
#[tokio::test]
async fn dynamodb_failing_before_the_revert_leaves_everything_to_the_retry() {
    let Some(w) = world("dynamodb_failing_before_the_revert_leaves_everything_to_the_retry").await
    else {
        return;
    };
    let ssh = w.open_ssh("begin-fails").await;
    let audit = FlakyAudit::new(w.audit(), 1, 0);
    let ec2 = FlakyEc2::new(w.remediator(), Ec2Fault::Throttled, 0);
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());

    let err = responder.handle(&ssh.record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Audit(_)), "{err:?}");
    assert_eq!(
        ec2.calls(),
        0,
        "nothing is reverted before the event is recorded"
    );
    assert!(
        w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the rule is untouched"
    );
    assert_eq!(
        audit.inner.event(&ssh.event_id).await.unwrap(),
        None,
        "nothing is stored"
    );
    assert!(
        audit
            .inner
            .rule_history(&ssh.rule)
            .await
            .unwrap()
            .is_empty(),
        "no change rows either"
    );

    let report = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{report:#?}");
    assert_eq!(
        ec2.answers(),
        [Ok(StepStatus::Reverted)],
        "reverted exactly once"
    );
    assert!(
        !w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the rule is gone"
    );
    let stored = audit
        .inner
        .event(&ssh.event_id)
        .await
        .unwrap()
        .expect("recorded by the retry");
    assert_eq!(stored, report);
    assert_eq!(stored.changes[0].action, Action::Reverted);
    assert!(
        stored.changes[0]
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("confirmed absent"),
        "{:?}",
        stored.changes[0].remediation
    );
    assert_eq!(
        (
            audit.begins.load(Ordering::SeqCst),
            audit.completes.load(Ordering::SeqCst)
        ),
        (2, 1)
    );

    // Once more: a duplicate, and no further call to EC2.
    let again = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(ec2.calls(), 1);
}

/// (b) The table fails after the revert: the rule is gone but the record says `pending`.
/// The retry resumes from the stored record, finds the rule already gone, counts it as done
/// and records `reverted` — without revoking anything a second time (the remediator's
/// RevokeSecurityGroupIngress for the absent rule id is answered NotFound and changes
/// nothing; request_costs.rs counts those requests).
#[tokio::test]
async fn dynamodb_failing_after_the_revert_is_resumed_and_counts_the_rule_as_done() {
    let Some(w) =
        world("dynamodb_failing_after_the_revert_is_resumed_and_counts_the_rule_as_done").await
    else {
        return;
    };
    let ssh = w.open_ssh("complete-fails").await;
    let audit = FlakyAudit::new(w.audit(), 0, 1);
    let ec2 = FlakyEc2::new(w.remediator(), Ec2Fault::Throttled, 0);
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());

    let err = responder.handle(&ssh.record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Audit(_)), "{err:?}");
    assert_eq!(ec2.answers(), [Ok(StepStatus::Reverted)]);
    assert!(
        !w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the revert happened before the failure"
    );
    let pending = audit
        .inner
        .event(&ssh.event_id)
        .await
        .unwrap()
        .expect("begin stored the record");
    assert_eq!(
        pending.outcome,
        Outcome::Pending,
        "the record still says the revert is to be done"
    );
    assert_eq!(pending.changes[0].action, Action::Pending);
    assert_eq!(
        audit.inner.rule_history(&ssh.rule).await.unwrap()[0].outcome,
        Outcome::Pending
    );

    let report = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{report:#?}");
    assert!(
        report.reason.contains("(1 already gone)"),
        "{}",
        report.reason
    );
    let remediation = report.changes[0].remediation.clone().unwrap_or_default();
    assert!(remediation.contains("already gone"), "{remediation}");
    assert_eq!(
        report.changes[0].action,
        Action::Reverted,
        "an absent rule is a reverted rule"
    );
    // The second attempt found nothing to revoke: EC2 answered that the rule id does not
    // exist, DescribeSecurityGroupRules confirmed it, and the step reports AlreadyGone.
    assert_eq!(
        ec2.answers(),
        [Ok(StepStatus::Reverted), Ok(StepStatus::AlreadyGone)]
    );
    let stored = audit.inner.event(&ssh.event_id).await.unwrap().unwrap();
    assert_eq!(stored, report);
    let history = audit.inner.rule_history(&ssh.rule).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].outcome, history[0].change.action),
        (Outcome::Reverted, Action::Reverted)
    );
    assert_eq!(audit.completes.load(Ordering::SeqCst), 2);
}

/// (c) EC2 throttles the revoke: the event stays `pending` for the retry, nothing is
/// reverted yet; the retry reverts.
#[tokio::test]
async fn ec2_throttling_leaves_the_record_pending_for_the_retry() {
    let Some(w) = world("ec2_throttling_leaves_the_record_pending_for_the_retry").await else {
        return;
    };
    let ssh = w.open_ssh("throttled").await;
    let audit = FlakyAudit::new(w.audit(), 0, 0);
    let ec2 = FlakyEc2::new(w.remediator(), Ec2Fault::Throttled, 1);
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());

    let err = responder.handle(&ssh.record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Remediation(_)), "{err:?}");
    assert!(err.to_string().contains("RequestLimitExceeded"), "{err}");
    assert!(
        w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "nothing reverted"
    );
    let stored = audit.inner.event(&ssh.event_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, Outcome::Pending);
    assert_eq!(stored.changes[0].action, Action::Pending);
    assert_eq!(
        audit.completes.load(Ordering::SeqCst),
        0,
        "a retryable failure records no outcome"
    );

    let report = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{report:#?}");
    assert!(!report.reason.contains("already gone"), "{}", report.reason);
    assert!(
        !w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the retry reverted"
    );
    let answers = ec2.answers();
    assert_eq!(answers.len(), 2);
    assert!(
        answers[0]
            .as_ref()
            .is_err_and(|e| e.contains("RequestLimitExceeded")),
        "{answers:?}"
    );
    assert_eq!(answers[1], Ok(StepStatus::Reverted));
    assert_eq!(
        audit.inner.event(&ssh.event_id).await.unwrap().unwrap(),
        report
    );
}

/// (d) EC2 denies the revoke: a permanent failure is recorded (`revert_failed`, action
/// `failed`, the reason kept), the event is finished (no retry), and a duplicate delivery
/// reports `duplicate` without trying again.
#[tokio::test]
async fn ec2_access_denied_is_recorded_as_revert_failed_and_not_retried() {
    let Some(w) = world("ec2_access_denied_is_recorded_as_revert_failed_and_not_retried").await
    else {
        return;
    };
    let ssh = w.open_ssh("denied").await;
    let audit = FlakyAudit::new(w.audit(), 0, 0);
    // One failure only: were the event retried, the revoke would succeed and the rule vanish.
    let ec2 = FlakyEc2::new(w.remediator(), Ec2Fault::AccessDenied, 1);
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());

    let report = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::RevertFailed, "{report:#?}");
    assert!(
        report.reason.contains("failed to revert 1"),
        "{}",
        report.reason
    );
    let change = &report.changes[0];
    assert_eq!(change.action, Action::Failed);
    let remediation = change.remediation.clone().unwrap_or_default();
    assert!(
        remediation.contains("failed") && remediation.contains("UnauthorizedOperation"),
        "{remediation}"
    );
    assert!(
        w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the rule is still there"
    );
    let stored = audit.inner.event(&ssh.event_id).await.unwrap().unwrap();
    assert_eq!(stored, report, "the failure and its reason are recorded");
    assert_eq!(stored.changes[0].action, Action::Failed);

    let duplicate = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(duplicate.outcome, Outcome::Duplicate);
    assert!(
        duplicate.reason.contains("revert_failed"),
        "{}",
        duplicate.reason
    );
    assert_eq!(
        ec2.calls(),
        1,
        "a duplicate delivery does not retry the revert"
    );
    assert!(w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule));
    assert_eq!(
        audit
            .inner
            .event(&ssh.event_id)
            .await
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::RevertFailed
    );
}

// ---------------------------------------------------------------------------------------
// Faults on the wire (the fault proxy between the SDK and the emulator)
// ---------------------------------------------------------------------------------------

/// A restore that EC2 refuses with `InvalidGroup.NotFound` (for instance because the target
/// references a group that no longer exists) while the rule is still there must not be
/// recorded as done: the rule is read back, found world-open, and the event ends
/// `revert_failed` with what it holds.
#[tokio::test]
async fn a_refused_restore_whose_rule_remains_is_a_failed_revert() {
    let Some(w) = world("a_refused_restore_whose_rule_remains_is_a_failed_revert").await else {
        return;
    };
    let endpoint = aws::endpoint("a_refused_restore_whose_rule_remains_is_a_failed_revert")
        .unwrap_or_default();
    let proxy = FaultProxy::start(&endpoint).await.unwrap();
    let through_proxy = aws::config(&proxy.url()).await;
    let group = w.vpc.group("refused").await;
    let narrow = vec![tcp(5432).ip_ranges(v4("10.0.0.0/16")).build()];
    let created = w.vpc.authorize(&group, narrow.clone()).await;
    let rule = created[0].security_group_rule_id().unwrap().to_owned();
    let caller = Caller::user(ACCOUNT, "dba");
    let added = cloudtrail::authorize(
        &aws::unique("refused-add"),
        false,
        ACCOUNT,
        REGION,
        &caller,
        &group,
        &narrow,
        &created,
    );
    let audit = w.audit();
    let allowlist = StaticAllowlist::default();
    let remediator = Ec2Remediator::new(through_proxy);
    let responder = Responder::new(&audit, &allowlist, &remediator, enforce());
    assert_eq!(
        responder.handle(&added, None).await.unwrap().outcome,
        Outcome::Flagged
    );
    let wide = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ipv4("0.0.0.0/0")
        .build();
    w.vpc.modify_rule(&group, &rule, wide).await;
    let widened = cloudtrail::modify(
        &aws::unique("refused-modify"),
        ACCOUNT,
        REGION,
        &caller,
        &group,
        &rule,
        serde_json::json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "0.0.0.0/0"}),
    );
    proxy.fail(
        "ModifySecurityGroupRules",
        Fault::Ec2Error {
            code: "InvalidGroup.NotFound".into(),
        },
        1,
    );
    let report = responder.handle(&widened, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::RevertFailed, "{report:#?}");
    let remediation = report.changes[0].remediation.clone().unwrap_or_default();
    assert!(
        remediation.contains("InvalidGroup.NotFound")
            && remediation.contains("still holds tcp 5432 from 0.0.0.0/0"),
        "{remediation}"
    );
    assert_eq!(proxy.counts().faulted.load(Ordering::SeqCst), 1);
    let rules = w.vpc.ingress_rules(&group).await;
    assert_eq!(
        rules[0].cidr_ipv4(),
        Some("0.0.0.0/0"),
        "EC2 still holds it"
    );
}

/// Throttling is retryable wherever it happens; a retry then finishes the event.
#[tokio::test]
async fn throttling_on_the_wire_is_retried_and_then_reverts() {
    let Some(w) = world("throttling_on_the_wire_is_retried_and_then_reverts").await else {
        return;
    };
    let endpoint =
        aws::endpoint("throttling_on_the_wire_is_retried_and_then_reverts").unwrap_or_default();
    let proxy = FaultProxy::start(&endpoint).await.unwrap();
    // No SDK retries: each injected fault reaches the responder.
    let through_proxy = aws::config(&proxy.url())
        .await
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let open = w.open_ssh("throttled-wire").await;
    let audit = DynamoAuditLog::new(
        aws_sdk_dynamodb::Client::new(&through_proxy),
        &w.tables.audit,
    );
    let allowlist = StaticAllowlist::default();
    let remediator = Ec2Remediator::new(through_proxy);
    let responder = Responder::new(&audit, &allowlist, &remediator, enforce());
    for (operation, fault) in [
        ("TransactWriteItems", Fault::Throttle),
        ("DescribeSecurityGroupRules", Fault::ServerError),
        ("RevokeSecurityGroupIngress", Fault::Throttle),
    ] {
        proxy.fail(operation, fault, 1);
        let err = responder.handle(&open.record, None).await.unwrap_err();
        assert!(err.is_retryable(), "{operation}: {err}");
    }
    let report = responder.handle(&open.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{report:#?}");
    assert!(w.vpc.ingress_rules(&open.group).await.is_empty());
    assert!(!w.vpc.ingress_ids(&open.group).await.contains(&open.rule));
    let stored = w.audit().event(&open.event_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, Outcome::Reverted);
}
