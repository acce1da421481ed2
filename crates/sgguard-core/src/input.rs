//! The container shapes a user feeds sgguard: EventBridge envelopes, bare CloudTrail
//! records, CloudTrail log files (`{"Records": [...]}`) and Lambda invocation records (what
//! the deployed function's OnFailure destination keeps in the dead-letter queue, the event
//! in `requestPayload`), so a dead-lettered event can be fed back. Reading files, gzip and
//! JSON Lines is the caller's job; this splits one parsed document into records.

use serde_json::Value;

use crate::error::Error;

/// The `source` of EventBridge events that EC2 emits through CloudTrail. EventBridge lets no
/// one else put `aws.*` events on a bus, which is what makes an envelope authentic.
pub const EC2_SOURCE: &str = "aws.ec2";
/// The `detail-type` of CloudTrail management events on EventBridge.
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// One CloudTrail record as it was delivered: bare, or inside an EventBridge envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The CloudTrail record. Inside an envelope, a record lacking `awsRegion` or
    /// `recipientAccountId` has them filled in from the envelope.
    pub record: Value,
    pub envelope: Option<Envelope>,
}

/// What an EventBridge envelope said about the record it carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub id: Option<String>,
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub account: Option<String>,
    /// The record's own `recipientAccountId`, before anything was filled in.
    pub recipient_account: Option<String>,
}

/// Splits one JSON document into the records it holds, in order, each with its envelope.
///
/// An EventBridge envelope is recognized by its `detail` object (the `detail-type` is not
/// required here: sanitized samples replace it; [`authenticate`] is the check that matters).
pub fn deliveries(document: Value) -> Result<Vec<Delivery>, Error> {
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

/// The CloudTrail records in one document, without their envelopes.
pub fn records(document: Value) -> Result<Vec<Value>, Error> {
    Ok(deliveries(document)?
        .into_iter()
        .map(|d| d.record)
        .collect())
}

/// The event inside a Lambda asynchronous invocation record (`requestContext` beside
/// `requestPayload`), or the value itself.
pub fn unwrap_invocation_record(value: Value) -> Value {
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

/// The CloudTrail record inside an EventBridge envelope (or inside a Lambda invocation
/// record holding one) with what the envelope said, or a bare record.
pub fn unwrap_envelope(value: Value) -> Delivery {
    let value = unwrap_invocation_record(value);
    let Value::Object(mut envelope) = value else {
        return Delivery {
            record: value,
            envelope: None,
        };
    };
    let facts = envelope_facts(&envelope);
    match envelope.remove("detail") {
        Some(Value::Object(mut detail)) => {
            for (from, to) in [("region", "awsRegion"), ("account", "recipientAccountId")] {
                let missing = detail.get(to).is_none_or(Value::is_null);
                if let (true, Some(v)) = (missing, envelope.get(from)) {
                    detail.insert(to.to_owned(), v.clone());
                }
            }
            Delivery {
                record: Value::Object(detail),
                envelope: facts,
            }
        }
        Some(other) => {
            envelope.insert("detail".into(), other);
            Delivery {
                record: Value::Object(envelope),
                envelope: None,
            }
        }
        None => Delivery {
            record: Value::Object(envelope),
            envelope: None,
        },
    }
}

/// What an envelope (a JSON object with a `detail` object) says, read without copying it.
fn envelope_facts(envelope: &serde_json::Map<String, Value>) -> Option<Envelope> {
    let detail = envelope.get("detail").and_then(Value::as_object)?;
    let text = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_number().map(ToString::to_string))
        })
    };
    Some(Envelope {
        id: text(envelope.get("id")),
        source: text(envelope.get("source")),
        detail_type: text(envelope.get("detail-type")),
        account: text(envelope.get("account")),
        recipient_account: text(detail.get("recipientAccountId")),
    })
}

/// [`authenticate`] on a payload as it arrived, before it is unwrapped (and without copying
/// it), so a refused payload can be kept exactly as received.
pub fn authenticate_payload(payload: &Value) -> Result<(), String> {
    // The same object [`unwrap_envelope`] will hand on: inside an invocation record, its
    // `requestPayload`, never the outer fields beside it.
    let inner = match payload.as_object() {
        Some(map) if map.contains_key("requestContext") => {
            map.get("requestPayload").unwrap_or(payload)
        }
        _ => payload,
    };
    let envelope = inner.as_object().and_then(envelope_facts);
    let record = inner.get("detail").unwrap_or(inner);
    check(envelope.as_ref(), record)
}

/// Whether a delivery is what AWS itself said: an EventBridge envelope from `aws.ec2` of
/// type `AWS API Call via CloudTrail`, holding an `ec2.amazonaws.com` record whose
/// `recipientAccountId` is the envelope's `account`. Only such deliveries may lead to an
/// action; the error names what failed.
pub fn authenticate(delivery: &Delivery) -> Result<(), String> {
    check(delivery.envelope.as_ref(), &delivery.record)
}

fn check(envelope: Option<&Envelope>, record: &Value) -> Result<(), String> {
    let Some(envelope) = envelope else {
        return Err("a bare CloudTrail record, not an EventBridge envelope; only events that EventBridge delivered from aws.ec2 are acted on".into());
    };
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(missing)".into());
    if envelope.source.as_deref() != Some(EC2_SOURCE) {
        return Err(format!(
            "envelope `source` is `{}`, not `{EC2_SOURCE}`",
            shown(&envelope.source)
        ));
    }
    if envelope.detail_type.as_deref() != Some(CLOUDTRAIL_DETAIL_TYPE) {
        return Err(format!(
            "envelope `detail-type` is `{}`, not `{CLOUDTRAIL_DETAIL_TYPE}`",
            shown(&envelope.detail_type)
        ));
    }
    let event_source = record.get("eventSource").and_then(Value::as_str);
    if event_source != Some("ec2.amazonaws.com") {
        return Err(format!(
            "`detail.eventSource` is `{}`, not `ec2.amazonaws.com`",
            event_source.unwrap_or("(missing)")
        ));
    }
    // An empty account is no account: `normalize` reads an empty `recipientAccountId` as
    // missing and takes the caller's account instead, which nothing here authenticated.
    let present = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    match (
        present(&envelope.account),
        present(&envelope.recipient_account),
    ) {
        (Some(account), Some(recipient)) if account == recipient => Ok(()),
        (account, recipient) => Err(format!(
            "envelope `account` `{}` does not match `detail.recipientAccountId` `{}`",
            shown(&account),
            shown(&recipient)
        )),
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
    use serde_json::json;

    use super::*;

    fn envelope() -> Value {
        json!({
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
            "account": "111122223333", "region": "eu-west-1",
            "detail": {"eventName": "AuthorizeSecurityGroupIngress", "eventID": "e-1",
                       "eventSource": "ec2.amazonaws.com", "recipientAccountId": "111122223333"}
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
        let delivered = deliveries(failed.clone()).unwrap();
        assert_eq!(authenticate(&delivered[0]), Ok(()));
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
    fn only_what_aws_said_is_authentic() {
        let authentic = envelope();
        let check = |value: Value| {
            let early = authenticate_payload(&value);
            let late = authenticate(&unwrap_envelope(value));
            assert_eq!(early, late, "both checks agree");
            late
        };
        assert_eq!(check(authentic.clone()), Ok(()));
        let bare = authentic["detail"].clone();
        assert!(check(bare).unwrap_err().contains("bare CloudTrail record"));
        let mut forged = authentic.clone();
        forged["source"] = json!("custom.app");
        assert!(
            check(forged)
                .unwrap_err()
                .contains("`source` is `custom.app`")
        );
        let mut typed = authentic.clone();
        typed["detail-type"] = json!("Scheduled Event");
        assert!(check(typed).unwrap_err().contains("`detail-type`"));
        let mut other_service = authentic.clone();
        other_service["detail"]["eventSource"] = json!("iam.amazonaws.com");
        assert!(
            check(other_service)
                .unwrap_err()
                .contains("`detail.eventSource` is `iam.amazonaws.com`")
        );
        let mut elsewhere = authentic.clone();
        elsewhere["account"] = json!("999988887777");
        let err = check(elsewhere).unwrap_err();
        assert!(
            err.contains("999988887777") && err.contains("111122223333"),
            "{err}"
        );
        // A record without its own account is not made authentic by the envelope's.
        let mut filled = authentic;
        filled["detail"]
            .as_object_mut()
            .unwrap()
            .remove("recipientAccountId");
        assert!(check(filled).unwrap_err().contains("(missing)"));
    }

    #[test]
    fn an_empty_account_is_not_authentic() {
        // Found by the fuzz target: empty on both sides matched, yet `normalize` reads an
        // empty `recipientAccountId` as missing and judges the event in the caller's account.
        let mut empty = envelope();
        empty["account"] = json!("");
        empty["detail"]["recipientAccountId"] = json!("");
        empty["detail"]["userIdentity"] = json!({"type": "IAMUser", "accountId": "444455556666",
            "arn": "arn:aws:iam::444455556666:user/mallory"});
        let err = authenticate_payload(&empty).unwrap_err();
        assert_eq!(
            err,
            "envelope `account` `(missing)` does not match `detail.recipientAccountId` `(missing)`"
        );
        assert_eq!(authenticate(&unwrap_envelope(empty)), Err(err));
    }

    #[test]
    fn the_object_checked_is_the_object_processed() {
        // Authentic-looking outer fields around an invocation record that carries a bare
        // record: what would be processed is the bare record, so it is refused.
        let mut smuggled = envelope();
        let bare = smuggled["detail"].clone();
        smuggled["requestContext"] = json!({});
        smuggled["requestPayload"] = bare;
        assert!(
            authenticate_payload(&smuggled)
                .unwrap_err()
                .contains("bare CloudTrail record")
        );
        assert!(authenticate(&unwrap_envelope(smuggled)).is_err());
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
