//! The risk table and the decision on a change set.

use chrono::{DateTime, Utc};
use sgguard_core::decide::summarize;
use sgguard_core::{
    Action, AllowEntry, Allowlist, ChangeDecision, ChangeKind, ChangeSet, Context, Direction,
    EventMeta, Identity, Mode, Outcome, Policy, PortRange, Protocol, Risk, RiskLevel, RiskTable,
    RuleChange, RuleContent, Source, decide,
};

const ACCOUNT: &str = "111122223333";
const GROUP: &str = "sg-0123456789abcdef0";
const RESPONDER_ROLE: &str = "arn:aws:iam::111122223333:role/sgguard-responder";
const RESPONDER_SESSION: &str =
    "arn:aws:sts::111122223333:assumed-role/sgguard-responder/sgguard-responder";

fn rule(protocol: Protocol, from: Option<i32>, to: Option<i32>, source: &str) -> RuleContent {
    RuleContent {
        protocol,
        from_port: from,
        to_port: to,
        source: Source::parse(source).unwrap(),
        description: None,
    }
}

fn tcp(from: i32, to: i32, source: &str) -> RuleContent {
    rule(Protocol::Tcp, Some(from), Some(to), source)
}

fn all(source: &str) -> RuleContent {
    rule(Protocol::All, None, None, source)
}

fn added(content: RuleContent) -> RuleChange {
    RuleChange {
        rule_id: None,
        direction: Direction::Ingress,
        kind: ChangeKind::Added,
        content: Some(content),
        note: None,
    }
}

fn with_kind(kind: ChangeKind, direction: Direction, content: RuleContent) -> RuleChange {
    RuleChange {
        rule_id: Some("sgr-0aaa".into()),
        direction,
        kind,
        content: Some(content),
        note: None,
    }
}

fn level(content: RuleContent) -> RiskLevel {
    RiskTable::default().classify(&added(content)).level
}

fn risk(content: RuleContent) -> Risk {
    RiskTable::default().classify(&added(content))
}

// ---------------------------------------------------------------------------------------
// Risk table
// ---------------------------------------------------------------------------------------

#[test]
fn world_open_all_protocols_is_critical() {
    for source in ["0.0.0.0/0", "::/0", "208.236.235.254/0", "2001:db8::1/0"] {
        assert_eq!(level(all(source)), RiskLevel::Critical, "{source}");
        assert_eq!(
            level(rule(Protocol::All, Some(-1), Some(-1), source)),
            RiskLevel::Critical,
            "{source}"
        );
    }
    let r = risk(all("::/0"));
    assert!(
        r.reasons
            .iter()
            .any(|reason| reason.contains("IPv6") && reason.contains("::/0")),
        "{r:?}"
    );
    assert!(
        r.reasons
            .iter()
            .any(|reason| reason.contains("all protocols")),
        "{r:?}"
    );
}

#[test]
fn world_open_sensitive_ports_are_critical() {
    let cases = [
        tcp(22, 22, "0.0.0.0/0"),
        tcp(3389, 3389, "::/0"),
        tcp(22, 22, "208.236.235.254/0"),
        tcp(0, 65535, "0.0.0.0/0"),
        tcp(20, 25, "0.0.0.0/0"),
        tcp(23, 23, "0.0.0.0/0"),
        tcp(3306, 3306, "::/0"),
        tcp(1000, 2000, "0.0.0.0/0"),
        rule(Protocol::Udp, Some(137), Some(137), "0.0.0.0/0"),
        rule(Protocol::Udp, Some(11211), Some(11211), "::/0"),
        // tcp without ports opens every port
        rule(Protocol::Tcp, None, None, "0.0.0.0/0"),
        rule(Protocol::Tcp, Some(-1), Some(-1), "0.0.0.0/0"),
    ];
    for content in cases {
        let shown = format!(
            "{} {:?}-{:?} {}",
            content.protocol, content.from_port, content.to_port, content.source
        );
        assert_eq!(level(content), RiskLevel::Critical, "{shown}");
    }
    let r = risk(tcp(22, 22, "208.236.235.254/0"));
    assert!(
        r.reasons[0].contains("208.236.235.254/0"),
        "the source is shown as written: {r:?}"
    );
    assert!(
        r.reasons.iter().any(|reason| reason.contains("20-23")),
        "{r:?}"
    );
    let wide = risk(tcp(0, 65535, "0.0.0.0/0"));
    assert!(
        wide.reasons.iter().any(|reason| reason.contains("more")),
        "long lists are shortened: {wide:?}"
    );
}

#[test]
fn world_open_other_ports_and_icmp_are_high() {
    let cases = [
        tcp(443, 443, "0.0.0.0/0"),
        tcp(8080, 8080, "::/0"),
        tcp(24, 134, "0.0.0.0/0"),
        tcp(80, 80, "208.236.235.254/0"),
        rule(Protocol::Udp, Some(53), Some(53), "0.0.0.0/0"),
        rule(Protocol::Icmp, Some(8), Some(0), "0.0.0.0/0"),
        rule(Protocol::Icmp, Some(-1), Some(-1), "0.0.0.0/0"),
        rule(Protocol::Icmpv6, Some(-1), Some(-1), "::/0"),
        rule(Protocol::Number(50), None, None, "0.0.0.0/0"),
    ];
    for content in cases {
        let shown = format!(
            "{} {:?}-{:?} {}",
            content.protocol, content.from_port, content.to_port, content.source
        );
        assert_eq!(level(content), RiskLevel::High, "{shown}");
    }
    let r = risk(tcp(443, 443, "0.0.0.0/0"));
    assert_eq!(r.reasons.len(), 1);
    assert!(r.reasons[0].contains("world-open IPv4"), "{r:?}");
}

#[test]
fn broad_public_networks_are_medium() {
    for (port, source) in [
        (22, "198.51.100.0/22"),
        (22, "203.0.113.0/23"),
        (22, "198.51.0.0/17"),
        (22, "2001:db8::/33"),
        (22, "2001:db8::/47"),
        // very broad, but not on a sensitive port
        (443, "8.0.0.0/8"),
        (443, "172.15.0.0/16"),
        (8080, "100.128.0.0/10"),
        (443, "2001:db8::/32"),
        // host bits: the network 172.0.0.0/11 is not inside 172.16.0.0/12
        (443, "172.16.0.1/11"),
    ] {
        assert_eq!(
            level(tcp(port, port, source)),
            RiskLevel::Medium,
            "{port} {source}"
        );
    }
    let r = risk(tcp(8080, 8080, "198.51.100.0/22"));
    assert!(r.reasons[0].contains("/24"), "{r:?}");
    let r = risk(tcp(8080, 8080, "2001:db8::/32"));
    assert!(r.reasons[0].contains("/48"), "{r:?}");
}

#[test]
fn very_broad_public_networks_on_sensitive_ports_or_all_protocols_are_high() {
    for content in [
        tcp(22, 22, "8.0.0.0/5"),
        tcp(22, 22, "8.0.0.0/8"),
        tcp(22, 22, "172.15.0.0/16"),
        tcp(3389, 3389, "2000::/5"),
        tcp(3306, 3306, "2001:db8::/32"),
        tcp(1000, 2000, "100.128.0.0/10"),
        all("198.18.0.0/15"),
        all("2001:db8::/32"),
    ] {
        let shown = content.to_string();
        assert_eq!(level(content), RiskLevel::High, "{shown}");
    }
    // one bit narrower than the tier: medium
    assert_eq!(level(tcp(22, 22, "172.15.0.0/17")), RiskLevel::Medium);
    assert_eq!(level(tcp(22, 22, "2001:db8::/33")), RiskLevel::Medium);
    let r = risk(tcp(22, 22, "8.0.0.0/5"));
    assert_eq!(
        r.reasons,
        [
            "public network 8.0.0.0/5 of /16 or broader",
            "tcp port range 22 includes sensitive ports 20-23"
        ]
    );
}

#[test]
fn narrow_public_private_and_local_networks_are_low() {
    for source in [
        // public, no broader than /24 or /48
        "203.0.113.0/24",
        "203.0.113.5/32",
        "2001:db8:1::/48",
        "2001:db8::1/128",
        // private and local
        "10.0.0.0/8",
        "10.1.2.3/8",
        "172.16.0.0/12",
        "172.31.5.0/24",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.1/32",
        "169.254.169.254/32",
        "0.0.0.0/8",
        "0.0.0.0/16",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
        "fd12:3456::/32",
    ] {
        assert_eq!(level(all(source)), RiskLevel::Low, "{source}");
        assert_eq!(level(tcp(22, 22, source)), RiskLevel::Low, "{source}");
    }
    assert_eq!(level(tcp(0, 65535, "pl-0a1b2c3d")), RiskLevel::Low);
    assert_eq!(level(all("sg-0peer")), RiskLevel::Low);
    assert_eq!(level(all("444455556666/sg-0peer")), RiskLevel::Low);
    let r = risk(tcp(443, 443, "0.0.0.0/16"));
    assert!(r.reasons[0].contains("private or local"), "{r:?}");
}

#[test]
fn removals_and_descriptions_carry_no_risk() {
    let table = RiskTable::default();
    for kind in [ChangeKind::Removed, ChangeKind::Description] {
        for direction in [Direction::Ingress, Direction::Egress] {
            let change = with_kind(kind, direction, all("0.0.0.0/0"));
            assert_eq!(
                table.classify(&change),
                Risk::none(),
                "{kind:?} {direction:?}"
            );
        }
    }
    let by_id = RuleChange {
        rule_id: Some("sgr-1".into()),
        direction: Direction::Ingress,
        kind: ChangeKind::Removed,
        content: None,
        note: None,
    };
    assert_eq!(table.classify(&by_id).level, RiskLevel::None);
    // a modification opens access like an addition
    let modified = with_kind(
        ChangeKind::Modified,
        Direction::Unknown,
        tcp(22, 22, "0.0.0.0/0"),
    );
    assert_eq!(table.classify(&modified).level, RiskLevel::Critical);
    // and egress is classified by the same table
    let egress = with_kind(ChangeKind::Added, Direction::Egress, all("0.0.0.0/0"));
    assert_eq!(table.classify(&egress).level, RiskLevel::Critical);
}

#[test]
fn the_table_is_data() {
    let table = RiskTable {
        sensitive_ports: vec![PortRange::single(8080)],
        broad_ipv4_prefix: 16,
        broad_ipv6_prefix: 32,
        very_broad_ipv4_prefix: 8,
        very_broad_ipv6_prefix: 16,
        world_prefix: 0,
        private_networks: vec!["10.0.0.0/8".parse().unwrap()],
    };
    let level = |content| table.classify(&added(content)).level;
    assert_eq!(level(tcp(8080, 8080, "0.0.0.0/0")), RiskLevel::Critical);
    assert_eq!(level(tcp(22, 22, "0.0.0.0/0")), RiskLevel::High);
    assert_eq!(level(tcp(22, 22, "198.51.100.0/22")), RiskLevel::Low);
    assert_eq!(level(tcp(22, 22, "198.0.0.0/15")), RiskLevel::Medium);
    assert_eq!(level(tcp(22, 22, "2001:db8::/32")), RiskLevel::Low);
    assert_eq!(level(tcp(22, 22, "192.168.0.0/24")), RiskLevel::Low);
    // no longer private in this table, and broader than /16
    assert_eq!(level(tcp(22, 22, "192.168.0.0/15")), RiskLevel::Medium);
}

#[test]
fn risk_levels_are_ordered_and_named() {
    assert!(RiskLevel::None < RiskLevel::Low);
    assert!(RiskLevel::Low < RiskLevel::Medium);
    assert!(RiskLevel::Medium < RiskLevel::High);
    assert!(RiskLevel::High < RiskLevel::Critical);
    for l in RiskLevel::ALL {
        assert_eq!(l.as_str().parse::<RiskLevel>(), Ok(l));
    }
    assert!("severe".parse::<RiskLevel>().is_err());
}

// ---------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-06-01T12:00:00Z")
}

fn human() -> Identity {
    Identity {
        kind: "IAMUser".into(),
        actor: "arn:aws:iam::111122223333:user/alice".into(),
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        invoked_by: None,
    }
}

fn responder() -> Identity {
    Identity {
        kind: "AssumedRole".into(),
        actor: RESPONDER_SESSION.into(),
        principal: RESPONDER_ROLE.into(),
        invoked_by: None,
    }
}

fn set_by(identity: Identity, changes: Vec<RuleChange>) -> ChangeSet {
    ChangeSet {
        meta: EventMeta {
            event_id: "e-1".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_time: now(),
            account: ACCOUNT.into(),
            region: "eu-west-1".into(),
            identity,
            source_ip: None,
            user_agent: None,
        },
        group_id: Some(GROUP.into()),
        group_name: None,
        prefix_list_id: None,
        prefix_list_version: None,
        restores_version: None,
        changes,
        omitted: Vec::new(),
    }
}

fn set(changes: Vec<RuleChange>) -> ChangeSet {
    set_by(human(), changes)
}

fn office_ssh() -> Allowlist {
    let mut e = AllowEntry::new("office-ssh", "netops@example.com", "NET-123");
    e.protocol = Protocol::Tcp;
    e.ports = PortRange::single(22);
    e.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    Allowlist::new(vec![e])
}

fn actions(d: &sgguard_core::Decision) -> Vec<Action> {
    d.changes.iter().map(|c| c.action).collect()
}

fn removal() -> RuleChange {
    with_kind(ChangeKind::Removed, Direction::Ingress, all("0.0.0.0/0"))
}

#[test]
fn would_revert_is_stronger_than_flagged_and_approved() {
    let d = decide(
        &set(vec![
            added(tcp(22, 22, "203.0.113.0/24")),
            added(tcp(22, 22, "10.0.0.0/8")),
            added(tcp(22, 22, "0.0.0.0/0")),
            removal(),
        ]),
        &Context::offline(&office_ssh(), now()),
        &Policy::default(),
    );
    assert_eq!(d.outcome, Outcome::WouldRevert);
    assert_eq!(
        actions(&d),
        [
            Action::None,
            Action::Flagged,
            Action::WouldRevert,
            Action::None
        ]
    );
    assert_eq!(d.changes[0].approved_by.as_deref(), Some("office-ssh"));
    assert_eq!(d.changes[0].risk.level, RiskLevel::Low);
    assert_eq!(d.changes[2].risk.level, RiskLevel::Critical);
    assert_eq!(d.changes[3].risk.level, RiskLevel::None);
    assert!(
        d.reason.contains("1 rule") && d.reason.contains("high"),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("audit"), "{}", d.reason);
    assert_eq!(d.pending().count(), 0);
}

#[test]
fn flagged_is_stronger_than_approved() {
    let d = decide(
        &set(vec![
            added(tcp(22, 22, "203.0.113.0/24")),
            added(tcp(22, 22, "10.0.0.0/8")),
        ]),
        &Context::offline(&office_ssh(), now()),
        &Policy::default(),
    );
    assert_eq!(d.outcome, Outcome::Flagged);
    assert_eq!(actions(&d), [Action::None, Action::Flagged]);
    assert!(d.reason.contains("1 rule unapproved"), "{}", d.reason);
}

#[test]
fn approved_is_stronger_than_recorded() {
    let d = decide(
        &set(vec![removal(), added(tcp(22, 22, "203.0.113.7/32"))]),
        &Context::offline(&office_ssh(), now()),
        &Policy::default(),
    );
    assert_eq!(d.outcome, Outcome::Approved);
    assert_eq!(actions(&d), [Action::None, Action::None]);
    assert!(d.reason.contains("office-ssh"), "{}", d.reason);
    assert!(d.reason.contains("1 rule"), "{}", d.reason);
}

#[test]
fn nothing_opened_is_recorded() {
    for changes in [
        vec![],
        vec![removal()],
        vec![with_kind(
            ChangeKind::Description,
            Direction::Ingress,
            all("0.0.0.0/0"),
        )],
        vec![RuleChange {
            rule_id: Some("sgr-1".into()),
            direction: Direction::Egress,
            kind: ChangeKind::Removed,
            content: None,
            note: None,
        }],
    ] {
        let d = decide(
            &set(changes),
            &Context::offline(&Allowlist::default(), now()),
            &Policy::default(),
        );
        assert_eq!(d.outcome, Outcome::Recorded);
        assert!(
            d.changes
                .iter()
                .all(|c| c.action == Action::None && c.approved_by.is_none())
        );
        assert!(d.reason.contains("no rule added"), "{}", d.reason);
    }
}

#[test]
fn the_strongest_outcome_wins_in_the_summary() {
    let decision = |action: Action| ChangeDecision {
        change: added(tcp(22, 22, "0.0.0.0/0")),
        risk: Risk {
            level: RiskLevel::Critical,
            reasons: vec![],
        },
        approved_by: None,
        closest_miss: None,
        action,
    };
    let policy = Policy::default();
    let outcome = |list: &[Action]| {
        summarize(
            &list.iter().map(|a| decision(*a)).collect::<Vec<_>>(),
            &policy,
        )
        .0
    };
    assert_eq!(
        outcome(&[Action::Flagged, Action::WouldRevert]),
        Outcome::WouldRevert
    );
    assert_eq!(
        outcome(&[Action::WouldRevert, Action::Pending]),
        Outcome::Pending
    );
    assert_eq!(
        outcome(&[Action::Restored, Action::Reverted]),
        Outcome::Reverted
    );
    assert_eq!(
        outcome(&[Action::Reverted, Action::Failed]),
        Outcome::RevertFailed
    );
    assert_eq!(outcome(&[Action::None, Action::Flagged]), Outcome::Flagged);
    assert!(Outcome::WouldRevert > Outcome::Flagged);
    assert!(Outcome::Flagged > Outcome::Approved);
    assert!(Outcome::Approved > Outcome::Recorded);
    let (_, reason) = summarize(&[decision(Action::Failed)], &policy);
    assert!(reason.contains("could not be reverted"), "{reason}");
}

fn revoke_by(identity: Identity) -> ChangeSet {
    let mut set = set_by(identity, vec![removal()]);
    set.meta.event_name = "RevokeSecurityGroupIngress".into();
    set
}

#[test]
fn own_action_is_a_revoke_by_an_exact_responder_principal() {
    for self_arn in [RESPONDER_ROLE, RESPONDER_SESSION] {
        let policy = Policy {
            self_arns: vec![self_arn.into()],
            mode: Mode::Enforce,
            ..Policy::default()
        };
        let d = decide(
            &revoke_by(responder()),
            &Context::offline(&Allowlist::default(), now()),
            &policy,
        );
        assert_eq!(d.outcome, Outcome::OwnAction, "{self_arn}");
        assert!(d.reason.contains(self_arn), "{}", d.reason);
        assert_eq!(d.pending().count(), 0);
    }
    // A similar but different role is not the responder.
    let policy = Policy {
        self_arns: vec![RESPONDER_ROLE.into()],
        ..Policy::default()
    };
    let impostor = Identity {
        principal: "arn:aws:iam::111122223333:role/sgguard-responder-dev".into(),
        actor: "arn:aws:sts::111122223333:assumed-role/sgguard-responder-dev/x".into(),
        ..responder()
    };
    let d = decide(
        &revoke_by(impostor),
        &Context::offline(&Allowlist::default(), now()),
        &policy,
    );
    assert_eq!(d.outcome, Outcome::Recorded);
    // Self ARNs are exact: a pattern in the list matches nothing.
    let globbed = Policy {
        self_arns: vec!["arn:aws:iam::111122223333:role/sgguard-*".into()],
        ..Policy::default()
    };
    let d = decide(
        &revoke_by(responder()),
        &Context::offline(&Allowlist::default(), now()),
        &globbed,
    );
    assert_eq!(d.outcome, Outcome::Recorded);
}

#[test]
fn an_authorize_with_the_responders_identity_is_judged_like_anyones() {
    let changes = vec![added(tcp(22, 22, "0.0.0.0/0")), added(all("::/0"))];
    let policy = Policy {
        self_arns: vec![RESPONDER_ROLE.into()],
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let d = decide(
        &set_by(responder(), changes.clone()),
        &Context::offline(&Allowlist::default(), now()),
        &policy,
    );
    assert_eq!(d.outcome, Outcome::Pending, "{}", d.reason);
    assert_eq!(actions(&d), [Action::Pending, Action::Pending]);
    assert!(
        d.changes[0]
            .risk
            .reasons
            .iter()
            .any(|r| r == sgguard_core::decide::BORROWED_IDENTITY),
        "{:?}",
        d.changes[0].risk.reasons
    );
    assert!(
        d.reason.contains(RESPONDER_ROLE)
            && d.reason
                .contains("never calls AuthorizeSecurityGroupIngress"),
        "{}",
        d.reason
    );
    // someone else's call has no such reason
    let d = decide(
        &set(changes),
        &Context::offline(&Allowlist::default(), now()),
        &policy,
    );
    assert_eq!(d.outcome, Outcome::Pending);
    assert!(
        !d.changes[0]
            .risk
            .reasons
            .iter()
            .any(|r| r == sgguard_core::decide::BORROWED_IDENTITY)
    );
}

#[test]
fn the_member_role_is_the_responder_only_in_the_events_account_with_its_session() {
    let policy = Policy {
        member_role: Some("sgguard-member".into()),
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let by = |arn: &str| revoke_by(Identity::from_arn(arn));
    let empty = Allowlist::default();
    let context = Context::offline(&empty, now());
    let ours = by("arn:aws:sts::111122223333:assumed-role/sgguard-member/sgguard");
    assert_eq!(decide(&ours, &context, &policy).outcome, Outcome::OwnAction);
    for borrowed in [
        // the same role name in another account than the event's
        "arn:aws:sts::999988887777:assumed-role/sgguard-member/sgguard",
        // another session of the role
        "arn:aws:sts::111122223333:assumed-role/sgguard-member/mallory",
        // a lookalike role
        "arn:aws:sts::111122223333:assumed-role/sgguard-membership/sgguard",
        // a user of that name
        "arn:aws:iam::111122223333:user/sgguard-member",
    ] {
        assert_eq!(
            decide(&by(borrowed), &context, &policy).outcome,
            Outcome::Recorded,
            "{borrowed}"
        );
    }
    // An Authorize by the genuine member session is not its own action either.
    let mut authorize = set_by(
        Identity::from_arn("arn:aws:sts::111122223333:assumed-role/sgguard-member/sgguard"),
        vec![added(tcp(22, 22, "0.0.0.0/0"))],
    );
    authorize.meta.account = ACCOUNT.into();
    assert_eq!(
        decide(&authorize, &context, &policy).outcome,
        Outcome::Pending
    );
}

#[test]
fn a_modify_by_the_responder_is_its_own_only_when_it_matches_a_recorded_intent() {
    let restore = tcp(5432, 5432, "10.20.0.0/16");
    let modify = |content: RuleContent| {
        let mut set = set_by(
            responder(),
            vec![with_kind(ChangeKind::Modified, Direction::Ingress, content)],
        );
        set.meta.event_name = "ModifySecurityGroupRules".into();
        set
    };
    let policy = Policy {
        self_arns: vec![RESPONDER_ROLE.into()],
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let allowlist = Allowlist::default();
    let lists = sgguard_core::PrefixLists::default();
    let mut intents = sgguard_core::Intents::default();
    intents.add("sgr-0aaa", restore.clone());
    let live = Context {
        allowlist: &allowlist,
        now: now(),
        prefix_lists: &lists,
        intents: &intents,
        live: true,
    };
    assert_eq!(
        decide(&modify(restore.clone()), &live, &policy).outcome,
        Outcome::OwnAction
    );
    // The responder's identity setting anything else is judged like anyone's modify.
    let d = decide(&modify(tcp(22, 22, "0.0.0.0/0")), &live, &policy);
    assert_eq!(d.outcome, Outcome::Pending, "{}", d.reason);
    assert!(
        d.reason.contains("not a restore the responder recorded"),
        "{}",
        d.reason
    );
    // Online, no intent means not ours, even for approved content.
    let none = sgguard_core::Intents::default();
    let office = office_ssh();
    let no_intent = Context {
        allowlist: &office,
        intents: &none,
        ..live
    };
    let approved = tcp(22, 22, "203.0.113.0/24");
    assert_ne!(
        decide(&modify(approved.clone()), &no_intent, &policy).outcome,
        Outcome::OwnAction
    );
    // Offline, where no intent exists, content the allowlist approves counts.
    let offline = Context::offline(&office, now());
    assert_eq!(
        decide(&modify(approved), &offline, &policy).outcome,
        Outcome::OwnAction
    );
    assert_ne!(
        decide(&modify(tcp(22, 22, "0.0.0.0/0")), &offline, &policy).outcome,
        Outcome::OwnAction
    );
}

#[test]
fn egress_is_flagged_unless_revert_egress() {
    let egress = || with_kind(ChangeKind::Added, Direction::Egress, all("0.0.0.0/0"));
    let d = decide(
        &set(vec![egress()]),
        &Context::offline(&Allowlist::default(), now()),
        &Policy::default(),
    );
    assert_eq!(d.changes[0].risk.level, RiskLevel::Critical);
    assert_eq!(actions(&d), [Action::Flagged]);
    assert_eq!(d.outcome, Outcome::Flagged);
    assert!(
        d.reason.contains("egress") && d.reason.contains("--revert-egress"),
        "{}",
        d.reason
    );

    let policy = Policy {
        revert_egress: true,
        ..Policy::default()
    };
    let d = decide(
        &set(vec![egress()]),
        &Context::offline(&Allowlist::default(), now()),
        &policy,
    );
    assert_eq!(actions(&d), [Action::WouldRevert]);
    assert_eq!(d.outcome, Outcome::WouldRevert);

    // a modification of unknown direction is treated as ingress
    let modified = with_kind(
        ChangeKind::Modified,
        Direction::Unknown,
        tcp(22, 22, "0.0.0.0/0"),
    );
    let d = decide(
        &set(vec![modified]),
        &Context::offline(&Allowlist::default(), now()),
        &Policy::default(),
    );
    assert_eq!(actions(&d), [Action::WouldRevert]);
}

#[test]
fn enforce_gives_pending_actions() {
    let policy = Policy {
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let d = decide(
        &set(vec![
            added(tcp(22, 22, "10.0.0.0/8")),
            added(tcp(3389, 3389, "::/0")),
            added(all("0.0.0.0/0")),
        ]),
        &Context::offline(&Allowlist::default(), now()),
        &policy,
    );
    assert_eq!(d.outcome, Outcome::Pending);
    assert_eq!(
        actions(&d),
        [Action::Flagged, Action::Pending, Action::Pending]
    );
    assert_eq!(d.pending().collect::<Vec<_>>(), [1, 2]);
    assert!(
        d.reason.contains("2 rules") && d.reason.contains("pending"),
        "{}",
        d.reason
    );
    assert_eq!("enforce".parse::<Mode>(), Ok(Mode::Enforce));
    assert_eq!(Mode::default(), Mode::Audit);
}

#[test]
fn min_risk_threshold() {
    let cases = [
        (
            RiskLevel::Critical,
            tcp(443, 443, "0.0.0.0/0"),
            Action::Flagged,
        ),
        (
            RiskLevel::Critical,
            tcp(22, 22, "0.0.0.0/0"),
            Action::WouldRevert,
        ),
        (
            RiskLevel::High,
            tcp(443, 443, "0.0.0.0/0"),
            Action::WouldRevert,
        ),
        (
            RiskLevel::High,
            tcp(443, 443, "198.51.100.0/22"),
            Action::Flagged,
        ),
        (
            RiskLevel::Medium,
            tcp(443, 443, "198.51.100.0/22"),
            Action::WouldRevert,
        ),
        (
            RiskLevel::Medium,
            tcp(443, 443, "10.0.0.0/8"),
            Action::Flagged,
        ),
        (
            RiskLevel::Low,
            tcp(443, 443, "10.0.0.0/8"),
            Action::WouldRevert,
        ),
        (RiskLevel::Low, tcp(443, 443, "pl-1"), Action::WouldRevert),
    ];
    for (min_risk, content, want) in cases {
        let shown = format!("{min_risk} {}", content.source);
        let policy = Policy {
            min_risk,
            ..Policy::default()
        };
        let d = decide(
            &set(vec![added(content)]),
            &Context::offline(&Allowlist::default(), now()),
            &policy,
        );
        assert_eq!(actions(&d), [want], "{shown}");
        assert!(
            d.reason.contains(min_risk.as_str()),
            "reason names the {min_risk} threshold: {}",
            d.reason
        );
    }
}

#[test]
fn flagged_reason_names_the_threshold() {
    let policy = Policy {
        min_risk: RiskLevel::Critical,
        ..Policy::default()
    };
    let d = decide(
        &set(vec![added(tcp(443, 443, "0.0.0.0/0"))]),
        &Context::offline(&Allowlist::default(), now()),
        &policy,
    );
    assert_eq!(d.outcome, Outcome::Flagged);
    assert!(
        d.reason.contains("below the critical threshold"),
        "{}",
        d.reason
    );
}

#[test]
fn closest_miss_and_expiry_reach_the_decision() {
    let mut list = office_ssh();
    list.entries[0].expires = Some(at("2026-07-01T00:00:00Z"));
    let changes = vec![
        added(tcp(22, 22, "203.0.113.0/24")),
        added(tcp(22, 22, "198.51.100.0/24")),
    ];
    let d = decide(
        &set(changes.clone()),
        &Context::offline(&list, now()),
        &Policy::default(),
    );
    assert_eq!(d.outcome, Outcome::Flagged);
    assert_eq!(d.changes[0].approved_by.as_deref(), Some("office-ssh"));
    let (id, failures) = d.changes[1].closest_miss.clone().unwrap();
    assert_eq!(id, "office-ssh");
    assert_eq!(
        failures.iter().map(|f| f.criterion).collect::<Vec<_>>(),
        ["source"]
    );

    // the same call decided after the entry expired: `now` is an argument, not the clock
    let later = decide(
        &set(changes),
        &Context::offline(&list, at("2026-07-01T00:00:00Z")),
        &Policy::default(),
    );
    assert_eq!(later.changes[0].approved_by, None);
    let (_, failures) = later.changes[0].closest_miss.clone().unwrap();
    assert_eq!(failures[0].criterion, "expires");
}

#[test]
fn group_named_only_by_name_fails_a_groups_criterion() {
    let mut e = AllowEntry::new("web", "me", "r");
    e.groups = vec![GROUP.into()];
    let list = Allowlist::new(vec![e]);
    let mut by_name = set(vec![added(tcp(443, 443, "0.0.0.0/0"))]);
    assert_eq!(
        decide(
            &by_name,
            &Context::offline(&list, now()),
            &Policy::default()
        )
        .outcome,
        Outcome::Approved
    );
    by_name.group_id = None;
    by_name.group_name = Some("default".into());
    let d = decide(
        &by_name,
        &Context::offline(&list, now()),
        &Policy::default(),
    );
    assert_eq!(d.outcome, Outcome::WouldRevert);
    assert_eq!(
        d.changes[0]
            .closest_miss
            .as_ref()
            .map(|(_, f)| f[0].criterion),
        Some("groups")
    );
}

#[test]
fn approved_rules_are_never_acted_on_whatever_their_risk() {
    let mut e = AllowEntry::new("open-everything", "me", "lab account");
    e.accounts = vec![ACCOUNT.into()];
    let policy = Policy {
        mode: Mode::Enforce,
        min_risk: RiskLevel::Low,
        ..Policy::default()
    };
    let d = decide(
        &set(vec![added(all("0.0.0.0/0")), added(all("::/0"))]),
        &Context::offline(&Allowlist::new(vec![e]), now()),
        &policy,
    );
    assert_eq!(d.outcome, Outcome::Approved);
    assert_eq!(actions(&d), [Action::None, Action::None]);
    assert!(
        d.reason.contains("2 rules approved by open-everything"),
        "{}",
        d.reason
    );
}

#[test]
fn approved_reason_names_each_entry_once() {
    let mut https = AllowEntry::new("public-https", "me", "r");
    https.protocol = Protocol::Tcp;
    https.ports = PortRange::single(443);
    let mut list = office_ssh();
    list.entries.push(https);
    let d = decide(
        &set(vec![
            added(tcp(22, 22, "203.0.113.1/32")),
            added(tcp(443, 443, "0.0.0.0/0")),
            added(tcp(22, 22, "203.0.113.2/32")),
        ]),
        &Context::offline(&list, now()),
        &Policy::default(),
    );
    assert_eq!(d.outcome, Outcome::Approved);
    assert_eq!(d.reason, "3 rules approved by office-ssh, public-https");
}

#[test]
fn halves_of_the_internet_are_world_open() {
    let table = RiskTable::default();
    let level = |content| table.classify(&added(content)).level;
    assert_eq!(level(tcp(443, 443, "0.0.0.0/1")), RiskLevel::High);
    assert_eq!(level(tcp(443, 443, "128.0.0.0/1")), RiskLevel::High);
    assert_eq!(level(tcp(22, 22, "128.0.0.0/1")), RiskLevel::Critical);
    assert_eq!(level(tcp(443, 443, "2000::/3")), RiskLevel::High);
    // /5 and longer are judged by breadth, as before
    assert_eq!(level(tcp(443, 443, "8.0.0.0/5")), RiskLevel::Medium);
    // a short private range stays private
    assert_eq!(level(tcp(443, 443, "0.0.0.0/8")), RiskLevel::Low);
}

// ---------------------------------------------------------------------------------------
// Prefix lists by their contents
// ---------------------------------------------------------------------------------------

fn list(id: &str, entries: &[&str], aws: bool) -> sgguard_core::PrefixList {
    sgguard_core::PrefixList {
        id: id.into(),
        name: Some(if aws {
            "com.amazonaws.eu-west-1.s3".into()
        } else {
            "partners".into()
        }),
        aws_managed: aws,
        version: Some(3),
        busy: false,
        entries: entries.iter().map(|e| e.parse().unwrap()).collect(),
        references: None,
    }
}

#[test]
fn a_prefix_list_source_has_the_risk_of_its_widest_entry() {
    let table = RiskTable::default();
    let lists = sgguard_core::PrefixLists::new([
        list(
            "pl-world",
            &["10.0.0.0/8", "0.0.0.0/0", "198.51.100.0/24"],
            false,
        ),
        list("pl-narrow", &["198.51.100.0/24", "10.0.0.0/8"], false),
        list("pl-empty", &[], false),
        list("pl-aws", &["0.0.0.0/1"], true),
    ]);
    let classify = |source: &str| table.classify_content_in(&tcp(22, 22, source), &lists);
    let world = classify("pl-world");
    assert_eq!(world.level, RiskLevel::Critical, "{world:?}");
    assert_eq!(
        world.reasons[0],
        "prefix list pl-world (partners) holds 0.0.0.0/0"
    );
    assert!(world.reasons[1].contains("world-open IPv4"), "{world:?}");
    assert_eq!(classify("pl-narrow").level, RiskLevel::Low);
    assert!(classify("pl-empty").reasons[0].contains("has no entries"));
    let aws = classify("pl-aws");
    assert_eq!(aws.level, RiskLevel::Low);
    assert!(aws.reasons[0].contains("AWS-managed prefix list pl-aws (com.amazonaws.eu-west-1.s3)"));
    let unknown = classify("pl-unresolved");
    assert_eq!(unknown.level, RiskLevel::Low);
    assert!(unknown.reasons[0].contains("not resolved"), "{unknown:?}");
    // Offline (no lists at all), a prefix-list source stays low and says so.
    assert!(level(tcp(22, 22, "pl-world")) == RiskLevel::Low);
}

fn entry_change(cidr: &str) -> RuleChange {
    RuleChange {
        rule_id: None,
        direction: Direction::Unknown,
        kind: ChangeKind::EntryAdded,
        content: Some(all(cidr)),
        note: None,
    }
}

fn list_set(changes: Vec<RuleChange>) -> ChangeSet {
    let mut set = set(changes);
    set.meta.event_name = "ModifyManagedPrefixList".into();
    set.group_id = None;
    set.prefix_list_id = Some("pl-partners".into());
    set
}

fn referencing(port: i32, direction: Direction) -> sgguard_core::Reference {
    sgguard_core::Reference {
        rule_id: format!("sgr-{port}"),
        group_id: GROUP.into(),
        direction,
        content: tcp(port, port, "pl-partners"),
    }
}

#[test]
fn an_entry_added_to_a_list_is_judged_through_the_rules_that_reference_it() {
    let policy = Policy {
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let with_refs = |references| {
        let mut l = list("pl-partners", &["0.0.0.0/0"], false);
        l.references = Some(references);
        sgguard_core::PrefixLists::new([l])
    };
    let empty = Allowlist::default();
    let intents = sgguard_core::Intents::default();
    let decide_with = |lists: &sgguard_core::PrefixLists, allowlist: &Allowlist| {
        let context = Context {
            allowlist,
            now: now(),
            prefix_lists: lists,
            intents: &intents,
            live: true,
        };
        decide(
            &list_set(vec![entry_change("0.0.0.0/0")]),
            &context,
            &policy,
        )
    };
    // Through an SSH rule: critical, reverted (the entry removed from the list).
    let lists = with_refs(vec![
        referencing(443, Direction::Ingress),
        referencing(22, Direction::Ingress),
    ]);
    let d = decide_with(&lists, &empty);
    assert_eq!(d.changes[0].risk.level, RiskLevel::Critical, "{d:?}");
    assert!(
        d.changes[0].risk.reasons[0].contains("sgr-22"),
        "{:?}",
        d.changes[0].risk
    );
    assert_eq!(d.changes[0].action, Action::Pending);
    // Only through an egress rule: flagged, not reverted without --revert-egress.
    let lists = with_refs(vec![referencing(22, Direction::Egress)]);
    assert_eq!(
        decide_with(&lists, &empty).changes[0].action,
        Action::Flagged
    );
    // A riskier egress reference does not hide an ingress one that must be reverted.
    let mut all_egress = referencing(0, Direction::Egress);
    all_egress.content = all("pl-partners");
    let lists = with_refs(vec![referencing(443, Direction::Ingress), all_egress]);
    let d = decide_with(&lists, &empty);
    assert_eq!(d.changes[0].action, Action::Pending, "{d:?}");
    assert_eq!(d.changes[0].risk.level, RiskLevel::High);
    assert_eq!(d.changes[0].change.direction, Direction::Ingress);
    // No rule of this account references the list, but it may be shared: a world entry is
    // flagged (never removed blindly); a narrow one opens nothing sgguard can see.
    let lists = with_refs(Vec::new());
    let d = decide_with(&lists, &empty);
    assert_eq!(d.changes[0].risk.level, RiskLevel::Critical);
    assert_eq!(d.changes[0].action, Action::Flagged);
    assert!(
        d.changes[0].risk.reasons[0].contains("may be shared"),
        "{:?}",
        d.changes[0].risk
    );
    let context = Context {
        allowlist: &empty,
        now: now(),
        prefix_lists: &lists,
        intents: &intents,
        live: true,
    };
    let narrow = decide(
        &list_set(vec![entry_change("10.1.0.0/16")]),
        &context,
        &policy,
    );
    assert_eq!(narrow.changes[0].risk.level, RiskLevel::None);
    assert_eq!(narrow.outcome, Outcome::Recorded);
    // Approved through the list as a whole (`prefix_lists`), for the rule that uses it.
    let mut whole = AllowEntry::new("partners-list", "netops@example.com", "NET-9");
    whole.prefix_lists = vec!["pl-partners".into()];
    let lists = with_refs(vec![referencing(22, Direction::Ingress)]);
    let d = decide_with(&lists, &Allowlist::new(vec![whole]));
    assert_eq!(d.changes[0].approved_by.as_deref(), Some("partners-list"));
    assert_eq!(d.outcome, Outcome::Approved);
    // Offline (references unknown): judged as if the entry opened all traffic.
    let d = decide(
        &list_set(vec![entry_change("0.0.0.0/0")]),
        &Context::offline(&empty, now()),
        &policy,
    );
    assert_eq!(d.changes[0].risk.level, RiskLevel::Critical);
    assert!(
        d.changes[0].risk.reasons[0].contains("were not resolved"),
        "{:?}",
        d.changes[0].risk
    );
}

#[test]
fn removing_an_entry_opens_nothing_and_a_responders_removal_is_its_own() {
    let removal = RuleChange {
        kind: ChangeKind::EntryRemoved,
        ..entry_change("0.0.0.0/0")
    };
    let policy = Policy {
        self_arns: vec![RESPONDER_ROLE.into()],
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let empty = Allowlist::default();
    let context = Context::offline(&empty, now());
    let d = decide(&list_set(vec![removal.clone()]), &context, &policy);
    assert_eq!(d.outcome, Outcome::Recorded);
    let mut ours = list_set(vec![removal]);
    ours.meta.identity = responder();
    assert_eq!(decide(&ours, &context, &policy).outcome, Outcome::OwnAction);
    // Adding an entry with the responder's identity is not something it does.
    let mut adding = list_set(vec![entry_change("0.0.0.0/0")]);
    adding.meta.identity = responder();
    let d = decide(&adding, &context, &policy);
    assert_eq!(d.outcome, Outcome::Pending, "{}", d.reason);
}
