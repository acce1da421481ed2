//! Which requests each audit query makes on DynamoDB: an interceptor records every
//! operation (and, for a `Query`, its index), so the test shows each filter combination is
//! answered by `GetItem` or `Query` on the intended index, never by a `Scan`, and that the
//! day-partitioned walks stop at the limit.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use chrono::{Duration, Utc};
use serde_json::json;
use sgguard_aws::{AuditAccessPath, DynamoAuditLog, TableNames, create_tables};
use sgguard_core::time::format_time;
use sgguard_core::{Action, ChangeKind, Direction, Outcome, RiskLevel, SourceKind};
use sgguard_responder::{AuditFilter, AuditLog, AuditReader, ChangeReport, EventReport};
use sgguard_testkit::aws;

/// The operations sent, as `Query:<index>` or the operation name, in order.
#[derive(Debug, Clone, Default)]
struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "RecordRequests"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned());
        let entry = match context.input().downcast_ref::<QueryInput>() {
            Some(query) => format!("Query:{}", query.index_name().unwrap_or("table")),
            None => name,
        };
        self.0.lock().unwrap().push(entry);
        Ok(())
    }
}

fn report(event_id: &str, time: &str, account: &str, actor: &str, rule: &str) -> EventReport {
    EventReport {
        event_id: Some(event_id.to_owned()),
        event_name: Some("AuthorizeSecurityGroupIngress".into()),
        event_time: Some(time.to_owned()),
        account: Some(account.to_owned()),
        region: Some("eu-west-1".into()),
        group_id: Some(format!("sg-{account}")),
        group_name: None,
        prefix_list_id: None,
        actor: Some(actor.to_owned()),
        principal: Some(actor.to_owned()),
        source_ip: None,
        user_agent: None,
        outcome: Outcome::WouldRevert,
        reason: "would revert".into(),
        changes: vec![ChangeReport {
            rule_id: Some(rule.to_owned()),
            direction: Direction::Ingress,
            kind: ChangeKind::Added,
            protocol: Some("tcp".into()),
            from_port: Some(22),
            to_port: Some(22),
            source: Some("0.0.0.0/0".into()),
            source_kind: Some(SourceKind::CidrIpv4),
            description: None,
            risk: RiskLevel::Critical,
            risk_reasons: vec!["world-open".into()],
            approved_by: None,
            closest_entry: None,
            action: Action::WouldRevert,
            remediation: None,
            note: None,
            restore_to: None,
        }],
        allowlist_error: None,
        origin: None,
    }
}

#[tokio::test]
async fn every_filter_is_a_query_on_its_index_never_a_scan() {
    let Some(endpoint) = aws::endpoint("every_filter_is_a_query_on_its_index_never_a_scan") else {
        return;
    };
    let sdk = aws::config(&endpoint).await;
    let plain = aws_sdk_dynamodb::Client::new(&sdk);
    let names = TableNames {
        audit: aws::unique("query-audit"),
        allowlist: aws::unique("query-allow"),
    };
    create_tables(&plain, &names).await.unwrap();
    let requests = Requests::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(requests.clone())
            .build(),
    );
    let log = DynamoAuditLog::new(client, &names.audit);

    // Five events, one per day over the last five days, the same account and actor.
    let account = "210987654321";
    let actor = "arn:aws:iam::210987654321:user/alice";
    let rule = "sgr-0query0000000001";
    let mut ids = Vec::new();
    for n in 1..=5 {
        let time = format_time(&(Utc::now() - Duration::days(n)));
        let id = format!("query-e{n}");
        log.begin(
            &report(&id, &time, account, actor, rule),
            &json!({"eventID": id}),
            &sgguard_responder::Lease::new(std::time::Duration::from_secs(60), true),
            &[],
        )
        .await
        .unwrap();
        ids.push(id);
    }
    requests.take();

    let filter = |f: AuditFilter| AuditFilter {
        account: Some(account.into()),
        ..f
    };
    let base = AuditFilter::default;
    let yesterday = (Utc::now() - Duration::days(1))
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let cases: Vec<(&str, AuditFilter, usize, Vec<&str>)> = vec![
        (
            "event id",
            filter(AuditFilter {
                event_id: Some(ids[0].clone()),
                group_id: Some(format!("sg-{account}")),
                ..base()
            }),
            1,
            vec!["GetItem"],
        ),
        (
            "rule id: its change items, then their events in one batch",
            filter(AuditFilter {
                rule_id: Some(rule.into()),
                actor: Some(actor.into()),
                ..base()
            }),
            5,
            vec!["Query:by-rule", "BatchGetItem"],
        ),
        (
            "group",
            filter(AuditFilter {
                group_id: Some(format!("sg-{account}")),
                actor: Some(actor.into()),
                outcomes: vec![Outcome::WouldRevert],
                ..base()
            }),
            5,
            vec!["Query:by-group"],
        ),
        (
            "exact actor",
            filter(AuditFilter {
                actor: Some(actor.into()),
                outcomes: vec![Outcome::WouldRevert],
                ..base()
            }),
            5,
            vec!["Query:by-actor"],
        ),
        (
            "outcomes, for two days: one query per outcome per day",
            filter(AuditFilter {
                outcomes: vec![Outcome::WouldRevert, Outcome::Reverted],
                since: Some(yesterday),
                ..base()
            }),
            1,
            vec![
                "Query:by-outcome-day",
                "Query:by-outcome-day",
                "Query:by-outcome-day",
                "Query:by-outcome-day",
            ],
        ),
        (
            "account and region, newest day first, stopping at the limit",
            filter(AuditFilter {
                region: Some("eu-west-1".into()),
                limit: Some(1),
                ..base()
            }),
            1,
            // Today (nothing yet), then yesterday holds the newest event.
            vec!["Query:by-scope-day", "Query:by-scope-day"],
        ),
        (
            "a glob actor walks the days, stopping at the limit",
            filter(AuditFilter {
                actor: Some("arn:aws:iam::*:user/ali*".into()),
                limit: Some(2),
                ..base()
            }),
            2,
            vec!["Query:by-day", "Query:by-day", "Query:by-day"],
        ),
    ];
    for (what, f, found, expected) in cases {
        let results = log.query(&f).await.unwrap();
        assert_eq!(results.len(), found, "{what}: {f:?}");
        let sent = requests.take();
        assert_eq!(sent, expected, "{what}: {f:?}");
        assert!(
            !sent.iter().any(|r| r.starts_with("Scan")),
            "{what}: a Scan"
        );
        if let Some(index) = AuditAccessPath::for_filter(&f).index() {
            assert!(sent[0].ends_with(index), "{what}: {index}");
        }
    }

    // Without `since`, the day walk covers the last 30 days (31 day partitions).
    let all = log.query(&filter(base())).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| r.event_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids,
        "newest first"
    );
    let sent = requests.take();
    assert_eq!(sent.len(), 31, "{sent:?}");
    assert!(sent.iter().all(|r| r == "Query:by-day"), "{sent:?}");

    // Allowlist changes: one by-outcome-day query per day.
    let changes = log
        .allowlist_changes(&AuditFilter {
            since: Some(yesterday - Duration::days(1)),
            ..base()
        })
        .await
        .unwrap();
    assert!(changes.is_empty());
    assert_eq!(requests.take(), vec!["Query:by-outcome-day"; 3]);

    // The raw record: one GetItem.
    assert_eq!(
        log.raw_event(&ids[0]).await.unwrap(),
        Some(json!({"eventID": ids[0]}))
    );
    assert_eq!(requests.take(), vec!["GetItem"]);
}
