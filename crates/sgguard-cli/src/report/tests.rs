use chrono::{DateTime, Utc};
use sgguard_core::time::parse_event_time;
use sgguard_core::{Action, ChangeKind, Direction, Outcome, RiskLevel, SourceKind};
use sgguard_responder::{ChangeReport, EventReport};

use super::timeline::axis;
use super::*;

fn t(s: &str) -> DateTime<Utc> {
    parse_event_time(s).unwrap()
}

fn meta() -> ReportMeta {
    ReportMeta {
        since: t("2026-11-01T00:00:00Z"),
        until: t("2026-11-30T00:00:00Z"),
        store: "sqlite:sgguard.db".to_owned(),
        generated_at: t("2026-11-30T00:00:00Z"),
    }
}

fn change(risk: RiskLevel, action: Action) -> ChangeReport {
    ChangeReport {
        rule_id: Some("sgr-0123456789abcdef0".to_owned()),
        direction: Direction::Ingress,
        kind: ChangeKind::Added,
        protocol: Some("tcp".to_owned()),
        from_port: Some(22),
        to_port: Some(22),
        source: Some("0.0.0.0/0".to_owned()),
        source_kind: Some(SourceKind::CidrIpv4),
        description: Some("temp ssh".to_owned()),
        risk,
        risk_reasons: vec!["world-open IPv4 source 0.0.0.0/0".to_owned()],
        approved_by: None,
        closest_entry: Some("office-ssh (source: not inside)".to_owned()),
        action,
        remediation: None,
        note: None,
        restore_to: None,
    }
}

fn event(id: &str, time: &str, group: &str, actor: &str, outcome: Outcome) -> EventReport {
    let (risk, action) = match outcome {
        Outcome::WouldRevert => (RiskLevel::Critical, Action::WouldRevert),
        Outcome::Flagged => (RiskLevel::Medium, Action::Flagged),
        Outcome::Reverted => (RiskLevel::High, Action::Reverted),
        Outcome::Restored => (RiskLevel::Critical, Action::Restored),
        _ => (RiskLevel::Low, Action::None),
    };
    let mut c = change(risk, action);
    if outcome == Outcome::Approved {
        c.approved_by = Some("office-ssh".to_owned());
        c.closest_entry = None;
    }
    if matches!(outcome, Outcome::Reverted | Outcome::Restored) {
        c.remediation =
            Some("revoked ingress sgr-0123456789abcdef0 by rule id; confirmed gone".to_owned());
    }
    EventReport {
        event_id: Some(id.to_owned()),
        event_name: Some("AuthorizeSecurityGroupIngress".to_owned()),
        event_time: Some(time.to_owned()),
        account: Some("111122223333".to_owned()),
        region: Some("eu-west-1".to_owned()),
        group_id: Some(group.to_owned()),
        group_name: None,
        prefix_list_id: None,
        actor: Some(actor.to_owned()),
        principal: Some(actor.to_owned()),
        source_ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("aws-cli/2.22.35 md/awscrt#0.23.8".to_owned()),
        outcome,
        reason: "test".to_owned(),
        changes: vec![c],
        allowlist_error: None,
        origin: None,
    }
}

/// The `data-count` of the element with this id.
fn count(html: &str, id: &str) -> usize {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element with id {id}"));
    let rest = &html[at..];
    let end = rest.find('>').unwrap();
    let tag = &rest[..end];
    let value = tag.split("data-count=\"").nth(1).unwrap();
    value[..value.find('"').unwrap()].parse().unwrap()
}

fn sample() -> Vec<EventReport> {
    let alice = "arn:aws:iam::111122223333:user/alice";
    let dave = "arn:aws:sts::111122223333:assumed-role/NetworkAdmin/dave";
    vec![
        event(
            "e1",
            "2026-11-20T09:15:02Z",
            "sg-1",
            alice,
            Outcome::WouldRevert,
        ),
        event(
            "e2",
            "2026-11-20T10:15:02Z",
            "sg-1",
            alice,
            Outcome::Flagged,
        ),
        event(
            "e3",
            "2026-11-21T09:15:02Z",
            "sg-2",
            dave,
            Outcome::Approved,
        ),
        event(
            "e4",
            "2026-11-22T09:15:02Z",
            "sg-3",
            dave,
            Outcome::Reverted,
        ),
        event(
            "e5",
            "2026-11-22T11:15:02Z",
            "sg-3",
            alice,
            Outcome::Restored,
        ),
        event(
            "e6",
            "2026-11-23T09:15:02Z",
            "sg-2",
            alice,
            Outcome::WouldRevert,
        ),
        event(
            "e7",
            "2026-11-23T10:00:00Z",
            "sg-4",
            dave,
            Outcome::Recorded,
        ),
    ]
}

#[test]
fn counts_by_outcome_actor_and_group() {
    let html = render_html(&meta(), &sample());
    assert_eq!(count(&html, "count-events"), 7);
    assert_eq!(count(&html, "count-changes"), 7);
    assert_eq!(count(&html, "count-outcome-would_revert"), 2);
    assert_eq!(count(&html, "count-outcome-flagged"), 1);
    assert_eq!(count(&html, "count-outcome-approved"), 1);
    assert_eq!(count(&html, "count-outcome-reverted"), 1);
    assert_eq!(count(&html, "count-outcome-restored"), 1);
    assert_eq!(count(&html, "count-outcome-recorded"), 1);
    assert_eq!(count(&html, "count-outcome-revert_failed"), 0);
    assert_eq!(count(&html, "count-unapproved-open"), 3);
    assert_eq!(count(&html, "count-open"), 3);
    assert_eq!(count(&html, "count-open-critical"), 2);
    assert_eq!(count(&html, "count-reverts"), 2);
    assert_eq!(count(&html, "count-reverted"), 2);
    assert_eq!(count(&html, "count-approved"), 1);
    assert_eq!(count(&html, "count-actors"), 2);
    assert_eq!(count(&html, "count-groups"), 4);
    assert_eq!(html.matches("class=\"actor-row\"").count(), 2);
    assert_eq!(html.matches("class=\"group-row\"").count(), 4);
    assert_eq!(html.matches("class=\"revert\"").count(), 2);
    // alice: 4 events, 4 unapproved (would_revert, flagged, restored, would_revert), 1 reverted.
    let alice = &html[html
        .find("data-actor=\"arn:aws:iam::111122223333:user/alice\"")
        .unwrap()..];
    let row = &alice[..alice.find("</tr>").unwrap()];
    let counts: Vec<&str> = row
        .split("data-count=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(counts, ["4", "4", "1"]);
    // The timeline's segments add up to the events.
    let segs: usize = html
        .split("class=\"seg\"")
        .skip(1)
        .map(|s| {
            let v = s.split("data-count=\"").nth(1).unwrap();
            v[..v.find('"').unwrap()].parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(segs, 7);
    assert!(html.contains("dataset.rendered=\"ok\""));
    assert!(html.contains("window.onerror"));
}

#[test]
fn findings_are_sorted_by_risk_then_newest() {
    let html = render_html(&meta(), &sample());
    let findings =
        &html[html.find("id=\"findings\"").unwrap()..html.find("id=\"actors\"").unwrap()];
    let order: Vec<&str> = findings
        .split("data-event-id=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    // Two criticals (newest first), then the medium flagged one.
    assert_eq!(order, ["e6", "e1", "e2"]);
}

#[test]
fn event_strings_are_escaped() {
    let mut e = event(
        "<script>alert(1)</script>",
        "2026-11-20T09:15:02Z",
        "sg-<b>x</b>",
        "arn:aws:sts::1:assumed-role/R/<script>alert('actor')</script>",
        Outcome::WouldRevert,
    );
    e.user_agent = Some("<script>alert(\"ua\")</script> \"quoted\" & 'single'".to_owned());
    e.source_ip = Some("<img src=x onerror=alert(1)>".to_owned());
    e.account = Some("<i>acct</i>".to_owned());
    e.changes[0].description = Some("</td><script>alert('desc')</script>".to_owned());
    e.changes[0].risk_reasons = vec!["<svg onload=alert(1)>".to_owned()];
    e.changes[0].closest_entry = Some("<b>entry</b> (x\"><script>)".to_owned());
    e.changes[0].rule_id = Some("sgr-<script>".to_owned());
    let mut reverted = e.clone();
    reverted.event_id = Some("r1".to_owned());
    reverted.outcome = Outcome::Reverted;
    reverted.changes[0].action = Action::Reverted;
    reverted.changes[0].remediation = Some("<script>alert('rem')</script>".to_owned());
    let m = ReportMeta {
        store: "sqlite:/tmp/<script>.db".to_owned(),
        ..meta()
    };
    let html = render_html(&m, &[e, reverted]);
    // Exactly the two scripts of the page itself, and no tag from an event.
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    for bad in [
        "<img",
        "<svg onload",
        "<b>entry",
        "<i>acct",
        "<b>x</b>",
        "\"quoted\"",
    ] {
        assert!(!html.contains(bad), "unescaped {bad}");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&quot;ua&quot;)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&#39;rem&#39;)&lt;/script&gt;"));
    assert!(html.contains("sqlite:/tmp/&lt;script&gt;.db"));
}

#[test]
fn an_empty_window_renders_a_friendly_page() {
    let html = render_html(&meta(), &[]);
    assert!(html.contains("id=\"no-changes\""));
    assert!(html.contains("No changes in this window"));
    assert_eq!(count(&html, "count-events"), 0);
    assert_eq!(count(&html, "count-outcome-would_revert"), 0);
    assert!(!html.contains("<svg"));
    assert!(!html.contains("<table"));
    assert!(html.contains("dataset.rendered=\"ok\""));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn the_page_loads_nothing_from_outside() {
    let html = render_html(&meta(), &sample());
    for external in [
        "http:", "https:", "src=", "href=", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(external), "{external} in the page");
    }
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn long_windows_group_days_into_at_most_92_bars() {
    let m = ReportMeta {
        since: t("2024-01-01T00:00:00Z"),
        ..meta()
    };
    let html = render_html(&m, &sample());
    let bars = html.matches("class=\"day\"").count();
    assert!(bars <= 92 && bars > 40, "{bars} bars");
    let m = meta();
    let html = render_html(&m, &sample());
    assert_eq!(html.matches("class=\"day\"").count(), 30);
}

#[test]
fn axis_is_round() {
    assert_eq!(axis(0), (1, 1));
    assert_eq!(axis(3), (3, 1));
    assert_eq!(axis(7), (8, 2));
    assert_eq!(axis(23), (25, 5));
    assert_eq!(axis(130), (150, 50));
}
