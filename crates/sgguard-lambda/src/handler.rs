//! One invocation in: an EventBridge event (one [`EventReport`] out) or a batch from the
//! retry queue (the messages to deliver again out). Errors say whether a retry can help.

use std::time::Instant;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::Diagnostic;
use serde::Deserialize;
use serde_json::Value;
use sgguard_core::input;
use sgguard_responder::{
    AllowlistStore, AuditLog, EventReport, Origin, Remediator, Responder, error_chain,
};

/// Why an invocation failed. The `Diagnostic` error type tells operators (and the
/// dead-letter queue's readers) whether redelivery can succeed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A store or EC2 outage, throttling: the event stays pending and a retry resumes it.
    #[error("retryable")]
    Retryable(#[source] sgguard_responder::Error),
    /// Neither processable nor recordable; redelivery will not help.
    #[error("not retryable")]
    NonRetryable(#[source] sgguard_responder::Error),
    /// The answer could not be written as JSON.
    #[error("cannot write the answer")]
    Output(#[source] serde_json::Error),
    /// A batch from the retry queue that cannot be read: every message stays on the queue.
    #[error("cannot read the batch from the retry queue")]
    Batch(#[source] serde_json::Error),
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match &err {
            HandlerError::Retryable(_) => "Retryable",
            HandlerError::NonRetryable(_) | HandlerError::Output(_) | HandlerError::Batch(_) => {
                "NonRetryable"
            }
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error_chain(&err),
        }
    }
}

/// Handles one invocation within its `deadline` (from the Runtime API): a batch from the
/// retry queue answers `{"batchItemFailures": [...]}`, anything else is one event and
/// answers its report.
pub async fn handle_invocation<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    payload: Value,
    deadline: Option<Instant>,
) -> Result<Value, HandlerError> {
    if crate::batch::is_sqs_batch(&payload) {
        // A batch that cannot be read is an error, never an event: every message stays on
        // the queue. The payload is moved into it, not copied.
        let batch = serde_json::from_value(payload).map_err(HandlerError::Batch)?;
        // Boxed: the pipeline's future is deep, and a batch would nest it once more.
        let response = Box::pin(crate::batch::handle_batch(responder, batch, deadline)).await;
        return serde_json::to_value(response).map_err(HandlerError::Output);
    }
    let origin = origin_of(&payload);
    let report = Box::pin(handle_from(responder, payload, origin, deadline)).await?;
    serde_json::to_value(report).map_err(HandlerError::Output)
}

/// Handles one invocation payload with no time budget. See [`handle_from`].
pub async fn handle<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    payload: Value,
) -> Result<EventReport, HandlerError> {
    let origin = origin_of(&payload);
    handle_from(responder, payload, origin, None).await
}

/// Handles one event, from a direct delivery or a retry-queue message alike. Only an
/// authentic EventBridge envelope (from `aws.ec2`, a CloudTrail API call, its account
/// matching the record's) is acted on: anything else, a bare record included, is kept as
/// `invalid` with what failed, and nothing is done. Every report is also a metric line
/// ([`crate::metrics`]). The payload (up to 256 KB) is moved, never copied.
pub async fn handle_from<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    payload: Value,
    origin: Origin,
    deadline: Option<Instant>,
) -> Result<EventReport, HandlerError> {
    let report = handle_event(responder, payload, origin, deadline).await?;
    crate::metrics::emit(&report);
    Ok(report)
}

async fn handle_event<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    payload: Value,
    origin: Origin,
    deadline: Option<Instant>,
) -> Result<EventReport, HandlerError> {
    if let Some(problem) = shape_problem(&payload) {
        return keep_invalid(responder, payload, origin, problem).await;
    }
    if let Err(problem) = input::authenticate_payload(&payload) {
        let problem = format!("not an authentic event, nothing done: {problem}");
        return keep_invalid(responder, payload, origin, problem).await;
    }
    let record = input::unwrap_envelope(payload).record;
    let report = responder.handle_until(&record, Some(origin), deadline).await.map_err(|e| {
        tracing::warn!(error = %error_chain(&e), retryable = e.is_retryable(), "event not finished");
        if e.is_retryable() {
            HandlerError::Retryable(e)
        } else {
            HandlerError::NonRetryable(e)
        }
    })?;
    tracing::info!(event_id = ?report.event_id, outcome = %report.outcome, reason = %report.reason, "event handled");
    Ok(report)
}

/// Why a payload is not one CloudTrail record (in an envelope or bare), if it is not; a bare
/// record then fails [`input::authenticate_payload`].
fn shape_problem(payload: &Value) -> Option<String> {
    let record = match payload.get("detail") {
        Some(detail) => detail,
        None => payload,
    };
    if payload.get("Records").is_some() {
        Some("expected one EventBridge event, found a CloudTrail log file (`Records`)".into())
    } else if !record.is_object() {
        Some("expected a JSON object with a CloudTrail record".into())
    } else if record.get("eventName").is_none() {
        Some("not a CloudTrail record: `eventName` is missing".into())
    } else {
        None
    }
}

async fn keep_invalid<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    payload: Value,
    origin: Origin,
    error: String,
) -> Result<EventReport, HandlerError> {
    tracing::warn!(%error, "invalid event");
    responder
        .keep_invalid(payload, Some(origin), error)
        .await
        .map_err(|e| {
            if e.is_retryable() {
                HandlerError::Retryable(e)
            } else {
                HandlerError::NonRetryable(e)
            }
        })
}

/// Where a direct delivery came from, for an `invalid` record to name it.
fn origin_of(payload: &Value) -> Origin {
    Origin {
        file: envelope_label(payload),
        index: 0,
    }
}

/// `eventbridge:<id>` for an EventBridge envelope, so an invalid record names its delivery.
fn envelope_label(payload: &Value) -> String {
    match EventBridgeEvent::<Skipped>::deserialize(payload) {
        Ok(event) => format!(
            "eventbridge:{}",
            event.id.unwrap_or_else(|| "unknown".into())
        ),
        Err(_) => "lambda-payload".into(),
    }
}

/// A `detail` that is read past, not copied: only the envelope's id is wanted here.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Skipped)
    }
}

#[cfg(test)]
mod tests {
    use sgguard_responder::PortError;

    use super::*;

    #[test]
    fn the_error_message_names_each_cause_once() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error: Connection refused",
        );
        let err = HandlerError::Retryable(sgguard_responder::Error::Audit(PortError::retryable(
            refused,
        )));
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "Retryable");
        assert_eq!(
            diagnostic.error_message,
            "retryable: audit log: tcp connect error: Connection refused"
        );
        let setting = sgguard_responder::Error::Setting {
            name: "SGGUARD_MODE",
            message: "`x` is not a mode (audit, enforce)".into(),
        };
        let diagnostic = Diagnostic::from(HandlerError::NonRetryable(setting));
        assert_eq!(
            diagnostic.error_message,
            "not retryable: environment variable `SGGUARD_MODE`: `x` is not a mode (audit, enforce)"
        );
    }
}
