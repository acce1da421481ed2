//! One EventBridge event in, one [`EventReport`] out. Errors say whether a retry can help.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::Diagnostic;
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
    #[error("retryable: {0}")]
    Retryable(#[source] sgguard_responder::Error),
    /// Neither processable nor recordable; redelivery will not help.
    #[error("not retryable: {0}")]
    NonRetryable(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match &err {
            HandlerError::Retryable(_) => "Retryable",
            HandlerError::NonRetryable(_) => "NonRetryable",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error_chain(&err),
        }
    }
}

/// Handles one invocation payload: an EventBridge envelope (or, for manual test invokes,
/// a bare CloudTrail record).
pub async fn handle<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    payload: Value,
) -> Result<EventReport, HandlerError> {
    let origin = Origin {
        file: envelope_label(&payload),
        index: 0,
    };
    let records = match input::records(payload.clone()) {
        Ok(records) if records.len() == 1 => records,
        Ok(records) => {
            return keep_invalid(
                responder,
                payload,
                origin,
                format!(
                    "expected one CloudTrail record per event, found {}",
                    records.len()
                ),
            )
            .await;
        }
        Err(err) => return keep_invalid(responder, payload, origin, err.to_string()).await,
    };
    let mut report = None;
    for record in records {
        let result = responder.handle(&record, Some(origin.clone())).await;
        report = Some(result.map_err(|e| {
            tracing::warn!(error = %e, retryable = e.is_retryable(), "event not finished");
            if e.is_retryable() {
                HandlerError::Retryable(e)
            } else {
                HandlerError::NonRetryable(e.to_string())
            }
        })?);
    }
    let report =
        report.ok_or_else(|| HandlerError::NonRetryable("no record in the event".into()))?;
    tracing::info!(event_id = ?report.event_id, outcome = %report.outcome, reason = %report.reason, "event handled");
    Ok(report)
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
                HandlerError::NonRetryable(e.to_string())
            }
        })
}

/// `eventbridge:<id>` for an EventBridge envelope, so an invalid record names its delivery.
fn envelope_label(payload: &Value) -> String {
    match serde_json::from_value::<EventBridgeEvent<Value>>(payload.clone()) {
        Ok(event) => format!(
            "eventbridge:{}",
            event.id.unwrap_or_else(|| "unknown".into())
        ),
        Err(_) => "lambda-payload".into(),
    }
}
