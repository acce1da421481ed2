//! The container shapes a user feeds sgguard: EventBridge envelopes, bare CloudTrail
//! records, CloudTrail log files (`{"Records": [...]}`) and Lambda invocation records (what
//! the deployed function's OnFailure destination keeps in the dead-letter queue, the event
//! in `requestPayload`), so a dead-lettered event can be fed back. Reading files, gzip and
//! JSON Lines is the caller's job; this splits one parsed document into records.

use serde_json::Value;

use crate::error::Error;

/// Splits one JSON document into the CloudTrail records it holds, in order.
///
/// An EventBridge envelope is recognized by its `detail` object (the `detail-type` is not
/// required: sanitized samples replace it); the envelope's `region` and `account` fill in
/// a record that lacks `awsRegion` or `recipientAccountId`.
pub fn records(document: Value) -> Result<Vec<Value>, Error> {
    let document = unwrap_invocation_record(document);
    match document {
        Value::Object(mut map) => {
            if let Some(records) = map.remove("Records") {
                return match records {
                    Value::Array(records) => Ok(records.into_iter().map(unwrap_envelope).collect()),
                    _ => Err(Error::UnknownShape {
                        message: "`Records` is not an array".into(),
                    }),
                };
            }
            let document = Value::Object(map);
            if document.get("detail").is_some_and(Value::is_object)
                || document.get("eventName").is_some()
                || document.get("eventID").is_some()
            {
                Ok(vec![unwrap_envelope(document)])
            } else {
                Err(Error::UnknownShape {
                    message: "expected an EventBridge envelope (`detail`), a CloudTrail record (`eventName`) or a log file (`Records`)".into(),
                })
            }
        }
        Value::Array(items) => Ok(items.into_iter().map(unwrap_envelope).collect()),
        other => Err(Error::UnknownShape {
            message: format!("expected a JSON object, found {}", kind(&other)),
        }),
    }
}

/// The event inside a Lambda asynchronous invocation record (`requestContext` beside
/// `requestPayload`), or the value itself.
fn unwrap_invocation_record(value: Value) -> Value {
    match value {
        Value::Object(mut map) if map.contains_key("requestContext") => {
            match map.remove("requestPayload") {
                Some(payload) => payload,
                None => Value::Object(map),
            }
        }
        other => other,
    }
}

/// Returns the CloudTrail record inside an EventBridge envelope (or inside a Lambda
/// invocation record holding one), or the value itself.
pub fn unwrap_envelope(value: Value) -> Value {
    let value = unwrap_invocation_record(value);
    let Value::Object(mut envelope) = value else {
        return value;
    };
    match envelope.remove("detail") {
        Some(Value::Object(mut detail)) => {
            for (from, to) in [("region", "awsRegion"), ("account", "recipientAccountId")] {
                let missing = detail.get(to).is_none_or(Value::is_null);
                if let (true, Some(v)) = (missing, envelope.get(from)) {
                    detail.insert(to.to_owned(), v.clone());
                }
            }
            Value::Object(detail)
        }
        Some(other) => {
            envelope.insert("detail".into(), other);
            Value::Object(envelope)
        }
        None => Value::Object(envelope),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn envelope() -> Value {
        json!({
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
            "account": "111122223333", "region": "eu-west-1",
            "detail": {"eventName": "AuthorizeSecurityGroupIngress", "eventID": "e-1"}
        })
    }

    #[test]
    fn a_dead_lettered_invocation_gives_back_its_event() {
        let failed = json!({
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": envelope(),
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorType": "Retryable", "errorMessage": "throttled"}
        });
        let found = records(failed.clone()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["eventID"], "e-1");
        assert_eq!(found[0]["awsRegion"], "eu-west-1");
        assert_eq!(found[0]["recipientAccountId"], "111122223333");
        // A JSON array of them, as a queue dump holds.
        let many = records(json!([failed.clone(), failed])).unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[1]["eventID"], "e-1");
    }

    #[test]
    fn an_invocation_record_without_payload_is_not_a_record() {
        let err = records(json!({"requestContext": {}})).unwrap_err();
        assert!(
            err.to_string().contains("expected an EventBridge envelope"),
            "{err}"
        );
    }
}
