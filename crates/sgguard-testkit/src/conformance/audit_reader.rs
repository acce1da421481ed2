//! The audit query contract ([`AuditReader`]): every filter alone and in combination, newest
//! first, limits, and the stored reports returned whole, the same from every store.
//!
//! Events are dated in the last three days (DynamoDB searches its day-partitioned indexes
//! over the last 30 days by default) and carry accounts, groups, actors and rules no other
//! run uses, so the suite runs repeatedly against one shared store.

use chrono::{Duration, NaiveTime, Utc};
use sgguard_core::time::{format_time, parse_event_time};
use sgguard_core::{Action, AllowEntry, ChangeKind, Outcome, RiskLevel};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditFilter, AuditLog, AuditReader, Begin, EventReport,
    InvalidRecord,
};

use super::{change, raw};

/// `HH:MM:SS` on the day `n` days before today (UTC), as stored: RFC 3339, whole seconds.
fn days_ago(n: i64, hms: &str) -> String {
    let day = (Utc::now() - Duration::days(n)).date_naive();
    let time = NaiveTime::parse_from_str(hms, "%H:%M:%S").unwrap();
    format_time(&day.and_time(time).and_utc())
}

fn at(text: &str) -> chrono::DateTime<Utc> {
    parse_event_time(text).unwrap()
}

/// A 12-digit account id derived from `seed` (FNV-1a), so each run has its own.
fn account_for(seed: &str) -> String {
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:012}", hash % 1_000_000_000_000)
}

fn ids(reports: &[EventReport]) -> Vec<String> {
    reports
        .iter()
        .map(|r| r.event_id.clone().unwrap_or_default())
        .collect()
}

/// One event of the suite, every optional field set.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is one field of the record; a builder would only rename them"
)]
fn event(
    event_id: &str,
    time: &str,
    account: &str,
    region: &str,
    group: &str,
    actor: &str,
    principal: &str,
    outcome: Outcome,
    changes: Vec<sgguard_responder::ChangeReport>,
) -> EventReport {
    EventReport {
        event_id: Some(event_id.to_owned()),
        event_name: Some("AuthorizeSecurityGroupIngress".into()),
        event_time: Some(time.to_owned()),
        account: Some(account.to_owned()),
        region: Some(region.to_owned()),
        group_id: Some(group.to_owned()),
        group_name: Some(format!("name-of-{group}")),
        prefix_list_id: None,
        actor: Some(actor.to_owned()),
        principal: Some(principal.to_owned()),
        source_ip: Some("203.0.113.25".into()),
        user_agent: Some("aws-cli/2.17.0".into()),
        outcome,
        reason: format!("{outcome} for the audit query suite"),
        changes,
        origin: None,
    }
}

fn with_risk(
    mut change: sgguard_responder::ChangeReport,
    risk: RiskLevel,
) -> sgguard_responder::ChangeReport {
    change.risk = risk;
    change
}

/// The audit query contract. `store` is written with [`AuditLog::begin`] and
/// [`AuditLog::complete`] and read back with [`AuditReader`].
pub async fn audit_reader<A: AuditLog + AuditReader>(store: &A) {
    let suffix = crate::aws::unique("q");
    let id = |name: &str| format!("{name}-{suffix}");
    let account = account_for(&suffix);
    let other_account = account_for(&format!("{suffix}/other"));
    let role_name = id("NetAdmin");
    let role = format!("arn:aws:iam::{account}:role/{role_name}");
    let dave = format!("arn:aws:sts::{account}:assumed-role/{role_name}/dave");
    let erin = format!("arn:aws:sts::{account}:assumed-role/{role_name}/erin");
    let alice = format!("arn:aws:iam::{account}:user/alice");
    let bob = format!("arn:aws:iam::{other_account}:user/bob");
    let (g1, g2, g3) = (id("sg-1"), id("sg-2"), id("sg-3"));
    let web = id("web");
    let (r1, r2, r3, r4) = (id("sgr-1"), id("sgr-2"), id("sgr-3"), id("sgr-4"));
    let (e1, e2, e3, e4, e5, e6) = (id("e1"), id("e2"), id("e3"), id("e4"), id("e5"), id("e6"));

    // Three days; e3 and e4 at the same second (event id breaks the tie, descending).
    let e1_report = event(
        &e1,
        &days_ago(3, "08:00:00"),
        &account,
        "eu-west-1",
        &g1,
        &alice,
        &alice,
        Outcome::WouldRevert,
        vec![change(
            &r1,
            "0.0.0.0/0",
            22,
            ChangeKind::Added,
            Action::WouldRevert,
        )],
    );
    let e2_report = event(
        &e2,
        &days_ago(3, "09:30:00"),
        &account,
        "us-east-1",
        &g2,
        &dave,
        &role,
        Outcome::Flagged,
        vec![with_risk(
            change(
                &r4,
                "10.20.0.0/16",
                5432,
                ChangeKind::Added,
                Action::Flagged,
            ),
            RiskLevel::Low,
        )],
    );
    let mut approved = with_risk(
        change(&r2, "0.0.0.0/0", 443, ChangeKind::Added, Action::None),
        RiskLevel::High,
    );
    approved.approved_by = Some("public-https".into());
    approved.closest_entry = None;
    let e3_report = event(
        &e3,
        &days_ago(2, "10:00:00"),
        &account,
        "eu-west-1",
        &g1,
        &dave,
        &role,
        Outcome::Approved,
        vec![approved],
    );
    let e4_report = event(
        &e4,
        &days_ago(2, "10:00:00"),
        &other_account,
        "eu-west-1",
        &g3,
        &bob,
        &bob,
        Outcome::Recorded,
        vec![with_risk(
            change(&r1, "0.0.0.0/0", 22, ChangeKind::Removed, Action::None),
            RiskLevel::None,
        )],
    );
    // Named only by its group name, as legacy calls are.
    let mut e5_report = event(
        &e5,
        &days_ago(1, "11:00:00"),
        &account,
        "eu-west-1",
        &g1,
        &erin,
        &role,
        Outcome::WouldRevert,
        vec![with_risk(
            change(
                &r3,
                "0.0.0.0/0",
                8080,
                ChangeKind::Added,
                Action::WouldRevert,
            ),
            RiskLevel::High,
        )],
    );
    e5_report.group_id = None;
    e5_report.group_name = Some(web.clone());
    // Begun pending, then completed: queries see the completed outcome.
    let e6_pending = event(
        &e6,
        &days_ago(1, "12:00:00"),
        &account,
        "eu-west-1",
        &g2,
        &alice,
        &alice,
        Outcome::Pending,
        vec![change(
            &r1,
            "0.0.0.0/0",
            3389,
            ChangeKind::Modified,
            Action::Pending,
        )],
    );
    let mut e6_report = e6_pending.clone();
    e6_report.outcome = Outcome::Reverted;
    e6_report.reason = "reverted for the audit query suite".into();
    e6_report.changes[0].action = Action::Reverted;
    e6_report.changes[0].remediation = Some(format!("restore {r1}: restored; confirmed"));

    let lease = sgguard_responder::Lease::new(std::time::Duration::from_secs(60), true);
    for r in [
        &e4_report,
        &e1_report,
        &e6_pending,
        &e3_report,
        &e5_report,
        &e2_report,
    ] {
        let event_id = r.event_id.clone().unwrap();
        assert_eq!(
            store
                .begin(r, &raw(&event_id), &lease, &[Outcome::Pending])
                .await
                .unwrap(),
            Begin::Inserted,
            "begin of {event_id}"
        );
    }
    store.complete(&e6_report, &lease).await.unwrap();
    // An invalid record on one of the days: it shares the day indexes but is not an event.
    store
        .record_invalid(&InvalidRecord {
            key: id("bad"),
            origin: None,
            error: "invalid event: field `eventTime`: missing".into(),
            raw: serde_json::json!({"eventID": id("bad")}),
            received_at: days_ago(1, "11:30:00"),
        })
        .await
        .unwrap();

    let by_id = |event_id: &str| -> EventReport {
        [
            &e1_report, &e2_report, &e3_report, &e4_report, &e5_report, &e6_report,
        ]
        .into_iter()
        .find(|r| r.event_id.as_deref() == Some(event_id))
        .cloned()
        .unwrap()
    };
    let base = AuditFilter::default;
    let mine = || AuditFilter {
        account: Some(account.clone()),
        ..base()
    };
    let check = async |what: &str, filter: AuditFilter, expected: &[&String]| {
        let found = store
            .query(&filter)
            .await
            .unwrap_or_else(|e| panic!("{what}: query failed: {e}"));
        let want: Vec<String> = expected.iter().map(|s| (*s).clone()).collect();
        assert_eq!(ids(&found), want, "{what}: {filter:?}");
        // The stored report comes back whole, the same from every store.
        for report in &found {
            let event_id = report.event_id.clone().unwrap();
            assert_eq!(
                report,
                &by_id(&event_id),
                "{what}: the report of {event_id}"
            );
        }
    };

    // Everything of this run, newest first.
    check("one account (by-day)", mine(), &[&e6, &e5, &e3, &e2, &e1]).await;
    check(
        "the other account",
        AuditFilter {
            account: Some(other_account.clone()),
            ..base()
        },
        &[&e4],
    )
    .await;

    // event id
    check(
        "event id",
        AuditFilter {
            event_id: Some(e3.clone()),
            ..base()
        },
        &[&e3],
    )
    .await;
    check(
        "event id and a filter it fails",
        AuditFilter {
            event_id: Some(e3.clone()),
            account: Some(other_account.clone()),
            ..base()
        },
        &[],
    )
    .await;
    check(
        "unknown event id",
        AuditFilter {
            event_id: Some(id("e-never")),
            ..base()
        },
        &[],
    )
    .await;

    // rule id: every event that touched the rule, whatever else they touched.
    let rule = |r: &String| AuditFilter {
        rule_id: Some(r.clone()),
        ..base()
    };
    check("rule", rule(&r1), &[&e6, &e4, &e1]).await;
    check(
        "rule and account",
        AuditFilter {
            account: Some(account.clone()),
            ..rule(&r1)
        },
        &[&e6, &e1],
    )
    .await;
    check(
        "rule and limit",
        AuditFilter {
            limit: Some(2),
            ..rule(&r1)
        },
        &[&e6, &e4],
    )
    .await;
    check(
        "rule and since",
        AuditFilter {
            since: Some(at(&days_ago(2, "00:00:00"))),
            ..rule(&r1)
        },
        &[&e6, &e4],
    )
    .await;
    check(
        "rule and outcome",
        AuditFilter {
            outcomes: vec![Outcome::WouldRevert],
            ..rule(&r1)
        },
        &[&e1],
    )
    .await;
    check(
        "rule and session actor",
        AuditFilter {
            actor: Some(dave.clone()),
            ..rule(&r2)
        },
        &[&e3],
    )
    .await;
    check("rule never seen", rule(&id("sgr-never")), &[]).await;

    // group: by id, or by name when the call named only the name.
    let group = |g: &String| AuditFilter {
        group_id: Some(g.clone()),
        ..base()
    };
    check("group", group(&g1), &[&e3, &e1]).await;
    check("group by name", group(&web), &[&e5]).await;
    check(
        "group and min risk",
        AuditFilter {
            min_risk: Some(RiskLevel::Critical),
            ..group(&g1)
        },
        &[&e1],
    )
    .await;
    check(
        "group and outcome (after complete)",
        AuditFilter {
            outcomes: vec![Outcome::Reverted],
            ..group(&g2)
        },
        &[&e6],
    )
    .await;
    check(
        "group and until",
        AuditFilter {
            until: Some(at(&days_ago(3, "23:59:59"))),
            ..group(&g1)
        },
        &[&e1],
    )
    .await;

    // actor: an exact ARN matches the actor or the principal; a glob matches either.
    let actor = |a: &str| AuditFilter {
        actor: Some(a.to_owned()),
        ..base()
    };
    check("exact user", actor(&alice), &[&e6, &e1]).await;
    check("exact session", actor(&dave), &[&e3, &e2]).await;
    check("role covers its sessions", actor(&role), &[&e5, &e3, &e2]).await;
    check(
        "glob over sessions",
        actor(&format!("arn:aws:sts::*:assumed-role/{role_name}/*")),
        &[&e5, &e3, &e2],
    )
    .await;
    check(
        "glob with ?",
        actor(&format!(
            "arn:aws:sts::{account}:assumed-role/{role_name}/d?ve"
        )),
        &[&e3, &e2],
    )
    .await;
    check(
        "exact user and limit",
        AuditFilter {
            limit: Some(1),
            ..actor(&alice)
        },
        &[&e6],
    )
    .await;
    check(
        "role and outcome",
        AuditFilter {
            outcomes: vec![Outcome::WouldRevert],
            ..actor(&role)
        },
        &[&e5],
    )
    .await;
    check(
        "glob, group and min risk",
        AuditFilter {
            group_id: Some(g1.clone()),
            min_risk: Some(RiskLevel::High),
            ..actor(&format!("*:assumed-role/{role_name}/*"))
        },
        &[&e3],
    )
    .await;
    check(
        "session and region",
        AuditFilter {
            region: Some("us-east-1".into()),
            ..actor(&dave)
        },
        &[&e2],
    )
    .await;

    // outcomes: any of them.
    let outcomes = |o: &[Outcome]| AuditFilter {
        outcomes: o.to_vec(),
        ..mine()
    };
    check(
        "one outcome",
        outcomes(&[Outcome::WouldRevert]),
        &[&e5, &e1],
    )
    .await;
    check(
        "two outcomes",
        outcomes(&[Outcome::WouldRevert, Outcome::Reverted]),
        &[&e6, &e5, &e1],
    )
    .await;
    check(
        "two outcomes and limit",
        AuditFilter {
            limit: Some(2),
            ..outcomes(&[Outcome::Reverted, Outcome::WouldRevert])
        },
        &[&e6, &e5],
    )
    .await;
    check(
        "outcomes and since",
        AuditFilter {
            since: Some(at(&days_ago(1, "00:00:00"))),
            ..outcomes(&[Outcome::WouldRevert, Outcome::Reverted])
        },
        &[&e6, &e5],
    )
    .await;
    check(
        "a completed event left its first outcome",
        outcomes(&[Outcome::Pending]),
        &[],
    )
    .await;
    check(
        "invalid records are not events",
        outcomes(&[Outcome::Invalid]),
        &[],
    )
    .await;

    // min risk: the riskiest change decides.
    let risk = |r: RiskLevel| AuditFilter {
        min_risk: Some(r),
        ..mine()
    };
    check(
        "min risk none",
        risk(RiskLevel::None),
        &[&e6, &e5, &e3, &e2, &e1],
    )
    .await;
    check(
        "min risk medium",
        risk(RiskLevel::Medium),
        &[&e6, &e5, &e3, &e1],
    )
    .await;
    check("min risk critical", risk(RiskLevel::Critical), &[&e6, &e1]).await;

    // account and region.
    let scope = |region: &str| AuditFilter {
        region: Some(region.to_owned()),
        ..mine()
    };
    check("scope", scope("us-east-1"), &[&e2]).await;
    check("other scope", scope("eu-west-1"), &[&e6, &e5, &e3, &e1]).await;
    check(
        "scope and limit",
        AuditFilter {
            limit: Some(3),
            ..scope("eu-west-1")
        },
        &[&e6, &e5, &e3],
    )
    .await;
    check(
        "scope and one day",
        AuditFilter {
            since: Some(at(&days_ago(2, "00:00:00"))),
            until: Some(at(&days_ago(2, "23:59:59"))),
            ..scope("eu-west-1")
        },
        &[&e3],
    )
    .await;
    check(
        "scope and outcome",
        AuditFilter {
            outcomes: vec![Outcome::Flagged],
            ..scope("us-east-1")
        },
        &[&e2],
    )
    .await;

    // time: both ends inclusive.
    let e3_time = at(&days_ago(2, "10:00:00"));
    check(
        "since",
        AuditFilter {
            since: Some(at(&days_ago(2, "00:00:00"))),
            ..mine()
        },
        &[&e6, &e5, &e3],
    )
    .await;
    check(
        "until",
        AuditFilter {
            until: Some(at(&days_ago(2, "23:59:59"))),
            ..mine()
        },
        &[&e3, &e2, &e1],
    )
    .await;
    check(
        "since and until on one second",
        AuditFilter {
            since: Some(e3_time),
            until: Some(e3_time),
            ..mine()
        },
        &[&e3],
    )
    .await;
    check(
        "since one second later",
        AuditFilter {
            since: Some(e3_time + Duration::seconds(1)),
            ..mine()
        },
        &[&e6, &e5],
    )
    .await;
    check(
        "since in the future",
        AuditFilter {
            since: Some(Utc::now() + Duration::days(1)),
            ..mine()
        },
        &[],
    )
    .await;
    check(
        "since after until",
        AuditFilter {
            since: Some(e3_time),
            until: Some(e3_time - Duration::seconds(1)),
            ..rule(&r1)
        },
        &[],
    )
    .await;

    // limits.
    check(
        "limit",
        AuditFilter {
            limit: Some(2),
            ..mine()
        },
        &[&e6, &e5],
    )
    .await;
    check(
        "limit zero",
        AuditFilter {
            limit: Some(0),
            ..mine()
        },
        &[],
    )
    .await;
    check(
        "limit above the matches",
        AuditFilter {
            limit: Some(50),
            ..mine()
        },
        &[&e6, &e5, &e3, &e2, &e1],
    )
    .await;

    // The raw CloudTrail record.
    assert_eq!(store.raw_event(&e3).await.unwrap(), Some(raw(&e3)));
    assert_eq!(store.raw_event(&id("e-never")).await.unwrap(), None);
}

fn allowlist_change(at: &str, by: &str, action: &str, entry_id: &str) -> AllowlistChange {
    AllowlistChange {
        at: at.to_owned(),
        by: by.to_owned(),
        action: action.to_owned(),
        entry_id: entry_id.to_owned(),
        detail: format!("{action} {entry_id}"),
    }
}

/// Allowlist changes as audit records: written through `store` (an [`AllowlistStore`]),
/// read back through `reader`, newest first, by who and when.
pub async fn allowlist_changes<R: AuditReader, S: AllowlistStore>(reader: &R, store: &S) {
    let suffix = crate::aws::unique("qa");
    let (a, b) = (format!("qa-{suffix}-a"), format!("qa-{suffix}-b"));
    let alice = format!("alice-{suffix}@example.com");
    let bob = format!("bob-{suffix}@example.com");
    let entry = |id: &str| AllowEntry::new(id, "netops@example.com", "NET-1 the audit suite");

    let add_a = allowlist_change(&days_ago(2, "10:00:00"), &alice, "add", &a);
    let add_b = allowlist_change(&days_ago(1, "09:00:00"), &bob, "add", &b);
    let remove_a = allowlist_change(&days_ago(1, "10:00:00"), &alice, "remove", &a);
    let replace_b = allowlist_change(&days_ago(1, "10:00:00"), &bob, "replace", &b);
    store.put(&entry(&a), &add_a).await.unwrap();
    store.put(&entry(&b), &add_b).await.unwrap();
    assert!(store.remove(&a, &remove_a).await.unwrap());
    store.put(&entry(&b), &replace_b).await.unwrap();

    let check = async |what: &str, filter: AuditFilter, expected: &[&AllowlistChange]| {
        let found = reader
            .allowlist_changes(&filter)
            .await
            .unwrap_or_else(|e| panic!("{what}: allowlist_changes failed: {e}"));
        let want: Vec<AllowlistChange> = expected.iter().map(|c| (*c).clone()).collect();
        assert_eq!(found, want, "{what}: {filter:?}");
    };
    let who = |pattern: &str| AuditFilter {
        actor: Some(pattern.to_owned()),
        ..AuditFilter::default()
    };
    let everyone = format!("*-{suffix}@example.com");
    // Newest first; at the same second, the entry id decides (descending).
    check(
        "glob over who",
        who(&everyone),
        &[&replace_b, &remove_a, &add_b, &add_a],
    )
    .await;
    check("exact who", who(&alice), &[&remove_a, &add_a]).await;
    check(
        "limit",
        AuditFilter {
            limit: Some(2),
            ..who(&everyone)
        },
        &[&replace_b, &remove_a],
    )
    .await;
    check(
        "since",
        AuditFilter {
            since: Some(at(&days_ago(1, "00:00:00"))),
            ..who(&everyone)
        },
        &[&replace_b, &remove_a, &add_b],
    )
    .await;
    check(
        "until",
        AuditFilter {
            until: Some(at(&days_ago(1, "09:30:00"))),
            ..who(&everyone)
        },
        &[&add_b, &add_a],
    )
    .await;
    check("nobody", who(&format!("carol-{suffix}@example.com")), &[]).await;

    // Leave a shared store as it was found.
    let cleanup = allowlist_change(&format_time(&Utc::now()), &bob, "remove", &b);
    assert!(store.remove(&b, &cleanup).await.unwrap());
}
