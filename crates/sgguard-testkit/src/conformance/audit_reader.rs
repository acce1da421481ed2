//! The audit query contract ([`AuditReader`]): every filter alone and in combination, newest
//! first, limits, and the stored reports returned whole, the same from every store. One
//! function per query criterion; the tests are listed in
//! [`audit_reader_conformance!`](crate::audit_reader_conformance).
//!
//! Events are dated in the last three days (DynamoDB searches its day-partitioned indexes
//! over the last 30 days by default) and carry accounts, groups, actors and rules no other
//! clause or run uses, so every clause runs repeatedly against one shared store.

use chrono::{Duration, Utc};
use sgguard_core::{Action, ChangeKind, Outcome, RiskLevel};
use sgguard_responder::{
    AuditFilter, AuditLog, AuditReader, Begin, ChangeReport, EventReport, InvalidRecord,
};

use super::fixtures::{Names, at, change, days_ago, raw};

crate::__audit_reader_clauses!(__every_clause!((AuditLog + AuditReader)));

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
    changes: Vec<ChangeReport>,
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
        allowlist_error: None,
        origin: None,
    }
}

fn with_risk(mut change: ChangeReport, risk: RiskLevel) -> ChangeReport {
    change.risk = risk;
    change
}

/// Six events of one clause over three days, written with [`AuditLog::begin`] and
/// [`AuditLog::complete`], and an invalid record on one of the days.
///
/// e1–e3, e5 and e6 are in `account`, e4 in `other_account`; e3 and e4 are at the same
/// second (the event id breaks the tie, descending); e5 names only its group's name; e6 was
/// begun pending and then completed as reverted.
struct Seeded {
    names: Names,
    account: String,
    other_account: String,
    role_name: String,
    role: String,
    dave: String,
    alice: String,
    g1: String,
    g2: String,
    web: String,
    r1: String,
    r2: String,
    e1: String,
    e2: String,
    e3: String,
    e4: String,
    e5: String,
    e6: String,
    /// What the store holds, e6 completed.
    reports: Vec<EventReport>,
}

impl Seeded {
    async fn write<A: AuditLog>(store: &A) -> Self {
        let names = Names::new("q");
        let id = |name: &str| names.id(name);
        let account = account_for(names.suffix());
        let other_account = account_for(&format!("{}/other", names.suffix()));
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

        let reports = vec![
            e1_report, e2_report, e3_report, e4_report, e5_report, e6_report,
        ];
        Self {
            names,
            account,
            other_account,
            role_name,
            role,
            dave,
            alice,
            g1,
            g2,
            web,
            r1,
            r2,
            e1,
            e2,
            e3,
            e4,
            e5,
            e6,
            reports,
        }
    }

    fn id(&self, name: &str) -> String {
        self.names.id(name)
    }

    fn by_id(&self, event_id: &str) -> EventReport {
        self.reports
            .iter()
            .find(|r| r.event_id.as_deref() == Some(event_id))
            .cloned()
            .unwrap()
    }

    /// Everything in this clause's account.
    fn mine(&self) -> AuditFilter {
        AuditFilter {
            account: Some(self.account.clone()),
            ..AuditFilter::default()
        }
    }

    /// Checks that `filter` finds exactly `expected`, in that order, each report whole.
    async fn check<A: AuditReader>(
        &self,
        store: &A,
        what: &str,
        filter: AuditFilter,
        expected: &[&String],
    ) {
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
                &self.by_id(&event_id),
                "{what}: the report of {event_id}"
            );
        }
    }
}

fn base() -> AuditFilter {
    AuditFilter::default()
}

/// Filtered by account, the query lists everything of that account, newest first.
pub async fn query_by_account_lists_its_events_newest_first<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e2, e3, e4, e5, e6) = (&s.e1, &s.e2, &s.e3, &s.e4, &s.e5, &s.e6);
    s.check(
        store,
        "one account (by-day)",
        s.mine(),
        &[e6, e5, e3, e2, e1],
    )
    .await;
    s.check(
        store,
        "the other account",
        AuditFilter {
            account: Some(s.other_account.clone()),
            ..base()
        },
        &[e4],
    )
    .await;
}

/// By event id, a query finds that event only, and only if the other filters match it too.
pub async fn query_by_event_id_finds_that_event_only<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let e3 = &s.e3;
    s.check(
        store,
        "event id",
        AuditFilter {
            event_id: Some(e3.clone()),
            ..base()
        },
        &[e3],
    )
    .await;
    s.check(
        store,
        "event id and a filter it fails",
        AuditFilter {
            event_id: Some(e3.clone()),
            account: Some(s.other_account.clone()),
            ..base()
        },
        &[],
    )
    .await;
    s.check(
        store,
        "unknown event id",
        AuditFilter {
            event_id: Some(s.id("e-never")),
            ..base()
        },
        &[],
    )
    .await;
}

/// By rule id, a query finds every event that touched the rule, combined with any filter.
pub async fn query_by_rule_finds_every_event_that_touched_it<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e3, e4, e6) = (&s.e1, &s.e3, &s.e4, &s.e6);
    let rule = |r: &String| AuditFilter {
        rule_id: Some(r.clone()),
        ..base()
    };
    s.check(store, "rule", rule(&s.r1), &[e6, e4, e1]).await;
    s.check(
        store,
        "rule and account",
        AuditFilter {
            account: Some(s.account.clone()),
            ..rule(&s.r1)
        },
        &[e6, e1],
    )
    .await;
    s.check(
        store,
        "rule and limit",
        AuditFilter {
            limit: Some(2),
            ..rule(&s.r1)
        },
        &[e6, e4],
    )
    .await;
    s.check(
        store,
        "rule and since",
        AuditFilter {
            since: Some(at(&days_ago(2, "00:00:00"))),
            ..rule(&s.r1)
        },
        &[e6, e4],
    )
    .await;
    s.check(
        store,
        "rule and outcome",
        AuditFilter {
            outcomes: vec![Outcome::WouldRevert],
            ..rule(&s.r1)
        },
        &[e1],
    )
    .await;
    s.check(
        store,
        "rule and session actor",
        AuditFilter {
            actor: Some(s.dave.clone()),
            ..rule(&s.r2)
        },
        &[e3],
    )
    .await;
    s.check(store, "rule never seen", rule(&s.id("sgr-never")), &[])
        .await;
}

/// By group, a query matches the group id, or the name when a call named only the name.
pub async fn query_by_group_matches_its_id_or_the_name_a_call_named<A: AuditLog + AuditReader>(
    store: &A,
) {
    let s = Seeded::write(store).await;
    let (e1, e3, e5, e6) = (&s.e1, &s.e3, &s.e5, &s.e6);
    let group = |g: &String| AuditFilter {
        group_id: Some(g.clone()),
        ..base()
    };
    s.check(store, "group", group(&s.g1), &[e3, e1]).await;
    s.check(store, "group by name", group(&s.web), &[e5]).await;
    s.check(
        store,
        "group and min risk",
        AuditFilter {
            min_risk: Some(RiskLevel::Critical),
            ..group(&s.g1)
        },
        &[e1],
    )
    .await;
    s.check(
        store,
        "group and outcome (after complete)",
        AuditFilter {
            outcomes: vec![Outcome::Reverted],
            ..group(&s.g2)
        },
        &[e6],
    )
    .await;
    s.check(
        store,
        "group and until",
        AuditFilter {
            until: Some(at(&days_ago(3, "23:59:59"))),
            ..group(&s.g1)
        },
        &[e1],
    )
    .await;
}

/// By actor, an exact ARN (a role covering its sessions) or a glob matches actor or principal.
pub async fn query_by_actor_matches_an_exact_arn_or_a_glob<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e2, e3, e5, e6) = (&s.e1, &s.e2, &s.e3, &s.e5, &s.e6);
    let (account, role_name) = (&s.account, &s.role_name);
    let actor = |a: &str| AuditFilter {
        actor: Some(a.to_owned()),
        ..base()
    };
    s.check(store, "exact user", actor(&s.alice), &[e6, e1])
        .await;
    s.check(store, "exact session", actor(&s.dave), &[e3, e2])
        .await;
    s.check(
        store,
        "role covers its sessions",
        actor(&s.role),
        &[e5, e3, e2],
    )
    .await;
    s.check(
        store,
        "glob over sessions",
        actor(&format!("arn:aws:sts::*:assumed-role/{role_name}/*")),
        &[e5, e3, e2],
    )
    .await;
    s.check(
        store,
        "glob with ?",
        actor(&format!(
            "arn:aws:sts::{account}:assumed-role/{role_name}/d?ve"
        )),
        &[e3, e2],
    )
    .await;
    s.check(
        store,
        "exact user and limit",
        AuditFilter {
            limit: Some(1),
            ..actor(&s.alice)
        },
        &[e6],
    )
    .await;
    s.check(
        store,
        "role and outcome",
        AuditFilter {
            outcomes: vec![Outcome::WouldRevert],
            ..actor(&s.role)
        },
        &[e5],
    )
    .await;
    s.check(
        store,
        "glob, group and min risk",
        AuditFilter {
            group_id: Some(s.g1.clone()),
            min_risk: Some(RiskLevel::High),
            ..actor(&format!("*:assumed-role/{role_name}/*"))
        },
        &[e3],
    )
    .await;
    s.check(
        store,
        "session and region",
        AuditFilter {
            region: Some("us-east-1".into()),
            ..actor(&s.dave)
        },
        &[e2],
    )
    .await;
}

/// Filtered by outcomes, the query matches any of them.
pub async fn query_by_outcomes_matches_any_of_them<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e5, e6) = (&s.e1, &s.e5, &s.e6);
    let outcomes = |o: &[Outcome]| AuditFilter {
        outcomes: o.to_vec(),
        ..s.mine()
    };
    s.check(
        store,
        "one outcome",
        outcomes(&[Outcome::WouldRevert]),
        &[e5, e1],
    )
    .await;
    s.check(
        store,
        "two outcomes",
        outcomes(&[Outcome::WouldRevert, Outcome::Reverted]),
        &[e6, e5, e1],
    )
    .await;
    s.check(
        store,
        "two outcomes and limit",
        AuditFilter {
            limit: Some(2),
            ..outcomes(&[Outcome::Reverted, Outcome::WouldRevert])
        },
        &[e6, e5],
    )
    .await;
    s.check(
        store,
        "outcomes and since",
        AuditFilter {
            since: Some(at(&days_ago(1, "00:00:00"))),
            ..outcomes(&[Outcome::WouldRevert, Outcome::Reverted])
        },
        &[e6, e5],
    )
    .await;
}

/// A completed event is found by its final outcome only, not the one it was begun with.
pub async fn query_finds_a_completed_event_by_its_final_outcome_only<A: AuditLog + AuditReader>(
    store: &A,
) {
    let s = Seeded::write(store).await;
    let outcomes = |o: &[Outcome]| AuditFilter {
        outcomes: o.to_vec(),
        ..s.mine()
    };
    s.check(
        store,
        "a completed event left its first outcome",
        outcomes(&[Outcome::Pending]),
        &[],
    )
    .await;
    s.check(
        store,
        "the completed outcome",
        outcomes(&[Outcome::Reverted]),
        &[&s.e6],
    )
    .await;
}

/// Invalid records are not events: no query finds them.
pub async fn query_never_finds_invalid_records<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    s.check(
        store,
        "invalid records are not events",
        AuditFilter {
            outcomes: vec![Outcome::Invalid],
            ..s.mine()
        },
        &[],
    )
    .await;
}

/// Filtered by a minimum risk, the riskiest change of an event decides.
pub async fn query_by_min_risk_is_decided_by_the_riskiest_change<A: AuditLog + AuditReader>(
    store: &A,
) {
    let s = Seeded::write(store).await;
    let (e1, e2, e3, e5, e6) = (&s.e1, &s.e2, &s.e3, &s.e5, &s.e6);
    let risk = |r: RiskLevel| AuditFilter {
        min_risk: Some(r),
        ..s.mine()
    };
    s.check(
        store,
        "min risk none",
        risk(RiskLevel::None),
        &[e6, e5, e3, e2, e1],
    )
    .await;
    s.check(
        store,
        "min risk medium",
        risk(RiskLevel::Medium),
        &[e6, e5, e3, e1],
    )
    .await;
    s.check(
        store,
        "min risk critical",
        risk(RiskLevel::Critical),
        &[e6, e1],
    )
    .await;
}

/// By account and region, a query finds that scope's events, combined with any filter.
pub async fn query_by_account_and_region_finds_that_scope<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e2, e3, e5, e6) = (&s.e1, &s.e2, &s.e3, &s.e5, &s.e6);
    let scope = |region: &str| AuditFilter {
        region: Some(region.to_owned()),
        ..s.mine()
    };
    s.check(store, "scope", scope("us-east-1"), &[e2]).await;
    s.check(store, "other scope", scope("eu-west-1"), &[e6, e5, e3, e1])
        .await;
    s.check(
        store,
        "scope and limit",
        AuditFilter {
            limit: Some(3),
            ..scope("eu-west-1")
        },
        &[e6, e5, e3],
    )
    .await;
    s.check(
        store,
        "scope and one day",
        AuditFilter {
            since: Some(at(&days_ago(2, "00:00:00"))),
            until: Some(at(&days_ago(2, "23:59:59"))),
            ..scope("eu-west-1")
        },
        &[e3],
    )
    .await;
    s.check(
        store,
        "scope and outcome",
        AuditFilter {
            outcomes: vec![Outcome::Flagged],
            ..scope("us-east-1")
        },
        &[e2],
    )
    .await;
}

/// Filtered by time, both ends are inclusive, to the second.
pub async fn query_time_bounds_are_inclusive_to_the_second<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e2, e3, e5, e6) = (&s.e1, &s.e2, &s.e3, &s.e5, &s.e6);
    let e3_time = at(&days_ago(2, "10:00:00"));
    s.check(
        store,
        "since",
        AuditFilter {
            since: Some(at(&days_ago(2, "00:00:00"))),
            ..s.mine()
        },
        &[e6, e5, e3],
    )
    .await;
    s.check(
        store,
        "until",
        AuditFilter {
            until: Some(at(&days_ago(2, "23:59:59"))),
            ..s.mine()
        },
        &[e3, e2, e1],
    )
    .await;
    s.check(
        store,
        "since and until on one second",
        AuditFilter {
            since: Some(e3_time),
            until: Some(e3_time),
            ..s.mine()
        },
        &[e3],
    )
    .await;
    s.check(
        store,
        "since one second later",
        AuditFilter {
            since: Some(e3_time + Duration::seconds(1)),
            ..s.mine()
        },
        &[e6, e5],
    )
    .await;
}

/// A time range that holds nothing (in the future, `since` after `until`) finds nothing.
pub async fn query_over_an_empty_time_range_finds_nothing<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let e3_time = at(&days_ago(2, "10:00:00"));
    s.check(
        store,
        "since in the future",
        AuditFilter {
            since: Some(Utc::now() + Duration::days(1)),
            ..s.mine()
        },
        &[],
    )
    .await;
    s.check(
        store,
        "since after until",
        AuditFilter {
            since: Some(e3_time),
            until: Some(e3_time - Duration::seconds(1)),
            rule_id: Some(s.r1.clone()),
            ..base()
        },
        &[],
    )
    .await;
}

/// A limit keeps the newest matches: none for zero, all of them when above their number.
pub async fn query_limit_keeps_the_newest_matches<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    let (e1, e2, e3, e5, e6) = (&s.e1, &s.e2, &s.e3, &s.e5, &s.e6);
    s.check(
        store,
        "limit",
        AuditFilter {
            limit: Some(2),
            ..s.mine()
        },
        &[e6, e5],
    )
    .await;
    s.check(
        store,
        "limit zero",
        AuditFilter {
            limit: Some(0),
            ..s.mine()
        },
        &[],
    )
    .await;
    s.check(
        store,
        "limit above the matches",
        AuditFilter {
            limit: Some(50),
            ..s.mine()
        },
        &[e6, e5, e3, e2, e1],
    )
    .await;
}

/// `raw_event` returns the CloudTrail record stored with an event, `None` for an unknown one.
pub async fn raw_event_returns_the_stored_cloudtrail_record<A: AuditLog + AuditReader>(store: &A) {
    let s = Seeded::write(store).await;
    assert_eq!(store.raw_event(&s.e3).await.unwrap(), Some(raw(&s.e3)));
    assert_eq!(store.raw_event(&s.id("e-never")).await.unwrap(), None);
}
