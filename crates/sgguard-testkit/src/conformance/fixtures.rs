//! What the clauses of every suite build their records from.

use chrono::{Duration, NaiveTime, Utc};
use serde_json::{Value, json};
use sgguard_core::time::{format_time, parse_event_time};
use sgguard_core::{
    Action, AllowEntry, ChangeKind, Direction, Outcome, PortRange, Protocol, RiskLevel, SourceKind,
};
use sgguard_responder::{AllowlistChange, ChangeReport, EventReport, Lease};

pub(super) const ACCOUNT: &str = "111122223333";
pub(super) const REGION: &str = "eu-west-1";
pub(super) const GROUP: &str = "sg-0a1b2c3d4e5f60718";
pub(super) const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

/// Names no other clause, and no other run of the same clause, uses: `<name>-<suffix>`.
pub(super) struct Names {
    suffix: String,
}

impl Names {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            suffix: crate::aws::unique(prefix),
        }
    }

    pub(super) fn id(&self, name: &str) -> String {
        format!("{name}-{}", self.suffix)
    }

    pub(super) fn suffix(&self) -> &str {
        &self.suffix
    }
}

/// A tcp rule change from an IPv4 source, with every optional field set.
pub(super) fn change(
    rule_id: &str,
    cidr: &str,
    port: i32,
    kind: ChangeKind,
    action: Action,
) -> ChangeReport {
    ChangeReport {
        rule_id: Some(rule_id.to_owned()),
        direction: Direction::Ingress,
        kind,
        protocol: Some("tcp".into()),
        from_port: Some(port),
        to_port: Some(port),
        source: Some(cidr.to_owned()),
        source_kind: Some(SourceKind::CidrIpv4),
        description: Some(format!("{cidr} on {port}")),
        risk: RiskLevel::Critical,
        risk_reasons: vec![
            format!("world-open IPv4 source {cidr}"),
            format!("sensitive port {port}"),
        ],
        approved_by: None,
        closest_entry: Some("office-ssh (cidrs: 0.0.0.0/0 is not within 203.0.113.0/24)".into()),
        action,
        remediation: None,
        note: None,
        restore_to: None,
    }
}

/// A report with every optional field set, so a store that drops one is caught.
pub(super) fn report(
    event_id: &str,
    event_name: &str,
    time: &str,
    outcome: Outcome,
    changes: Vec<ChangeReport>,
) -> EventReport {
    EventReport {
        event_id: Some(event_id.to_owned()),
        event_name: Some(event_name.to_owned()),
        event_time: Some(time.to_owned()),
        account: Some(ACCOUNT.into()),
        region: Some(REGION.into()),
        group_id: Some(GROUP.into()),
        group_name: Some("web".into()),
        prefix_list_id: None,
        actor: Some(ALICE.into()),
        principal: Some(ALICE.into()),
        source_ip: Some("203.0.113.25".into()),
        user_agent: Some("aws-cli/2.17.0".into()),
        outcome,
        reason: format!("{outcome} for the conformance suite"),
        changes,
        allowlist_error: None,
        origin: None,
    }
}

/// A lease held for a minute from now.
pub(super) fn lease() -> Lease {
    Lease::new(std::time::Duration::from_secs(60), true)
}

/// What the pipeline takes over: an interrupted remediation.
pub(super) const PENDING: &[Outcome] = &[Outcome::Pending];

/// The raw CloudTrail record stored with an event.
pub(super) fn raw(event_id: &str) -> Value {
    json!({"eventID": event_id, "eventName": "AuthorizeSecurityGroupIngress", "nested": {"items": [1, null, "x"]}})
}

/// A change record for the allowlist store, made now.
pub(super) fn allow_change(action: &str, entry_id: &str, detail: &str) -> AllowlistChange {
    AllowlistChange {
        at: format_time(&Utc::now()),
        by: "conformance@example.com".into(),
        action: action.into(),
        entry_id: entry_id.into(),
        detail: detail.into(),
    }
}

/// A tcp entry for one port from 203.0.113.0/24.
pub(super) fn entry(id: &str, port: u16) -> AllowEntry {
    let mut e = AllowEntry::new(id, "netops@example.com", format!("NET-{port}"));
    e.protocol = Protocol::Tcp;
    e.ports = PortRange::single(port);
    e.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    e
}

/// `HH:MM:SS` on the day `n` days before today (UTC), as stored: RFC 3339, whole seconds.
pub(super) fn days_ago(n: i64, hms: &str) -> String {
    let day = (Utc::now() - Duration::days(n)).date_naive();
    let time = NaiveTime::parse_from_str(hms, "%H:%M:%S").unwrap();
    format_time(&day.and_time(time).and_utc())
}

pub(super) fn at(text: &str) -> chrono::DateTime<Utc> {
    parse_event_time(text).unwrap()
}
