//! The container shapes a user feeds sgguard: EventBridge envelopes, bare CloudTrail
//! records and CloudTrail log files (`{"Records": [...]}`). Reading files, gzip and
//! JSON Lines is the caller's job; this splits one parsed document into records.

use serde_json::Value;

use crate::error::Error;

/// Splits one JSON document into the CloudTrail records it holds, in order.
///
/// An EventBridge envelope is recognized by its `detail` object (the `detail-type` is not
/// required: sanitized samples replace it); the envelope's `region` and `account` fill in
/// a record that lacks `awsRegion` or `recipientAccountId`.
pub fn records(document: Value) -> Result<Vec<Value>, Error> {
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

/// Returns the CloudTrail record inside an EventBridge envelope, or the value itself.
pub fn unwrap_envelope(value: Value) -> Value {
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
