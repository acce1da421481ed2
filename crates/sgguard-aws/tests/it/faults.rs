//! Fault injection with the real adapters on the local emulator. The DynamoDB audit log is
//! wrapped in the generic fault wrapper (`sgguard_responder::testing::Faulty`); EC2's faults
//! are injected on the wire by the fault proxy, so the adapter classifies real error answers
//! (`RequestLimitExceeded`, `UnauthorizedOperation`, `InvalidGroup.NotFound`). Every scenario
//! checks what EC2 actually holds and what the audit table actually stored.

use std::sync::atomic::Ordering;

use aws_sdk_ec2::Client as Ec2;
use serde_json::Value;
use sgguard_aws::{DynamoAuditLog, Ec2Remediator, TableNames, create_tables};
use sgguard_core::{Action, Mode, Outcome, Policy};
use sgguard_responder::testing::{Fault as PortFault, Faulty};
use sgguard_responder::{AuditLog, Error, Responder, StaticAllowlist};
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{Vpc, tcp, v4};
use sgguard_testkit::fault_proxy::{Fault, FaultProxy};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------------------
// The emulator world
// ---------------------------------------------------------------------------------------

struct World {
    dynamo: aws_sdk_dynamodb::Client,
    tables: TableNames,
    vpc: Vpc,
    /// Between the EC2 remediator and the emulator.
    proxy: FaultProxy,
    /// The proxy's endpoint, without the SDK's own retries: each fault reaches the adapter.
    through_proxy: aws_config::SdkConfig,
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
    let proxy = FaultProxy::start(&endpoint).await.unwrap();
    let through_proxy = aws::config(&proxy.url())
        .await
        .into_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    Some(World {
        dynamo,
        tables,
        vpc,
        proxy,
        through_proxy,
    })
}

impl World {
    fn audit(&self) -> DynamoAuditLog {
        DynamoAuditLog::new(self.dynamo.clone(), &self.tables.audit)
    }

    /// The EC2 remediator, through the fault proxy.
    fn remediator(&self) -> Ec2Remediator {
        Ec2Remediator::new(self.through_proxy.clone())
    }

    /// Revoke requests that reached EC2 (not those the proxy failed).
    fn revokes(&self) -> usize {
        self.proxy.counts().of("RevokeSecurityGroupIngress")
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
            cloudtrail::Call {
                event_id: &event_id,
                account: ACCOUNT,
                region: REGION,
                caller: &caller,
            },
            false,
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
    let audit = Faulty::new(w.audit()).fail("begin", PortFault::Retryable, 1);
    let ec2 = w.remediator();
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());

    let err = responder.handle(&ssh.record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Audit(_)), "{err:?}");
    assert_eq!(
        w.revokes(),
        0,
        "nothing is reverted before the event is recorded"
    );
    assert!(
        w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the rule is untouched"
    );
    assert_eq!(
        audit.inner().event(&ssh.event_id).await.unwrap(),
        None,
        "nothing is stored"
    );
    assert!(
        audit
            .inner()
            .rule_history(&ssh.rule)
            .await
            .unwrap()
            .is_empty(),
        "no change rows either"
    );

    let report = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{report:#?}");
    assert_eq!(w.revokes(), 1, "reverted exactly once");
    assert!(
        !w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the rule is gone"
    );
    let stored = audit
        .inner()
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
    assert_eq!((audit.calls("begin"), audit.calls("complete")), (2, 1));

    // Once more: a duplicate, and no further call to EC2.
    let again = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(w.revokes(), 1);
}

/// (b) The table fails after the revert: the rule is gone but the record says `pending`.
/// The retry takes the event over, reads the rule before acting, finds it gone, counts it
/// as done and records `reverted`, without revoking anything a second time.
#[tokio::test]
async fn dynamodb_failing_after_the_revert_is_resumed_and_counts_the_rule_as_done() {
    let Some(w) =
        world("dynamodb_failing_after_the_revert_is_resumed_and_counts_the_rule_as_done").await
    else {
        return;
    };
    let ssh = w.open_ssh("complete-fails").await;
    let audit = Faulty::new(w.audit()).fail("complete", PortFault::Retryable, 1);
    let ec2 = w.remediator();
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());

    let err = responder.handle(&ssh.record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Audit(_)), "{err:?}");
    assert_eq!(w.revokes(), 1);
    assert!(
        !w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "the revert happened before the failure"
    );
    let pending = audit
        .inner()
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
        audit.inner().rule_history(&ssh.rule).await.unwrap()[0].outcome,
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
    assert_eq!(w.revokes(), 1, "nothing revoked a second time");
    let stored = audit.inner().event(&ssh.event_id).await.unwrap().unwrap();
    assert_eq!(stored, report);
    let history = audit.inner().rule_history(&ssh.rule).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].outcome, history[0].change.action),
        (Outcome::Reverted, Action::Reverted)
    );
    assert_eq!(audit.calls("complete"), 2);
}

/// (c) EC2 throttles the revoke (`RequestLimitExceeded` on the wire): the event stays
/// `pending` for the retry, nothing is reverted yet; the retry reverts.
#[tokio::test]
async fn ec2_throttling_leaves_the_record_pending_for_the_retry() {
    let Some(w) = world("ec2_throttling_leaves_the_record_pending_for_the_retry").await else {
        return;
    };
    let ssh = w.open_ssh("throttled").await;
    let audit = Faulty::new(w.audit());
    let ec2 = w.remediator();
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());
    w.proxy
        .fail("RevokeSecurityGroupIngress", Fault::Throttle, 1);

    let err = responder.handle(&ssh.record, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(matches!(err, Error::Remediation(_)), "{err:?}");
    let chain = sgguard_responder::error_chain(&err);
    assert!(chain.contains("RequestLimitExceeded"), "{chain}");
    assert!(
        w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule),
        "nothing reverted"
    );
    let stored = audit.inner().event(&ssh.event_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, Outcome::Pending);
    assert_eq!(stored.changes[0].action, Action::Pending);
    assert_eq!(
        audit.calls("complete"),
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
    assert_eq!(w.revokes(), 2, "the throttled request and the retry's");
    assert_eq!(
        audit.inner().event(&ssh.event_id).await.unwrap().unwrap(),
        report
    );
}

/// (d) EC2 denies the revoke (`UnauthorizedOperation` on the wire): a permanent failure is
/// recorded (`revert_failed`, action `failed`, the reason kept), the event is finished (no
/// retry), and a duplicate delivery reports `duplicate` without trying again.
#[tokio::test]
async fn ec2_access_denied_is_recorded_as_revert_failed_and_not_retried() {
    let Some(w) = world("ec2_access_denied_is_recorded_as_revert_failed_and_not_retried").await
    else {
        return;
    };
    let ssh = w.open_ssh("denied").await;
    let audit = Faulty::new(w.audit());
    let ec2 = w.remediator();
    let responder = Responder::new(&audit, StaticAllowlist::default(), &ec2, enforce());
    // One failure only: were the event retried, the revoke would succeed and the rule vanish.
    w.proxy.fail(
        "RevokeSecurityGroupIngress",
        Fault::Ec2Error {
            code: "UnauthorizedOperation".into(),
        },
        1,
    );

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
    let stored = audit.inner().event(&ssh.event_id).await.unwrap().unwrap();
    assert_eq!(stored, report, "the failure and its reason are recorded");

    let duplicate = responder.handle(&ssh.record, None).await.unwrap();
    assert_eq!(duplicate.outcome, Outcome::Duplicate);
    assert!(
        duplicate.reason.contains("revert_failed"),
        "{}",
        duplicate.reason
    );
    assert_eq!(
        w.revokes(),
        1,
        "a duplicate delivery does not retry the revert"
    );
    assert!(w.vpc.ingress_ids(&ssh.group).await.contains(&ssh.rule));
}

// ---------------------------------------------------------------------------------------
// Faults inside a step (only the proxy can put them there)
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
    let group = w.vpc.group("refused").await;
    let narrow = vec![tcp(5432).ip_ranges(v4("10.0.0.0/16")).build()];
    let created = w.vpc.authorize(&group, narrow.clone()).await;
    let rule = created[0].security_group_rule_id().unwrap().to_owned();
    let caller = Caller::user(ACCOUNT, "dba");
    let added = cloudtrail::authorize(
        cloudtrail::Call {
            event_id: &aws::unique("refused-add"),
            account: ACCOUNT,
            region: REGION,
            caller: &caller,
        },
        false,
        &group,
        &narrow,
        &created,
    );
    let audit = w.audit();
    let allowlist = StaticAllowlist::default();
    let remediator = w.remediator();
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
        cloudtrail::Call {
            event_id: &aws::unique("refused-modify"),
            account: ACCOUNT,
            region: REGION,
            caller: &caller,
        },
        &group,
        &rule,
        serde_json::json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "0.0.0.0/0"}),
    );
    w.proxy.fail(
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
    assert_eq!(w.proxy.counts().faulted.load(Ordering::SeqCst), 1);
    let rules = w.vpc.ingress_rules(&group).await;
    assert_eq!(
        rules[0].cidr_ipv4(),
        Some("0.0.0.0/0"),
        "EC2 still holds it"
    );
}

/// Throttling and 5xx are retryable wherever they happen; a retry then finishes the event.
#[tokio::test]
async fn throttling_on_the_wire_is_retried_and_then_reverts() {
    let Some(w) = world("throttling_on_the_wire_is_retried_and_then_reverts").await else {
        return;
    };
    let open = w.open_ssh("throttled-wire").await;
    let audit = DynamoAuditLog::new(
        aws_sdk_dynamodb::Client::new(&w.through_proxy),
        &w.tables.audit,
    );
    let allowlist = StaticAllowlist::default();
    let remediator = w.remediator();
    let responder = Responder::new(&audit, &allowlist, &remediator, enforce());
    for (operation, fault) in [
        ("TransactWriteItems", Fault::Throttle),
        ("DescribeSecurityGroupRules", Fault::ServerError),
        ("RevokeSecurityGroupIngress", Fault::Throttle),
    ] {
        w.proxy.fail(operation, fault, 1);
        let err = responder.handle(&open.record, None).await.unwrap_err();
        assert!(err.is_retryable(), "{operation}: {err}");
    }
    let report = responder.handle(&open.record, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Reverted, "{report:#?}");
    assert!(!w.vpc.ingress_ids(&open.group).await.contains(&open.rule));
    let stored = w.audit().event(&open.event_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, Outcome::Reverted);
}

/// The member role refused (no such role, a trust policy that does not name the function's
/// role) is final: the event ends `revert_failed` at once, naming the role and the account.
/// Throttling of the same call is retried, and the retry proceeds.
#[tokio::test]
async fn a_refused_member_role_is_revert_failed_and_throttling_is_retried() {
    let Some(w) = world("a_refused_member_role_is_revert_failed_and_throttling_is_retried").await
    else {
        return;
    };
    const MEMBER: &str = "222233334444";
    let member_event = |name: &str| {
        let event_id = aws::unique(name);
        let caller = Caller::user(MEMBER, "mallory");
        let record = cloudtrail::authorize(
            cloudtrail::Call {
                event_id: &event_id,
                account: MEMBER,
                region: REGION,
                caller: &caller,
            },
            false,
            "sg-0123456789abcdef0",
            &[tcp(22).ip_ranges(v4("0.0.0.0/0")).build()],
            &[aws_sdk_ec2::types::SecurityGroupRule::builder()
                .security_group_rule_id("sgr-0123456789abcdef0")
                .group_id("sg-0123456789abcdef0")
                .is_egress(false)
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .cidr_ipv4("0.0.0.0/0")
                .build()],
        );
        (event_id, record)
    };
    let audit = w.audit();
    let allowlist = StaticAllowlist::default();

    // Refused: final, with the role and the account named.
    let remediator = w
        .remediator()
        .with_member_role(Some("sgguard-member".into()));
    let responder = Responder::new(&audit, &allowlist, &remediator, enforce());
    let (refused_id, refused) = member_event("member-refused");
    w.proxy.fail(
        "AssumeRole",
        Fault::Ec2Error {
            code: "AccessDenied".into(),
        },
        1,
    );
    let report = responder.handle(&refused, None).await.unwrap();
    assert_eq!(report.outcome, Outcome::RevertFailed, "{report:#?}");
    let remediation = report.changes[0].remediation.clone().unwrap_or_default();
    assert!(
        remediation.contains(&format!(
            "cannot assume arn:aws:iam::{MEMBER}:role/sgguard-member to act in account {MEMBER}"
        )) && remediation.contains("AccessDenied"),
        "{remediation}"
    );
    let stored = audit.event(&refused_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, Outcome::RevertFailed);

    // Throttled: retryable; the next attempt assumes the role and goes on.
    let remediator = w
        .remediator()
        .with_member_role(Some("sgguard-member".into()));
    let responder = Responder::new(&audit, &allowlist, &remediator, enforce());
    let (_, throttled) = member_event("member-throttled");
    w.proxy.fail("AssumeRole", Fault::Throttle, 1);
    let err = responder.handle(&throttled, None).await.unwrap_err();
    assert!(
        err.is_retryable(),
        "{}",
        sgguard_responder::error_chain(&err)
    );
    let report = responder.handle(&throttled, None).await.unwrap();
    assert_ne!(report.outcome, Outcome::Pending, "{report:#?}");
    assert_eq!(
        w.proxy.counts().of("AssumeRole"),
        3,
        "one refused, one throttled, one served"
    );
}
