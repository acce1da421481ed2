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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Outcome, allowlist_error: Option<&str>) -> EventReport {
        let mut report = sgguard_responder::invalid_report(
            &json!({"eventID": "e-1"}),
            None,
            "the test's reason",
        );
        report.outcome = outcome;
        report.allowlist_error = allowlist_error.map(str::to_owned);
        report
    }

    fn counts(document: &Value) -> Vec<(&'static str, u64)> {
        std::iter::once(EVENTS)
            .chain(ALARMED_METRICS)
            .map(|name| (name, document[name].as_u64().unwrap()))
            .collect()
    }

    #[test]
    fn each_silent_stop_counts_in_its_own_metric() {
        let cases = [
            (Outcome::Invalid, None, INVALID_EVENTS),
            (Outcome::Incomplete, None, INCOMPLETE_EVENTS),
            (Outcome::RevertFailed, None, REVERT_FAILED),
            (
                Outcome::Flagged,
                Some("table `t`: `bad`: unknown field"),
                ALLOWLIST_UNUSABLE,
            ),
        ];
        for (outcome, error, metric) in cases {
            let document = event_metrics(&report(outcome, error), 1_764_670_000_000);
            for (name, count) in counts(&document) {
                let expected = u64::from(name == EVENTS || name == metric);
                assert_eq!(count, expected, "{name} for {outcome}");
            }
            assert_eq!(document["Outcome"], outcome.as_str());
            assert_eq!(document["EventId"], "e-1");
        }
        let quiet = event_metrics(&report(Outcome::Approved, None), 0);
        assert_eq!(
            counts(&quiet),
            vec![
                (EVENTS, 1),
                (INVALID_EVENTS, 0),
                (INCOMPLETE_EVENTS, 0),
                (ALLOWLIST_UNUSABLE, 0),
                (REVERT_FAILED, 0)
            ]
        );
    }

    #[test]
    fn the_document_declares_every_metric_without_dimensions() {
        let document = event_metrics(&report(Outcome::Invalid, None), 1_764_670_000_000);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(document["_aws"]["Timestamp"], 1_764_670_000_000_i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([[]]));
        let declared: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            vec![
                EVENTS,
                INVALID_EVENTS,
                INCOMPLETE_EVENTS,
                ALLOWLIST_UNUSABLE,
                REVERT_FAILED
            ]
        );
    }

    #[test]
    fn an_allowlist_error_is_named_and_cannot_break_the_line() {
        let hostile = "item `x`\n{\"_aws\": {}, \"RevertFailed\": 0}";
        let document = event_metrics(&report(Outcome::Flagged, Some(hostile)), 0);
        let line = document.to_string();
        assert!(!line.contains('\n'), "one line: {line}");
        let read: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(read["AllowlistError"], hostile);
        assert_eq!(read[ALLOWLIST_UNUSABLE], 1);
        assert_eq!(read[REVERT_FAILED], 0);
    }
}
