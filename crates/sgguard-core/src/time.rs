//! Lenient timestamps: CloudTrail writes RFC 3339, some exporters write `YYYY-MM-DD HH:MM:SS.fff`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses an event time as CloudTrail or a log pipeline wrote it; naive times are UTC.
pub fn parse_event_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
        .map(|naive| naive.and_utc())
}

/// Formats a time the way every sgguard record stores it: RFC 3339, UTC, whole seconds.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 time, or a duration relative to `now` (`7d`, `12h`, `30m`): `past`
/// selects whether the duration points back (`--since 7d`) or ahead (`--expires 72h`).
pub fn parse_time_or_duration(text: &str, now: DateTime<Utc>, past: bool) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_event_time(text) {
        return Some(t);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    let duration = humantime::parse_duration(text.trim()).ok()?;
    let delta = chrono::Duration::from_std(duration).ok()?;
    if past {
        now.checked_sub_signed(delta)
    } else {
        now.checked_add_signed(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_exporter_forms() {
        let a = parse_event_time("2021-01-24T04:55:45Z");
        let b = parse_event_time("2021-01-24 04:55:45.000");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_eq!(parse_event_time("yesterday"), None);
    }

    #[test]
    fn relative_durations_point_back_or_ahead() {
        let now = parse_event_time("2026-11-26T00:00:00Z").unwrap_or_default();
        let back = parse_time_or_duration("7d", now, true).map(|t| format_time(&t));
        let ahead = parse_time_or_duration("72h", now, false).map(|t| format_time(&t));
        assert_eq!(back.as_deref(), Some("2026-11-19T00:00:00Z"));
        assert_eq!(ahead.as_deref(), Some("2026-11-29T00:00:00Z"));
        let date = parse_time_or_duration("2027-01-31", now, false).map(|t| format_time(&t));
        assert_eq!(date.as_deref(), Some("2027-01-31T00:00:00Z"));
        assert_eq!(parse_time_or_duration("soon", now, true), None);
    }
}
