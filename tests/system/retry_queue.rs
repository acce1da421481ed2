//! The retry queue end to end: messages on the emulator's SQS, received and handed to the
//! real function as the SQS event source does, per-message failures, redelivery after the
//! visibility timeout, and the time budget of an invocation.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use sgguard_responder::AuditLog;
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{ids, tcp, v4};
use sgguard_testkit::runtime_api::Invocation;

use aws_sdk_ec2::types::SecurityGroupRule;

use crate::support::{ACCOUNT, Function, REGION, World, outcome, world};

struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

impl Queue {
    /// A queue that hides a received message for one second, so redelivery is quick.
    async fn create(endpoint: &str) -> Self {
        let sqs = aws_sdk_sqs::Client::new(&aws::config(endpoint).await);
        let url = sqs
            .create_queue()
            .queue_name(aws::unique("retry"))
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()
            .remove(&QueueAttributeName::QueueArn)
            .unwrap();
        Self { sqs, url, arn }
    }

    async fn send(&self, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .unwrap()
            .message_id
            .unwrap()
    }

    /// Receives what is visible and shapes it as the SQS event source hands it to Lambda;
    /// also the receipt handles, by message id.
    async fn receive(&self) -> (Value, Vec<(String, String)>) {
        let messages = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": REGION,
                })
            })
            .collect();
        let handles = messages
            .iter()
            .map(|m| {
                (
                    m.message_id().unwrap_or_default().to_owned(),
                    m.receipt_handle().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        (json!({ "Records": records }), handles)
    }

    /// Deletes what the function handled, as the event source does with a partial batch
    /// response: every message not listed as failed.
    async fn delete_except(&self, handles: &[(String, String)], failed: &[String]) {
        for (id, handle) in handles {
            if !failed.contains(id) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn failures(answer: &Invocation) -> Vec<String> {
    let Invocation::Response(response) = answer else {
        panic!("a batch is answered, not failed as a whole: {answer:?}");
    };
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures in {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// Lambda's record of a failed async invocation, as its failure destination receives it.
fn invocation_record(event: &Value) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-12-02T10:00:00.000Z",
        "requestContext": {
            "requestId": "8f5b4e0a-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:sgguard:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Retryable", "errorMessage": "retryable: audit log: throttled"}
    })
    .to_string()
}

/// A new group `web` opened to the world on tcp `port` by `caller`: the group, the rules EC2
/// created, and the record of the call listing every one of them.
async fn world_open(
    w: &World,
    caller: &Caller,
    port: i32,
) -> (String, Vec<SecurityGroupRule>, Value) {
    let web = w.vpc.group("web").await;
    let (opened, record) = w
        .vpc
        .authorize_as(
            &aws::unique("retry"),
            caller,
            ACCOUNT,
            REGION,
            &web,
            vec![tcp(port).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    (web, opened, record)
}

#[tokio::test]
async fn the_retry_queue_redelivers_only_what_failed_until_it_heals() {
    let Some(w) = world("the_retry_queue_redelivers_only_what_failed_until_it_heals").await else {
        return;
    };
    let queue = Queue::create(&w.endpoint).await;
    let caller = Caller::role(ACCOUNT, "Admin", "mallory");
    let (web, opened, record) = world_open(&w, &caller, 22).await;
    // A modification of a rule the audit log has never seen, moments ago: deferred
    // (retryably) while the record of the rule's creation may still arrive.
    let app = w.vpc.group("app").await;
    let unseen = w
        .vpc
        .authorize(&app, vec![tcp(8080).ip_ranges(v4("10.0.0.0/8")).build()])
        .await;
    let unseen_rule = ids(&unseen)[0].clone();
    let widen =
        json!({"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIpv4": "0.0.0.0/0"});
    let modify_id = aws::unique("retry-modify");
    let modify = cloudtrail::modify(
        cloudtrail::Call {
            event_id: &modify_id,
            account: ACCOUNT,
            region: REGION,
            caller: &caller,
        },
        &app,
        &unseen_rule,
        widen,
    );

    let from_destination = queue
        .send(&invocation_record(&cloudtrail::envelope(&record)))
        .await;
    let from_rule_dlq = queue.send(&cloudtrail::envelope(&modify).to_string()).await;
    let not_an_event = queue.send("{\"hello\": \"world\"}").await;

    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let (batch, handles) = queue.receive().await;
    assert_eq!(handles.len(), 3, "{batch:#}");
    let failed = failures(&function.deliver(batch).await);
    assert_eq!(
        failed,
        vec![from_rule_dlq.clone()],
        "only the deferred event comes again"
    );
    assert!(
        !failed.contains(&from_destination) && !failed.contains(&not_an_event),
        "a handled event and an invalid one (recorded) are done"
    );
    let event_id = record["eventID"].as_str().unwrap();
    let stored = w.audit.event(event_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome.as_str(), "reverted", "{stored:?}");
    assert!(
        !ids(&w.vpc.ingress_rules(&web).await).contains(&ids(&opened)[0]),
        "the world-open rule from the invocation record is gone"
    );
    queue.delete_except(&handles, &failed).await;

    // After the visibility timeout only the failed message is back; the function, now past
    // the wait for history, settles it.
    drop(function);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (batch, handles) = queue.receive().await;
    let again: Vec<&String> = handles.iter().map(|(id, _)| id).collect();
    assert_eq!(again, vec![&from_rule_dlq], "{batch:#}");
    let healed = Function::start_with(
        &w.endpoint,
        &w.tables,
        "enforce",
        &[("SGGUARD_HISTORY_GRACE_SECS", "0")],
    )
    .await;
    let failed = failures(&healed.deliver(batch).await);
    assert!(failed.is_empty(), "{failed:?}");
    queue.delete_except(&handles, &failed).await;
    let settled = w.audit.event(&modify_id).await.unwrap().unwrap();
    assert_ne!(settled.outcome.as_str(), "pending", "{settled:?}");
    let (empty, _) = queue.receive().await;
    assert_eq!(empty["Records"], json!([]), "the queue is empty");
}

#[tokio::test]
async fn a_batch_short_of_time_leaves_every_unstarted_message_to_the_queue() {
    let Some(w) = world("a_batch_short_of_time_leaves_every_unstarted_message_to_the_queue").await
    else {
        return;
    };
    let (_, _, record) = world_open(&w, &Caller::user(ACCOUNT, "ops"), 22).await;
    let batch = json!({"Records": [
        {"messageId": "m-1", "body": cloudtrail::envelope(&record).to_string(), "eventSource": "aws:sqs"},
        {"messageId": "m-2", "body": "{}", "eventSource": "aws:sqs"},
    ]});
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let answer = function
        .api
        .invoke_with_budget(batch, Duration::from_secs(60), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(failures(&answer), vec!["m-1", "m-2"]);
    let event_id = record["eventID"].as_str().unwrap();
    assert!(
        w.audit.event(event_id).await.unwrap().is_none(),
        "no message was started"
    );
}

#[tokio::test]
async fn an_event_short_of_time_stays_pending_and_its_retry_finishes_it() {
    let Some(w) = world("an_event_short_of_time_stays_pending_and_its_retry_finishes_it").await
    else {
        return;
    };
    let (web, opened, record) = world_open(&w, &Caller::user(ACCOUNT, "ops"), 3389).await;
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    // Less than a step's margin left: the event is claimed but no step is started.
    let answer = function
        .api
        .invoke_with_budget(
            cloudtrail::envelope(&record),
            Duration::from_secs(60),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    match &answer {
        Invocation::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "Retryable");
            assert!(error_message.contains("out of time"), "{error_message}");
        }
        other => panic!("expected a retryable error: {other:?}"),
    }
    let event_id = record["eventID"].as_str().unwrap();
    let stored = w.audit.event(event_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome.as_str(), "pending");
    assert!(ids(&w.vpc.ingress_rules(&web).await).contains(&ids(&opened)[0]));

    // The retry, with time, takes over at once (the lease was released) and reverts.
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    assert!(!ids(&w.vpc.ingress_rules(&web).await).contains(&ids(&opened)[0]));
}
