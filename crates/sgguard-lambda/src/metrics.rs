//! CloudWatch metrics as Embedded Metric Format log lines: one JSON object per handled
//! event on stdout, which CloudWatch Logs turns into metrics with no API call (and so no
//! extra latency, permission or failure mode on the event path).
//!
//! The template alarms on every name in [`ALARMED_METRICS`]; a system test holds the two
//! together.

use serde_json::{Value, json};
use sgguard_core::Outcome;
use sgguard_responder::EventReport;

/// The CloudWatch namespace of every sgguard metric.
pub const NAMESPACE: &str = "sgguard";

/// Every event handled (any outcome). Not alarmed: it is the denominator.
pub const EVENTS: &str = "Events";
/// Events kept as `invalid`: forged, malformed, or not an authentic EventBridge envelope.
pub const INVALID_EVENTS: &str = "InvalidEvents";
/// Events ended `incomplete`: CloudTrail omitted the elements needed to judge them.
pub const INCOMPLETE_EVENTS: &str = "IncompleteEvents";
/// Events judged while the allowlist could not be used: nothing could be reverted.
pub const ALLOWLIST_UNUSABLE: &str = "AllowlistUnusable";
/// Events with a revert that failed for good (a refused member role, say).
pub const REVERT_FAILED: &str = "RevertFailed";

/// The metrics the template alarms on, each meaning a person must look.
pub const ALARMED_METRICS: [&str; 4] = [
    INVALID_EVENTS,
    INCOMPLETE_EVENTS,
    ALLOWLIST_UNUSABLE,
    REVERT_FAILED,
];

/// The EMF document for one handled event. `timestamp_ms` is the Unix time in
/// milliseconds (EMF requires it); the event's id, outcome and any allowlist error ride
/// along as properties, so a log search finds the event behind a metric.
pub fn event_metrics(report: &EventReport, timestamp_ms: i64) -> Value {
    let count = |hit: bool| u8::from(hit);
    let metrics: Vec<Value> = std::iter::once(EVENTS)
        .chain(ALARMED_METRICS)
        .map(|name| json!({ "Name": name, "Unit": "Count" }))
        .collect();
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": metrics,
            }],
        },
        EVENTS: 1,
        INVALID_EVENTS: count(report.outcome == Outcome::Invalid),
        INCOMPLETE_EVENTS: count(report.outcome == Outcome::Incomplete),
        ALLOWLIST_UNUSABLE: count(report.allowlist_error.is_some()),
        REVERT_FAILED: count(report.outcome == Outcome::RevertFailed),
        "Outcome": report.outcome.as_str(),
    });
    if let Some(object) = document.as_object_mut() {
        if let Some(id) = &report.event_id {
            object.insert("EventId".into(), json!(id));
        }
        if let Some(error) = &report.allowlist_error {
            object.insert("AllowlistError".into(), json!(error));
        }
    }
    document
}

/// Writes the EMF line for `report` to stdout, where the Lambda's log stream picks it up.
pub fn emit(report: &EventReport) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // One `println!` is one line: the serializer never emits a raw newline.
    println!("{}", event_metrics(report, now_ms));
}
