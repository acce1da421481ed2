//! Batches from the retry queue (an SQS event source): each message holds one event that
//! failed before, either Lambda's async invocation record (the event in `requestPayload`)
//! or the bare EventBridge event (from the rule's own dead-letter queue). Each event is
//! checked exactly as a direct delivery is, and only the messages that failed are reported
//! (`batchItemFailures`), so one bad message never redelivers its batch.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::Value;
use sgguard_responder::{AllowlistStore, AuditLog, Origin, Remediator, Responder, error_chain};

use crate::handler;

/// No message is started with less time than this left: it is reported failed, unopened,
/// and the queue delivers it again after its visibility timeout.
pub const MESSAGE_MARGIN: Duration = Duration::from_secs(25);

/// The batch in `payload`, when it is one: a `Records` list from `aws:sqs`.
pub fn sqs_batch(payload: &Value) -> Option<SqsEvent> {
    let records = payload.get("Records")?.as_array()?;
    let from_sqs = !records.is_empty()
        && records
            .iter()
            .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
    if !from_sqs {
        return None;
    }
    serde_json::from_value(payload.clone()).ok()
}

/// Handles every message of `batch` in order; the ids of those that must come again.
pub async fn handle_batch<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    batch: SqsEvent,
    deadline: Option<Instant>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut fail = |id: String| {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    };
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let out_of_time =
            deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < MESSAGE_MARGIN);
        if out_of_time {
            tracing::warn!(message_id = %id, "out of time: left for the queue to deliver again");
            fail(id);
            continue;
        }
        let (event, origin) = unwrap_message(message, &id);
        match handler::handle_from(responder, event, origin, deadline).await {
            Ok(_) => {}
            Err(err) => {
                // Retryable or not, the message stays on the queue: after its receive count
                // it reaches the dead-letter queue, where a person sees it. Never lost.
                tracing::warn!(message_id = %id, error = %error_chain(&err), "message not finished");
                fail(id);
            }
        }
    }
    response
}

/// The event a message carries: Lambda's invocation record is opened (`requestPayload`);
/// anything else is the event itself, and a body that is not JSON is kept as text, to be
/// recorded `invalid`.
fn unwrap_message(message: SqsMessage, id: &str) -> (Value, Origin) {
    let origin = Origin {
        file: format!("sqs:{id}"),
        index: 0,
    };
    let body = message.body.unwrap_or_default();
    let event = match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(mut object)) => match object.remove("requestPayload") {
            Some(payload) if object.contains_key("requestContext") => payload,
            Some(payload) => {
                object.insert("requestPayload".into(), payload);
                Value::Object(object)
            }
            None => Value::Object(object),
        },
        Ok(other) => other,
        Err(_) => Value::String(body),
    };
    (event, origin)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(body: &str) -> SqsMessage {
        serde_json::from_value(json!({
            "messageId": "m-1",
            "body": body,
            "eventSource": "aws:sqs",
        }))
        .unwrap()
    }

    #[test]
    fn an_sqs_batch_is_told_from_a_cloudtrail_log_file() {
        let batch =
            json!({"Records": [{"messageId": "m-1", "body": "{}", "eventSource": "aws:sqs"}]});
        assert_eq!(sqs_batch(&batch).unwrap().records.len(), 1);
        let log_file = json!({"Records": [{"eventName": "AuthorizeSecurityGroupIngress"}]});
        assert!(sqs_batch(&log_file).is_none());
        let mixed = json!({"Records": [
            {"messageId": "m-1", "body": "{}", "eventSource": "aws:sqs"},
            {"eventName": "AuthorizeSecurityGroupIngress"}
        ]});
        assert!(sqs_batch(&mixed).is_none());
        assert!(sqs_batch(&json!({"Records": []})).is_none());
    }

    #[test]
    fn an_invocation_record_is_opened_and_a_bare_event_kept() {
        let event = json!({"source": "aws.ec2", "detail": {"eventName": "X"}});
        let record = json!({"requestContext": {"requestId": "r"}, "requestPayload": event});
        let (opened, origin) = unwrap_message(message(&record.to_string()), "m-1");
        assert_eq!(opened, event);
        assert_eq!(origin.file, "sqs:m-1");
        let (bare, _) = unwrap_message(message(&event.to_string()), "m-1");
        assert_eq!(bare, event);
        // A `requestPayload` without Lambda's context is not an invocation record.
        let forged = json!({"requestPayload": event});
        let (kept, _) = unwrap_message(message(&forged.to_string()), "m-1");
        assert_eq!(kept, forged);
        let (text, _) = unwrap_message(message("not json"), "m-1");
        assert_eq!(text, json!("not json"));
    }
}
