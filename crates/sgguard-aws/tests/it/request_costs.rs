//! What each outcome costs in AWS requests: every HTTP request the SDK sends (each attempt,
//! retries included) is counted by an interceptor on the DynamoDB and EC2 clients the
//! adapters use, keyed by service and operation. The counts are deterministic; the test
//! prints them as a table and asserts them, with what each request is for.
//!
//! The allowlist is a `CachedAllowlist` with a long TTL, warmed before measuring, as the
//! Lambda runs it between cache refreshes; one case shows the cold-cache `Scan`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::Client as Ec2;
use aws_sdk_ec2::types::{IpPermission, Ipv6Range, SecurityGroupRule};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::{Value, json};
use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, Ec2Remediator, TableNames, create_tables};
use sgguard_core::{AllowEntry, Mode, Outcome, Policy, PortRange, Protocol};
use sgguard_responder::{AllowlistChange, AllowlistStore, CachedAllowlist, Responder};
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{Vpc, tcp, v4};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const SELF_ROLE: &str = "arn:aws:iam::123456789012:role/sgguard-responder";

/// Counts the requests sent, by `Service:Operation`.
#[derive(Debug, Clone, Default)]
struct Requests(Arc<Mutex<BTreeMap<String, usize>>>);

impl Requests {
    /// The counts since the last call, and a fresh start.
    fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    /// Called once per attempt, just before the request goes on the wire.
    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = cfg.load::<Metadata>().map_or_else(
            || "unknown".to_owned(),
            |m| format!("{}:{}", m.service(), m.name()),
        );
        *self.0.lock().unwrap().entry(key).or_default() += 1;
        Ok(())
    }
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// A tcp permission for one port from one IPv4 range.
fn tcp_from(port: i32, cidr: &str) -> IpPermission {
    tcp(port).ip_ranges(v4(cidr)).build()
}

/// A new group in `vpc`, the rules `permissions` created in it (one call each: the emulator
/// answers a multi-permission call with the last permission's rules only), and the
/// record of one call that added them all, as CloudTrail writes it.
async fn event(
    vpc: &Vpc,
    name: &str,
    caller: &Caller,
    permissions: &[IpPermission],
) -> (String, Vec<SecurityGroupRule>, Value) {
    let group = vpc.group(name).await;
    let mut created = Vec::new();
    for permission in permissions {
        created.extend(vpc.authorize(&group, vec![permission.clone()]).await);
    }
    let record = cloudtrail::authorize(
        cloudtrail::Call {
            event_id: &aws::unique(name),
            account: ACCOUNT,
            region: REGION,
            caller,
        },
        false,
        &group,
        permissions,
        &created,
    );
    (group, created, record)
}

/// One measured case: its name, the outcome it produced, and what it cost.
struct Row {
    case: &'static str,
    outcome: Outcome,
    requests: BTreeMap<String, usize>,
}

fn table(rows: &[Row]) -> String {
    let mut text = String::from(
        "\nAWS requests per outcome (allowlist: CachedAllowlist, TTL 1h, warmed before measuring unless noted)\n\n",
    );
    text.push_str(&format!(
        "{:<40} {:<20} {:>5}  {}\n",
        "case", "outcome", "total", "requests"
    ));
    for row in rows {
        let total: usize = row.requests.values().sum();
        let detail: Vec<String> = row
            .requests
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let detail = if detail.is_empty() {
            "none".to_owned()
        } else {
            detail.join(", ")
        };
        text.push_str(&format!(
            "{:<40} {:<20} {:>5}  {}\n",
            row.case,
            row.outcome.as_str(),
            total,
            detail
        ));
    }
    text
}

#[tokio::test]
async fn requests_per_outcome() {
    let Some(endpoint) = aws::endpoint("requests_per_outcome") else {
        return;
    };
    let sdk = aws::config(&endpoint).await;
    let requests = Requests::default();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(requests.clone())
            .build(),
    );
    let counted_ec2 = Ec2::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .interceptor(requests.clone())
            .build(),
    );
    // Setup and checks go through clients without the interceptor.
    let tables = TableNames {
        audit: aws::unique("costs-audit"),
        allowlist: aws::unique("costs-allow"),
    };
    create_tables(&aws_sdk_dynamodb::Client::new(&sdk), &tables)
        .await
        .unwrap();
    let w = Vpc::create(Ec2::new(&sdk), "sgguard request costs").await;

    let audit = DynamoAuditLog::new(dynamo.clone(), &tables.audit);
    let allowlist = CachedAllowlist::new(
        DynamoAllowlist::new(dynamo.clone(), &tables.allowlist, &tables.audit),
        Duration::from_secs(3600),
    );
    let mut office = AllowEntry::new("office-ssh", "netops@example.com", "NET-123 office SSH");
    office.protocol = Protocol::Tcp;
    office.ports = PortRange::single(22);
    office.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    let change = AllowlistChange {
        at: "2026-11-26T00:00:00Z".into(),
        by: "test".into(),
        action: "add".into(),
        entry_id: "office-ssh".into(),
        detail: String::new(),
    };
    allowlist.put(&office, &change).await.unwrap();
    assert_eq!(
        allowlist.entries().await.unwrap().len(),
        1,
        "warm the cache"
    );
    let remediator = Ec2Remediator::new(sdk.clone()).with_client(REGION, counted_ec2);
    let policy = |mode| Policy {
        mode,
        self_arns: vec![SELF_ROLE.into()],
        ..Policy::default()
    };
    let enforce = Responder::new(&audit, &allowlist, &remediator, policy(Mode::Enforce));
    let audit_mode = Responder::new(&audit, &allowlist, &remediator, policy(Mode::Audit));
    requests.take();

    let mallory = Caller::user(ACCOUNT, "mallory");
    let mut rows = Vec::new();
    let mut measure = async |case: &'static str, responder: &Responder<_, _, _>, record: &Value| {
        assert!(
            requests.take().is_empty(),
            "{case}: nothing counted before it starts"
        );
        let report = responder.handle(record, None).await.unwrap();
        rows.push(Row {
            case,
            outcome: report.outcome,
            requests: requests.take(),
        });
        report
    };

    // Approved: one conditional TransactWriteItems (begin: event item + change item).
    let (_, _, approved) = event(&w, "approved", &mallory, &[tcp_from(22, "203.0.113.0/24")]).await;
    assert_eq!(
        measure("approved (enforce)", &enforce, &approved)
            .await
            .outcome,
        Outcome::Approved
    );

    // Flagged (low risk: a private range): begin only.
    let (db, narrow, flagged) =
        event(&w, "flagged", &mallory, &[tcp_from(5432, "10.0.0.0/16")]).await;
    assert_eq!(
        measure("flagged", &enforce, &flagged).await.outcome,
        Outcome::Flagged
    );

    // Would revert (audit mode): begin only; EC2 is not called.
    let (rdp, _, would) = event(&w, "would-revert", &mallory, &[tcp_from(3389, "0.0.0.0/0")]).await;
    assert_eq!(
        measure("would_revert (audit mode)", &audit_mode, &would)
            .await
            .outcome,
        Outcome::WouldRevert
    );
    assert_eq!(w.ingress_ids(&rdp).await.len(), 1);

    // Reverted, one rule by id: begin + RevokeSecurityGroupIngress (by rule id) +
    // DescribeSecurityGroupRules (confirm absent) + TransactWriteItems (complete).
    let (web, _, one) = event(&w, "reverted-1", &mallory, &[tcp_from(22, "0.0.0.0/0")]).await;
    assert_eq!(
        measure("reverted (1 rule by id)", &enforce, &one)
            .await
            .outcome,
        Outcome::Reverted
    );
    assert!(w.ingress_ids(&web).await.is_empty());

    // Reverted, three rules in one event: the same four requests; one revoke names all three
    // rule ids, one describe confirms all three absent.
    let three = [
        tcp(22)
            .ip_ranges(v4("0.0.0.0/0"))
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build(),
        tcp_from(3389, "0.0.0.0/0"),
    ];
    let (many, created, record) = event(&w, "reverted-3", &mallory, &three).await;
    assert_eq!(created.len(), 3);
    let report = measure("reverted (3 rules by id, one event)", &enforce, &record).await;
    assert_eq!(report.outcome, Outcome::Reverted);
    assert_eq!(report.changes.len(), 3);
    assert!(w.ingress_ids(&many).await.is_empty());

    // Restored (a modify widening the flagged rule): Query by-rule (the rule's history) +
    // begin + ModifySecurityGroupRules (restore) + DescribeSecurityGroupRules (confirm) +
    // complete.
    let rule = narrow[0].security_group_rule_id().unwrap().to_owned();
    let wide = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ipv4("0.0.0.0/0")
        .build();
    w.modify_rule(&db, &rule, wide).await;
    let content =
        json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "0.0.0.0/0"});
    let modify = cloudtrail::modify(
        cloudtrail::Call {
            event_id: &aws::unique("restored"),
            account: ACCOUNT,
            region: REGION,
            caller: &mallory,
        },
        &db,
        &rule,
        content,
    );
    assert_eq!(
        measure("restored (modify after accepted add)", &enforce, &modify)
            .await
            .outcome,
        Outcome::Restored
    );

    // Duplicate: the conditional begin is cancelled (ConditionalCheckFailed) + GetItem (the
    // stored record, read consistently).
    assert_eq!(
        measure("duplicate", &enforce, &one).await.outcome,
        Outcome::Duplicate
    );

    // Own action: the responder's own revoke, recorded (begin), never acted on.
    let ours = Caller::role(ACCOUNT, "sgguard-responder", "sgguard");
    let (own_group, own_rules, _) =
        event(&w, "own", &mallory, &[tcp_from(22, "198.51.100.0/24")]).await;
    let own = cloudtrail::record(
        cloudtrail::Call {
            event_id: &aws::unique("own"),
            account: ACCOUNT,
            region: REGION,
            caller: &ours,
        },
        "RevokeSecurityGroupIngress",
        json!({"groupId": own_group, "securityGroupRuleIds": {"items": [{"securityGroupRuleId": own_rules[0].security_group_rule_id()}]}}),
        json!({"_return": true}),
    );
    assert_eq!(
        measure("own_action", &enforce, &own).await.outcome,
        Outcome::OwnAction
    );

    // An Authorize with the responder's identity is no own action: reverted like anyone's.
    let (borrowed_group, _, borrowed) =
        event(&w, "borrowed", &ours, &[tcp_from(22, "0.0.0.0/0")]).await;
    assert_eq!(
        measure("reverted (responder's identity)", &enforce, &borrowed)
            .await
            .outcome,
        Outcome::Reverted
    );
    assert!(w.ingress_ids(&borrowed_group).await.is_empty());

    // Superseded: the rule changed before the event was handled; read, nothing done.
    let (late_group, late_rules, late) =
        event(&w, "superseded", &mallory, &[tcp_from(22, "0.0.0.0/0")]).await;
    let office = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ipv4("203.0.113.0/24")
        .build();
    w.modify_rule(
        &late_group,
        late_rules[0].security_group_rule_id().unwrap(),
        office,
    )
    .await;
    assert_eq!(
        measure("superseded", &enforce, &late).await.outcome,
        Outcome::Superseded
    );
    assert_eq!(w.ingress_ids(&late_group).await.len(), 1);

    // A failed call changed nothing and is not recorded: no request at all.
    let (_, _, mut failed) = event(&w, "failed", &mallory, &[tcp_from(22, "0.0.0.0/0")]).await;
    failed["errorCode"] = json!("Client.UnauthorizedOperation");
    assert_eq!(
        measure("skipped_failed_call", &enforce, &failed)
            .await
            .outcome,
        Outcome::SkippedFailedCall
    );

    // Reverted, but the rule was already removed by someone else: begin +
    // DescribeSecurityGroupRules (before acting: gone) + complete; no revoke is sent. The
    // same requests as the resumed attempt after a failed complete (faults.rs, scenario b).
    let (gone, created, record) =
        event(&w, "already-gone", &mallory, &[tcp_from(22, "0.0.0.0/0")]).await;
    let ids: Vec<String> = created
        .iter()
        .filter_map(|r| r.security_group_rule_id().map(str::to_owned))
        .collect();
    w.ec2
        .revoke_security_group_ingress()
        .group_id(&gone)
        .set_security_group_rule_ids(Some(ids))
        .send()
        .await
        .unwrap();
    let report = measure("reverted (rule already gone)", &enforce, &record).await;
    assert_eq!(report.outcome, Outcome::Reverted);
    assert!(
        report.reason.contains("(1 already gone)"),
        "{}",
        report.reason
    );

    // Cold cache: the first event after the TTL lapses also reads the allowlist (one Scan,
    // the table is small) before the begin.
    let cold_allowlist = CachedAllowlist::new(
        DynamoAllowlist::new(dynamo.clone(), &tables.allowlist, &tables.audit),
        Duration::from_secs(3600),
    );
    let cold = Responder::new(&audit, &cold_allowlist, &remediator, policy(Mode::Enforce));
    let (_, _, approved_cold) = event(
        &w,
        "approved-cold",
        &mallory,
        &[tcp_from(22, "203.0.113.0/24")],
    )
    .await;
    assert_eq!(
        measure("approved (enforce, cold cache)", &cold, &approved_cold)
            .await
            .outcome,
        Outcome::Approved
    );

    eprintln!("{}", table(&rows));

    let begin = ("DynamoDB:TransactWriteItems", 1);
    // begin + Query (the group's later changes: none) + DescribeSecurityGroupRules (compare
    // before acting) + RevokeSecurityGroupIngress (by rule id) + DescribeSecurityGroupRules
    // (confirm absent) + complete, whatever the number of rules.
    let revert = counts(&[
        ("DynamoDB:Query", 1),
        ("DynamoDB:TransactWriteItems", 2),
        ("EC2:DescribeSecurityGroupRules", 2),
        ("EC2:RevokeSecurityGroupIngress", 1),
    ]);
    let expected: Vec<(&str, Outcome, BTreeMap<String, usize>)> = vec![
        ("approved (enforce)", Outcome::Approved, counts(&[begin])),
        ("flagged", Outcome::Flagged, counts(&[begin])),
        (
            "would_revert (audit mode)",
            Outcome::WouldRevert,
            counts(&[begin]),
        ),
        ("reverted (1 rule by id)", Outcome::Reverted, revert.clone()),
        (
            "reverted (3 rules by id, one event)",
            Outcome::Reverted,
            revert.clone(),
        ),
        (
            "restored (modify after accepted add)",
            Outcome::Restored,
            counts(&[
                ("DynamoDB:Query", 1),
                ("DynamoDB:TransactWriteItems", 2),
                ("EC2:DescribeSecurityGroupRules", 2),
                ("EC2:ModifySecurityGroupRules", 1),
            ]),
        ),
        (
            "duplicate",
            Outcome::Duplicate,
            counts(&[begin, ("DynamoDB:GetItem", 1)]),
        ),
        ("own_action", Outcome::OwnAction, counts(&[begin])),
        (
            "reverted (responder's identity)",
            Outcome::Reverted,
            revert.clone(),
        ),
        (
            "superseded",
            Outcome::Superseded,
            counts(&[
                ("DynamoDB:Query", 1),
                ("DynamoDB:TransactWriteItems", 2),
                ("EC2:DescribeSecurityGroupRules", 1),
            ]),
        ),
        (
            "skipped_failed_call",
            Outcome::SkippedFailedCall,
            counts(&[]),
        ),
        (
            "reverted (rule already gone)",
            Outcome::Reverted,
            counts(&[
                ("DynamoDB:Query", 1),
                ("DynamoDB:TransactWriteItems", 2),
                ("EC2:DescribeSecurityGroupRules", 1),
            ]),
        ),
        (
            "approved (enforce, cold cache)",
            Outcome::Approved,
            counts(&[("DynamoDB:Scan", 1), begin]),
        ),
    ];
    let measured: Vec<(&str, Outcome, BTreeMap<String, usize>)> = rows
        .iter()
        .map(|r| (r.case, r.outcome, r.requests.clone()))
        .collect();
    assert_eq!(measured, expected, "{}", table(&rows));

    // Every request sent is authorized by a declared permission, which the templates grant
    // (tests/system/infra.rs): a new call fails here until declared.
    for row in &rows {
        for operation in row.requests.keys() {
            assert!(
                sgguard_aws::permissions::is_covered(operation),
                "{}: {operation} is not in sgguard_aws::permissions::RESPONDER",
                row.case
            );
        }
    }
}

/// DynamoDB's size of an item: attribute names plus values (numbers approximated by their
/// text, which is never smaller than DynamoDB's encoding).
fn item_size(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    fn value(v: &A) -> usize {
        match v {
            A::S(s) | A::N(s) => s.len(),
            A::B(b) => b.as_ref().len(),
            A::Bool(_) | A::Null(_) => 1,
            A::L(list) => 3 + list.iter().map(|v| 1 + value(v)).sum::<usize>(),
            A::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value(v))
                    .sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// Every item of one event (its event item and change items) and their sizes.
async fn event_items(dynamo: &aws_sdk_dynamodb::Client, table: &str, event_id: &str) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut start = None;
    loop {
        let page = dynamo
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#{event_id}")),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        sizes.extend(page.items().iter().map(item_size));
        start = page.last_evaluated_key;
        if start.is_none() {
            return sizes;
        }
    }
}

/// What recording an Authorize of 1, 10, 100 and 1,000 rules costs in DynamoDB: the real
/// pipeline's report and raw record (audit mode, so `begin` only), then a completion of the
/// same report as the enforcing path writes it. Requests, items, the largest item and the
/// write units (transactional: twice a 1 KB unit per item written; index copies not
/// counted) must grow no faster than the rules, and every item must stay far below 400 KB.
#[tokio::test]
async fn storage_grows_linearly_with_the_rules() {
    let Some(endpoint) = aws::endpoint("storage_grows_linearly_with_the_rules") else {
        return;
    };
    let requests = Requests::default();
    let config = aws::config(&endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(requests.clone())
            .build(),
    );
    let tables = TableNames {
        audit: aws::unique("storage-audit"),
        allowlist: aws::unique("storage-allow"),
    };
    create_tables(&dynamo, &tables).await.unwrap();
    let audit = DynamoAuditLog::new(dynamo.clone(), &tables.audit);
    let allowlist = sgguard_responder::StaticAllowlist::new(Vec::new());
    let responder = Responder::new(
        &audit,
        &allowlist,
        sgguard_responder::ReportOnlyRemediator,
        Policy {
            mode: Mode::Audit,
            ..Policy::default()
        },
    );
    let mut text = String::from(
        "\nDynamoDB cost of recording an Authorize of N rules (begin, then complete)\n\n    rules  requests  items  largest item  total bytes  WCU (transactional)  WCU per rule\n",
    );
    let mut per_rule = Vec::new();
    for rules in [1_usize, 10, 100, 1000] {
        let event_id = aws::unique(&format!("storage-{rules}"));
        let mut authorize =
            sgguard_core::testing::Authorize::new(&event_id, "sg-0123456789abcdef0");
        for i in 0..rules {
            let port = i32::try_from(1000 + i).unwrap();
            authorize = authorize.tcp(&format!("sgr-{i:017x}"), port, "0.0.0.0/0");
        }
        let record = authorize.build();
        requests.take();
        let report = responder.handle(&record, None).await.unwrap();
        assert_eq!(report.changes.len(), rules);
        let begin = requests.take();
        // The completion of the same record, as an enforcing responder writes it.
        let lease = sgguard_responder::Lease::new(Duration::from_secs(60), true);
        let mut done = report.clone();
        let completed_id = format!("{event_id}-completed");
        done.event_id = Some(completed_id.clone());
        sgguard_responder::AuditLog::begin(&audit, &done, &record, &lease, &[Outcome::Pending])
            .await
            .unwrap();
        done.outcome = Outcome::Reverted;
        for change in &mut done.changes {
            change.action = sgguard_core::Action::Reverted;
            change.remediation = Some("revoked by rule id: confirmed absent".into());
        }
        requests.take();
        sgguard_responder::AuditLog::complete(&audit, &done, &lease)
            .await
            .unwrap();
        let complete = requests.take();
        let begun = event_items(&dynamo, &tables.audit, &event_id).await;
        let completed = event_items(&dynamo, &tables.audit, &completed_id).await;
        let largest = begun.iter().chain(&completed).copied().max().unwrap();
        assert!(
            largest < 300 * 1024,
            "an item of {largest} bytes for {rules} rules"
        );
        let units = |sizes: &[usize]| sizes.iter().map(|s| 2 * s.div_ceil(1024)).sum::<usize>();
        let wcu = units(&begun) + units(&completed);
        let sent: usize = begin.values().sum::<usize>() + complete.values().sum::<usize>();
        let total: usize = begun.iter().sum::<usize>() + completed.iter().sum::<usize>();
        text.push_str(&format!(
            "{rules:>9}  {sent:>8}  {:>5}  {largest:>12}  {total:>11}  {wcu:>19}  {:>12.1}\n",
            begun.len() + completed.len(),
            wcu as f64 / rules as f64,
        ));
        per_rule.push((rules, sent, wcu));
    }
    eprintln!("{text}");
    // Linear: from 100 to 1,000 rules, requests and write units grow at most ~10×.
    let (_, sent_100, wcu_100) = per_rule[2];
    let (_, sent_1000, wcu_1000) = per_rule[3];
    assert!(sent_1000 <= sent_100 * 11, "{per_rule:?}");
    assert!(wcu_1000 <= wcu_100 * 11, "{per_rule:?}");
}
