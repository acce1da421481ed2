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

/// Whether `payload` is a batch from the retry queue: a `Records` list from `aws:sqs` (a
/// CloudTrail log file has `Records` too, of another shape).
pub fn is_sqs_batch(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| {
            !records.is_empty()
                && records
                    .iter()
                    .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        })
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
        let (event, origin) = match unwrap_message(message, &id) {
            Ok(opened) => opened,
            Err(problem) => {
                // Kept on the queue (and so, in the end, in the dead-letter queue) for a person.
                tracing::warn!(message_id = %id, %problem, "message not handled");
                fail(id);
                continue;
            }
        };
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
/// recorded `invalid`. An invocation record without its payload (Lambda drops a payload too
/// large for the destination) is an error: its event is lost to sgguard, and the message
/// must reach a person.
fn unwrap_message(message: SqsMessage, id: &str) -> Result<(Value, Origin), String> {
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
            None if object.contains_key("requestContext") => {
                let request = object
                    .get("requestContext")
                    .and_then(|c| c.get("requestId"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown");
                return Err(format!(
                    "Lambda's invocation record of request {request} has no requestPayload (dropped as too large?): the event must be found in CloudTrail"
                ));
            }
            None => Value::Object(object),
        },
        Ok(other) => other,
        Err(_) => Value::String(body),
    };
    Ok((event, origin))
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
        assert!(is_sqs_batch(&batch));
        assert_eq!(
            serde_json::from_value::<SqsEvent>(batch)
                .unwrap()
                .records
                .len(),
            1
        );
        let log_file = json!({"Records": [{"eventName": "AuthorizeSecurityGroupIngress"}]});
        assert!(!is_sqs_batch(&log_file));
        let mixed = json!({"Records": [
            {"messageId": "m-1", "body": "{}", "eventSource": "aws:sqs"},
            {"eventName": "AuthorizeSecurityGroupIngress"}
        ]});
        assert!(!is_sqs_batch(&mixed));
        assert!(!is_sqs_batch(&json!({"Records": []})));
        let unreadable = json!({"Records": [{"messageId": 7, "eventSource": "aws:sqs"}]});
        assert!(is_sqs_batch(&unreadable));
        assert!(
            serde_json::from_value::<SqsEvent>(unreadable).is_err(),
            "an unreadable batch is an error"
        );
    }

    #[test]
    fn an_invocation_record_is_opened_and_a_bare_event_kept() {
        let event = json!({"source": "aws.ec2", "detail": {"eventName": "X"}});
        let record = json!({"requestContext": {"requestId": "r"}, "requestPayload": event});
        let (opened, origin) = unwrap_message(message(&record.to_string()), "m-1").unwrap();
        assert_eq!(opened, event);
        assert_eq!(origin.file, "sqs:m-1");
        let (bare, _) = unwrap_message(message(&event.to_string()), "m-1").unwrap();
        assert_eq!(bare, event);
        // A `requestPayload` without Lambda's context is not an invocation record.
        let forged = json!({"requestPayload": event});
        let (kept, _) = unwrap_message(message(&forged.to_string()), "m-1").unwrap();
        assert_eq!(kept, forged);
        let (text, _) = unwrap_message(message("not json"), "m-1").unwrap();
        assert_eq!(text, json!("not json"));
        // Lambda's record without its payload: the message must not be acknowledged.
        let dropped = json!({"requestContext": {"requestId": "r-9"}, "responseContext": {}});
        let problem = unwrap_message(message(&dropped.to_string()), "m-1").unwrap_err();
        assert!(
            problem.contains("r-9") && problem.contains("requestPayload"),
            "{problem}"
        );
    }
}
