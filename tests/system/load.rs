//! Load, duplicates and faults on the wire (issue 10 §7): the real `sgguard-lambda` binary,
//! many copies at once, against the local emulator through the fault proxy.
//!
//! - **Duplicates.** Twenty copies of the function receive one world-open Authorize at once:
//!   one revert, every other delivery a duplicate (at once, or after its retry), one record.
//! - **Burst.** `SGGUARD_LOAD_EVENTS` events (200 here, 2,000 in `scripts/soak`) across 50
//!   groups, delivered to 8 copies that share one invoke queue, with Lambda's retries (at most
//!   3 attempts). Unapproved world-open rules, approved ones, low-risk ones and rules that no
//!   event touches: afterwards every event is recorded with its outcome, every unapproved
//!   risky rule is gone, every other rule is still there, and nothing failed for good.
//! - **Faults.** The same burst with a fifth of all requests (EC2 and DynamoDB) throttled,
//!   answered 500 or dropped by the proxy; what still fails after 3 attempts is redriven once
//!   with `sgguard respond`. Nothing is lost, nothing reverted twice, nothing reverted wrongly:
//!   the proxy's log counts the Revoke requests that reached EC2, per rule id.
//!
//! Each run prints its figures (shown with `--no-capture`): events per second, the p50 and p99
//! of an invocation's round trip, AWS requests per event, retries, and lost / double reverts /
//! wrong reverts. The figures describe this machine and the emulator; the tests assert only
//! the invariants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, Ipv6Range, SecurityGroupRule};
use serde_json::Value;
use sgguard_aws::DynamoAllowlist;
use sgguard_core::AllowEntry;
use sgguard_responder::{AllowlistChange, AllowlistStore, AuditLog};
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{Vpc, ids, tcp, v4};
use sgguard_testkit::fault_proxy::{Fault, FaultProxy, Logged};
use sgguard_testkit::runtime_api::Invocation;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::support::{ACCOUNT, Function, Pool, REGION, World, built, outcome, world};

/// Copies of the function in the burst: Lambda's concurrent executions.
const PROCESSES: usize = 8;
/// Groups the burst's events are spread over (more when the events would not fit: the
/// emulator holds at most 60 rules per group).
const GROUPS: usize = 50;
/// Events in the burst unless `SGGUARD_LOAD_EVENTS` says otherwise (`scripts/soak`: 2,000).
const DEFAULT_EVENTS: usize = 200;
/// Lambda's asynchronous invocation: the first attempt and two retries.
const ATTEMPTS: usize = 3;
/// The function's timeout (`infra/template.yaml`).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

fn events_wanted() -> usize {
    std::env::var("SGGUARD_LOAD_EVENTS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("SGGUARD_LOAD_EVENTS=`{v}` is not a count"))
        })
        .unwrap_or(DEFAULT_EVENTS)
}

/// The share of requests the proxy fails in the faults burst: 20%, or `SGGUARD_LOAD_FAULTS`
/// (0 to 1) to explore.
fn fault_share() -> f64 {
    std::env::var("SGGUARD_LOAD_FAULTS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or(0.2, |v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("SGGUARD_LOAD_FAULTS=`{v}` is not a share"))
        })
}

// ---------------------------------------------------------------------------------------
// Duplicates
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_processes_given_one_event_at_once_revert_it_once() {
    let Some(w) = world("twenty_processes_given_one_event_at_once_revert_it_once").await else {
        return;
    };
    let web = w.vpc.group("dup").await;
    let event_id = sgguard_testkit::aws::unique("load-dup");
    let (created, record) = w
        .vpc
        .authorize_as(
            &event_id,
            &Caller::user(ACCOUNT, "mallory"),
            ACCOUNT,
            REGION,
            &web,
            vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let rule = ids(&created)[0].clone();
    // No faults: the proxy only counts and logs what reaches the emulator.
    let proxy = FaultProxy::start(&w.endpoint).await.unwrap();
    let mut functions = Vec::new();
    for _ in 0..20 {
        functions.push(Arc::new(
            Function::start(&proxy.url(), &w.tables, "enforce").await,
        ));
    }
    let envelope = cloudtrail::envelope(&record);
    let mut deliveries = JoinSet::new();
    for (n, function) in functions.iter().enumerate() {
        let (function, envelope) = (function.clone(), envelope.clone());
        deliveries.spawn(async move { (n, function.deliver(envelope).await) });
    }
    let mut answers: Vec<(usize, Invocation)> = deliveries.join_all().await;
    answers.sort_by_key(|(n, _)| *n);

    let mut reverted = 0;
    let mut duplicates = 0;
    let mut retried = 0;
    for (n, answer) in &answers {
        match answer {
            Invocation::Response(report) if outcome(report) == "reverted" => reverted += 1,
            Invocation::Response(report) => {
                assert_eq!(outcome(report), "duplicate", "delivery {n}: {report:#}");
                duplicates += 1;
            }
            // Another copy held the event's lease: Lambda retries, and the retry finds the
            // event settled.
            Invocation::Error { error_type, .. } => {
                assert_eq!(error_type, "Retryable", "delivery {n}: {answer:?}");
                let again = functions[*n].invoke(&record).await;
                assert_eq!(
                    outcome(&again),
                    "duplicate",
                    "delivery {n} retried: {again:#}"
                );
                retried += 1;
            }
        }
    }
    let revokes = revokes_by_rule(&proxy.requests());
    eprintln!(
        "duplicates: 20 deliveries at once: {reverted} reverted, {duplicates} duplicate, {retried} retried then duplicate; Revoke requests for {rule}: {}; AWS requests {}",
        revokes.get(&rule).copied().unwrap_or(0),
        proxy.counts().total()
    );
    assert_eq!(reverted, 1, "exactly one delivery reverts: {answers:#?}");
    assert_eq!(
        revokes.get(&rule).copied(),
        Some(1),
        "one Revoke reached EC2"
    );
    assert_eq!(revokes.len(), 1, "nothing else was revoked: {revokes:?}");
    assert!(!w.vpc.ingress_ids(&web).await.contains(&rule));

    // Recorded once: one event item with its one change, one version in the rule's history.
    let stored = w.audit.event(&event_id).await.unwrap().expect("recorded");
    assert_eq!(stored.outcome.as_str(), "reverted");
    assert_eq!(stored.changes.len(), 1);
    let items = audit_items(&w, &event_id).await;
    let count = |prefix: &str| items.iter().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(
        (count("EVENT"), count("CHANGE#")),
        (1, 1),
        "one event item and one change item: {items:?}"
    );
    let history = w.audit.rule_history(&rule).await.unwrap();
    assert_eq!(history.len(), 1, "{history:#?}");
    assert_eq!(history[0].outcome.as_str(), "reverted");
}

/// The sort keys of the audit table's items for one event.
async fn audit_items(w: &World, event_id: &str) -> Vec<String> {
    let dynamo = aws_sdk_dynamodb::Client::new(&sgguard_testkit::aws::config(&w.endpoint).await);
    let items = dynamo
        .query()
        .table_name(&w.tables.audit)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#{event_id}")),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut keys: Vec<String> = items
        .iter()
        .filter_map(|item| item.get("sk")?.as_s().ok().cloned())
        .collect();
    keys.sort();
    keys
}

/// A retry that takes an interrupted event over, and whose take-over is applied but answered
/// too late (the SDK's attempt timeout, 3 s: it sends the update again, and the second one
/// finds the lease taken, by itself), still acts: the lease it finds is its own. Before the
/// fix it failed as "being handled by another worker", and so did every delivery until its
/// own lease expired (90 s), which a burst on a loaded emulator turned into dead letters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_over_whose_answer_was_lost_is_still_ours() {
    let Some(w) = world("a_take_over_whose_answer_was_lost_is_still_ours").await else {
        return;
    };
    let web = w.vpc.group("late").await;
    let event_id = sgguard_testkit::aws::unique("load-late");
    let (created, record) = w
        .vpc
        .authorize_as(
            &event_id,
            &Caller::user(ACCOUNT, "mallory"),
            ACCOUNT,
            REGION,
            &web,
            vec![tcp(3389).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let rule = ids(&created)[0].clone();
    let proxy = FaultProxy::start(&w.endpoint).await.unwrap();
    let function = Function::start(&proxy.url(), &w.tables, "enforce").await;

    // First delivery: EC2 throttles every attempt at the revoke; the event stays pending and
    // its lease is released for the retry.
    proxy.fail("RevokeSecurityGroupIngress", Fault::Throttle, 3);
    let first = function.deliver(cloudtrail::envelope(&record)).await;
    assert!(
        matches!(&first, Invocation::Error { error_type, .. } if error_type == "Retryable"),
        "{first:?}"
    );
    let stored = w.audit.event(&event_id).await.unwrap().expect("recorded");
    assert_eq!(stored.outcome.as_str(), "pending");

    // The retry takes the event over; the update that takes it is applied, its answer lost.
    proxy.fail(
        "UpdateItem",
        Fault::Late {
            delay: Duration::from_secs(4),
        },
        1,
    );
    let retried = function.deliver(cloudtrail::envelope(&record)).await;
    let takeovers = proxy
        .requests()
        .iter()
        .filter(|r| r.operation == "UpdateItem" && r.reached())
        .count();
    assert!(takeovers >= 2, "the take-over was sent again: {takeovers}");
    match &retried {
        Invocation::Response(report) => {
            assert_eq!(outcome(report), "reverted", "{report:#}");
        }
        Invocation::Error { error_message, .. } => {
            panic!("the retry holds the lease itself, yet gave up: {error_message}")
        }
    }
    assert!(!w.vpc.ingress_ids(&web).await.contains(&rule));
    assert_eq!(revokes_by_rule(&proxy.requests()).get(&rule), Some(&1));
}

// ---------------------------------------------------------------------------------------
// Burst, without and with faults on the wire
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_fifty_groups_is_recorded_and_enforced_exactly() {
    let Some(w) = world("a_burst_across_fifty_groups_is_recorded_and_enforced_exactly").await
    else {
        return;
    };
    burst(w, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_a_fifth_of_requests_failing_loses_nothing_and_reverts_once() {
    let Some(w) =
        world("a_burst_with_a_fifth_of_requests_failing_loses_nothing_and_reverts_once").await
    else {
        return;
    };
    burst(w, Some(fault_share())).await;
}

/// What one event of the burst does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// World-open on a port no entry approves: reverted.
    Unapproved,
    /// World-open on a port the `load-public-app` entry approves: stays.
    Approved,
    /// A private source: low risk, flagged, stays.
    LowRisk,
    /// One call with two permissions, one unapproved and one approved: the first is
    /// reverted, the second stays.
    Mixed,
}

const KINDS: [Kind; 4] = [Kind::Unapproved, Kind::Approved, Kind::LowRisk, Kind::Mixed];

impl Kind {
    fn outcome(self) -> &'static str {
        match self {
            Self::Unapproved | Self::Mixed => "reverted",
            Self::Approved => "approved",
            Self::LowRisk => "flagged",
        }
    }

    /// The permissions of the `k`th event in a group (`k` keeps ports unique in the group).
    fn permissions(self, k: usize) -> Vec<IpPermission> {
        let k = i32::try_from(k).unwrap();
        let unapproved = if k % 2 == 0 {
            tcp(UNAPPROVED_PORTS + k).ip_ranges(v4("0.0.0.0/0")).build()
        } else {
            tcp(UNAPPROVED_PORTS + k)
                .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                .build()
        };
        let approved = tcp(APPROVED_PORTS + k).ip_ranges(v4("0.0.0.0/0")).build();
        match self {
            Self::Unapproved => vec![unapproved],
            Self::Approved => vec![approved],
            Self::LowRisk => vec![tcp(LOW_RISK_PORTS + k).ip_ranges(v4("10.0.0.0/8")).build()],
            Self::Mixed => vec![unapproved, approved],
        }
    }
}

/// World-open ports from here to +999 are unapproved (high risk: no sensitive port).
const UNAPPROVED_PORTS: i32 = 30_000;
/// Ports from here to +999 are opened to a private range (low risk).
const LOW_RISK_PORTS: i32 = 20_000;
/// World-open ports from here to +999 are approved by the `load-public-app` entry.
const APPROVED_PORTS: i32 = 10_000;

/// One event of the burst, with the rules it created.
#[derive(Debug, Clone)]
struct Planned {
    event_id: String,
    kind: Kind,
    group: String,
    envelope: Value,
    /// Created by the event, unapproved: must be gone.
    revert: Vec<String>,
    /// Created by the event, approved or low risk: must stay.
    keep: Vec<String>,
}

/// The burst's world on the emulator: groups with rules no event touches, and the events.
#[derive(Debug)]
struct Scenario {
    groups: Vec<String>,
    events: Vec<Planned>,
    /// Rules in the groups before any event (a world-open SSH rule among them): must stay.
    pre_existing: Vec<String>,
}

impl Scenario {
    async fn create(vpc: &Vpc, events: usize) -> Self {
        let groups = GROUPS.max(events.div_ceil(40));
        let run = sgguard_testkit::aws::unique("load");
        // Each lane creates its groups one at a time, and in each group the events in order,
        // so the rules a call created are what the group holds after it and not before.
        let lanes = 8.min(groups);
        let mut set = JoinSet::new();
        for lane in 0..lanes {
            let (vpc, run) = (vpc.clone(), run.clone());
            set.spawn(async move {
                let mut out = Vec::new();
                for g in (lane..groups).step_by(lanes) {
                    let indexes: Vec<usize> = (g..events).step_by(groups).collect();
                    out.push((g, fill_group(&vpc, &run, g, &indexes, groups).await));
                }
                out
            });
        }
        let mut filled: Vec<(usize, Filled)> = set.join_all().await.into_iter().flatten().collect();
        filled.sort_by_key(|(g, _)| *g);
        let mut scenario = Self {
            groups: Vec::new(),
            events: Vec::new(),
            pre_existing: Vec::new(),
        };
        for (_, filled) in filled {
            scenario.groups.push(filled.group);
            scenario.pre_existing.extend(filled.pre_existing);
            scenario.events.extend(filled.planned);
        }
        // Delivered in the order they were made: interleaved across the groups.
        scenario.events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        scenario
    }

    fn must_go(&self) -> HashSet<&str> {
        self.events
            .iter()
            .flat_map(|e| &e.revert)
            .map(String::as_str)
            .collect()
    }

    fn must_stay(&self) -> HashSet<&str> {
        self.events
            .iter()
            .flat_map(|e| &e.keep)
            .chain(&self.pre_existing)
            .map(String::as_str)
            .collect()
    }
}

/// One group of the burst, made.
#[derive(Debug)]
struct Filled {
    group: String,
    pre_existing: Vec<String>,
    planned: Vec<Planned>,
}

/// Creates group `g` with two rules no event touches, then the events `indexes` (global
/// indexes into the burst) in it, each read back to build its CloudTrail record.
async fn fill_group(vpc: &Vpc, run: &str, g: usize, indexes: &[usize], groups: usize) -> Filled {
    let group = vpc.group(&format!("load-{g}")).await;
    vpc.authorize(
        &group,
        vec![
            tcp(22).ip_ranges(v4("0.0.0.0/0")).build(),
            tcp(80).ip_ranges(v4("10.0.0.0/8")).build(),
        ],
    )
    .await;
    let mut known = vpc.ingress_rules(&group).await;
    let pre_existing = ids(&known);
    assert_eq!(pre_existing.len(), 2, "{known:?}");
    let caller = Caller::role(ACCOUNT, "Admin", "load-tester");
    let mut planned = Vec::new();
    for (k, &i) in indexes.iter().enumerate() {
        // Every kind in every group, in turn.
        let kind = KINDS[(i + i / groups) % KINDS.len()];
        let permissions = kind.permissions(k);
        vpc.authorize(&group, permissions.clone()).await;
        let now = vpc.ingress_rules(&group).await;
        let old: HashSet<String> = ids(&known).into_iter().collect();
        let created: Vec<SecurityGroupRule> = now
            .iter()
            .filter(|r| !old.contains(r.security_group_rule_id().unwrap_or_default()))
            .cloned()
            .collect();
        assert_eq!(created.len(), permissions.len(), "one rule per permission");
        known = now;
        let event_id = format!("{run}-{i:06}");
        let record = cloudtrail::authorize(
            cloudtrail::Call {
                event_id: &event_id,
                account: ACCOUNT,
                region: REGION,
                caller: &caller,
            },
            false,
            &group,
            &permissions,
            &created,
        );
        let (revert, keep): (Vec<&SecurityGroupRule>, Vec<&SecurityGroupRule>) =
            created.iter().partition(|r| {
                r.from_port()
                    .is_some_and(|p| (UNAPPROVED_PORTS..UNAPPROVED_PORTS + 1000).contains(&p))
            });
        let rule_ids = |rules: Vec<&SecurityGroupRule>| {
            rules
                .into_iter()
                .filter_map(|r| r.security_group_rule_id().map(str::to_owned))
                .collect()
        };
        planned.push(Planned {
            event_id,
            kind,
            group: group.clone(),
            envelope: cloudtrail::envelope(&record),
            revert: rule_ids(revert),
            keep: rule_ids(keep),
        });
    }
    Filled {
        group,
        pre_existing,
        planned,
    }
}

/// Approves world-open tcp 10000-10999: the burst's approved rules.
async fn approve_public_app_ports(w: &World) {
    let config = sgguard_testkit::aws::config(&w.endpoint).await;
    let allowlist = DynamoAllowlist::new(
        aws_sdk_dynamodb::Client::new(&config),
        &w.tables.allowlist,
        &w.tables.audit,
    );
    let mut entry = AllowEntry::new("load-public-app", "apps@example.com", "APP-1 public ports");
    entry.protocol = sgguard_core::Protocol::Tcp;
    entry.ports = sgguard_core::PortRange {
        from: 10_000,
        to: 10_999,
    };
    entry.cidrs = vec!["0.0.0.0/0".parse().unwrap()];
    let change = AllowlistChange {
        at: "2026-11-26T00:00:00Z".into(),
        by: "load test".into(),
        action: "add".into(),
        entry_id: entry.id.clone(),
        detail: String::new(),
    };
    allowlist.put(&entry, &change).await.unwrap();
}

/// What the invocations of one event said, attempt by attempt.
#[derive(Debug)]
struct Delivered {
    attempts: Vec<(Duration, Result<Invocation, String>)>,
}

impl Delivered {
    /// The report of the attempt that succeeded, if one did.
    fn report(&self) -> Option<&Value> {
        match self.attempts.last() {
            Some((_, Ok(Invocation::Response(report)))) => Some(report),
            _ => None,
        }
    }

    fn failure(&self) -> String {
        match self.attempts.last() {
            Some((
                _,
                Ok(Invocation::Error {
                    error_type,
                    error_message,
                }),
            )) => format!("{error_type}: {error_message}"),
            Some((_, Err(no_answer))) => no_answer.clone(),
            _ => "no attempt".into(),
        }
    }
}

/// Invokes every event through the pool's shared queue, at most `PROCESSES` at a time (so a
/// round trip is the handling, not the wait in the queue), each with Lambda's retries: a
/// failed attempt is delivered again, up to `ATTEMPTS` in all. Lambda waits a minute, then
/// two, before its retries; the burst waits a second, then two (an attempt that fails
/// releases its event's lease, so a retry may start at once). An attempt whose claim timed
/// out cannot release a lease it does not know it got, and the claim may still be applied:
/// the event's lease is then held for its 90 s, longer than these retries, and the event
/// ends in the dead letters, where Lambda's own retries would have found it free. The
/// redrive waits for such leases to expire (a redrive minutes later finds them expired).
async fn deliver_all(pool: Arc<Pool>, events: &[Planned]) -> Vec<Delivered> {
    let slots = Arc::new(Semaphore::new(PROCESSES));
    let mut set = JoinSet::new();
    for (index, event) in events.iter().enumerate() {
        let (pool, slots, envelope) = (pool.clone(), slots.clone(), event.envelope.clone());
        set.spawn(async move {
            let mut attempts = Vec::new();
            for attempt in 1..=ATTEMPTS {
                let slot = slots.acquire().await.unwrap();
                let started = Instant::now();
                let answer = pool.deliver(envelope.clone(), FUNCTION_TIMEOUT).await;
                let took = started.elapsed();
                drop(slot);
                let done = matches!(answer, Ok(Invocation::Response(_)));
                attempts.push((took, answer));
                if done {
                    break;
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(attempt as u64)).await;
                }
            }
            (index, Delivered { attempts })
        });
    }
    let mut delivered = set.join_all().await;
    delivered.sort_by_key(|(index, _)| *index);
    delivered.into_iter().map(|(_, d)| d).collect()
}

/// How many Revoke calls reached EC2 (forwarded, whatever EC2 answered), per rule id. The
/// SDK's retries of one call (the same invocation id: an attempt that timed out) are one
/// call. A Revoke by content (no rule id) is counted under `""`.
fn revokes_by_rule(requests: &[Logged]) -> BTreeMap<String, usize> {
    let mut calls: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (n, request) in requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.operation.starts_with("RevokeSecurityGroup") && r.reached())
    {
        let call = request
            .invocation
            .clone()
            .unwrap_or_else(|| format!("request {n}"));
        let ids = request.values("SecurityGroupRuleId.");
        if ids.is_empty() {
            calls.entry(String::new()).or_default().insert(call.clone());
        }
        for id in ids {
            calls.entry(id.to_owned()).or_default().insert(call.clone());
        }
    }
    calls.into_iter().map(|(id, c)| (id, c.len())).collect()
}

/// The emulator's answer times per operation (p50 / p99 / max), slowest p99 first.
fn emulator_times(requests: &[Logged]) -> String {
    let mut by_operation: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for r in requests.iter().filter(|r| r.reached()) {
        by_operation
            .entry(r.operation.as_str())
            .or_default()
            .push(r.took);
    }
    let mut all: Vec<Duration> = by_operation.values().flatten().copied().collect();
    all.sort();
    let mut rows: Vec<(Duration, String)> = by_operation
        .into_iter()
        .map(|(op, mut times)| {
            times.sort();
            let p99 = percentile(&times, 99);
            (
                p99,
                format!(
                    "{op} {:.0?}/{p99:.0?}/{:.0?}",
                    percentile(&times, 50),
                    times.last().copied().unwrap_or_default()
                ),
            )
        })
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
    let rows: Vec<String> = rows.into_iter().take(5).map(|(_, row)| row).collect();
    format!(
        "all p50 {:.0?}, p99 {:.0?}; {}",
        percentile(&all, 50),
        percentile(&all, 99),
        rows.join(", ")
    )
}

/// The `p`th percentile (0 to 100) of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `sgguard respond --mode enforce` over dead letters, as an operator redrives the
/// dead-letter queue: one run, through `endpoint`. Returns each line's JSON and the exit
/// status.
async fn redrive(
    w: &World,
    endpoint: &str,
    dead_letters: &[Value],
) -> (Vec<Value>, Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dead-letters.jsonl");
    let lines: Vec<String> = dead_letters.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut command = std::process::Command::new(built("sgguard"));
    for var in [
        "SGGUARD_STORE",
        "SGGUARD_MODE",
        "SGGUARD_SELF_ARNS",
        "SGGUARD_MEMBER_ROLE_NAME",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ] {
        command.env_remove(var);
    }
    command
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "respond", "--mode", "enforce", "--format", "json", "--store", "dynamodb",
        ])
        .args(["--aws-region", REGION, "--endpoint-url", endpoint])
        .args([
            "--audit-table",
            &w.tables.audit,
            "--allowlist-table",
            &w.tables.allowlist,
        ])
        .arg(&file);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run sgguard respond");
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        lines,
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits until no lease on these events is held: an attempt that failed and could not
/// release its lease (the release itself failed) holds it for 90 s. In AWS the dead-letter
/// queue is redriven minutes later; the burst compresses time, so it waits here instead.
async fn wait_for_leases(w: &World, event_ids: &[&str]) -> Duration {
    let dynamo = aws_sdk_dynamodb::Client::new(&sgguard_testkit::aws::config(&w.endpoint).await);
    let mut latest = 0_i64;
    for event_id in event_ids {
        let item = dynamo
            .get_item()
            .table_name(&w.tables.audit)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#{event_id}")),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("EVENT".into()),
            )
            .send()
            .await
            .unwrap()
            .item;
        let until = item
            .as_ref()
            .and_then(|i| i.get("lease_until"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0);
        latest = latest.max(until);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if latest < now {
        return Duration::ZERO;
    }
    let wait = Duration::from_secs(u64::try_from(latest - now).unwrap_or(0) + 1);
    tokio::time::sleep(wait).await;
    wait
}

/// The burst: `events_wanted()` events, handled by `PROCESSES` copies of the function
/// through the proxy, which fails `faults` of all requests when given.
async fn burst(w: World, faults: Option<f64>) {
    let n = events_wanted();
    let label = match faults {
        Some(share) => format!("burst with {:.0}% faults", share * 100.0),
        None => "burst".to_owned(),
    };
    approve_public_app_ports(&w).await;
    let setup = Instant::now();
    let scenario = Scenario::create(&w.vpc, n).await;
    eprintln!(
        "{label}: {n} events in {} groups made on the emulator in {:.1?}",
        scenario.groups.len(),
        setup.elapsed()
    );

    let proxy = FaultProxy::start(&w.endpoint).await.unwrap();
    // The production allowlist cache (30 s): the figures are those of a deployed function.
    let pool = Arc::new(
        Pool::start(
            PROCESSES,
            &proxy.url(),
            &w.tables,
            "enforce",
            &[("SGGUARD_ALLOWLIST_CACHE_SECS", "30")],
        )
        .await,
    );
    if let Some(share) = faults {
        proxy.fail_share(
            share,
            vec![Fault::Throttle, Fault::ServerError, Fault::Drop],
        );
    }
    let started = Instant::now();
    let delivered = deliver_all(pool.clone(), &scenario.events).await;
    let elapsed = started.elapsed();
    proxy.heal();
    let live_requests = proxy.counts().total();
    let faulted = proxy
        .counts()
        .faulted
        .load(std::sync::atomic::Ordering::Relaxed);
    drop(pool);

    // What still failed after Lambda's attempts goes to the dead-letter queue, and is
    // redriven once, through the (healed) proxy so its Revokes are counted too.
    let failed: Vec<usize> = (0..n)
        .filter(|&i| delivered[i].report().is_none())
        .collect();
    let mut redriven: HashMap<String, Value> = HashMap::new();
    let mut lease_wait = Duration::ZERO;
    if !failed.is_empty() {
        for &i in &failed {
            eprintln!(
                "{label}: {} failed {ATTEMPTS} times, last: {}",
                scenario.events[i].event_id,
                delivered[i].failure()
            );
        }
        let ids: Vec<&str> = failed
            .iter()
            .map(|&i| scenario.events[i].event_id.as_str())
            .collect();
        lease_wait = wait_for_leases(&w, &ids).await;
        let letters: Vec<Value> = failed
            .iter()
            .map(|&i| cloudtrail::dead_letter(&scenario.events[i].envelope))
            .collect();
        let (lines, status, stderr) = redrive(&w, &proxy.url(), &letters).await;
        assert_eq!(
            status,
            Some(0),
            "the redrive processed every dead letter: {stderr}\n{lines:#?}"
        );
        for line in lines {
            let id = line["event_id"].as_str().unwrap_or_default().to_owned();
            redriven.insert(id, line);
        }
    }

    // Invocation answers: the outcome each event ended with.
    let mut wrong_answers = Vec::new();
    for (event, d) in scenario.events.iter().zip(&delivered) {
        let answer = d
            .report()
            .or_else(|| redriven.get(&event.event_id))
            .map(|r| outcome(r).to_owned());
        // A retry or the redrive finds `duplicate` when an earlier attempt finished the event
        // but failed after all (its answer lost): the stored outcome is checked below.
        let retried = d.attempts.len() > 1 || d.report().is_none();
        let fine = answer.as_deref() == Some(event.kind.outcome())
            || (answer.as_deref() == Some("duplicate") && retried);
        if !fine {
            wrong_answers.push(format!(
                "{} ({:?}): answered {answer:?}, expected {}",
                event.event_id,
                event.kind,
                event.kind.outcome()
            ));
        }
    }

    // The audit table: every event recorded once, with its final outcome.
    let mut lost = Vec::new();
    let mut wrong_outcomes = Vec::new();
    let stored = stored_outcomes(&w, &scenario.events).await;
    for event in &scenario.events {
        match stored.get(&event.event_id).map(String::as_str) {
            None | Some("pending") => lost.push(event.event_id.clone()),
            Some(o) if o != event.kind.outcome() => wrong_outcomes.push(format!(
                "{} ({:?} in {}): recorded {o}, expected {}",
                event.event_id,
                event.kind,
                event.group,
                event.kind.outcome()
            )),
            Some(_) => {}
        }
    }

    // EC2: every unapproved rule gone, every other rule there.
    let mut present = HashSet::new();
    for group in &scenario.groups {
        present.extend(w.vpc.ingress_ids(group).await);
    }
    let must_go = scenario.must_go();
    let must_stay = scenario.must_stay();
    let left: Vec<&str> = must_go
        .iter()
        .copied()
        .filter(|id| present.contains(*id))
        .collect();
    let missing: Vec<&str> = must_stay
        .iter()
        .copied()
        .filter(|id| !present.contains(*id))
        .collect();

    // The proxy's log: which rules a Revoke named, how many times.
    let revokes = revokes_by_rule(&proxy.requests());
    let double: Vec<(&String, &usize)> = revokes.iter().filter(|(_, c)| **c > 1).collect();
    let wrongly: Vec<&String> = revokes
        .keys()
        .filter(|id| !must_go.contains(id.as_str()))
        .collect();
    let unrevoked: Vec<&&str> = must_go
        .iter()
        .filter(|id| !revokes.contains_key(**id))
        .collect();

    // Figures.
    let mut latencies: Vec<Duration> = delivered
        .iter()
        .flat_map(|d| d.attempts.iter().map(|(took, _)| *took))
        .collect();
    latencies.sort();
    let invocations = latencies.len();
    let retries = invocations - n;
    let retried_events = delivered.iter().filter(|d| d.attempts.len() > 1).count();
    let causes = failure_causes(&delivered);
    let per_event = |count: usize| count as f64 / n as f64;
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for o in stored.values() {
        *outcomes.entry(o.as_str()).or_default() += 1;
    }
    let top: Vec<String> = proxy
        .counts()
        .by_operation()
        .iter()
        .take(8)
        .map(|(op, count)| format!("{op} {:.2}", per_event(*count)))
        .collect();
    let requests = proxy.requests();
    let emulator = emulator_times(&requests);
    let sdk_retries = requests.iter().filter(|r| r.attempt > 1).count();
    eprintln!(
        "\n=== {label}: {n} events, {} groups, {PROCESSES} processes ===\n\
         handled in {elapsed:.2?}: {:.1} events/s\n\
         invocation round trip: p50 {:.1?}, p99 {:.1?}, max {:.1?} ({invocations} invocations)\n\
         AWS requests: {live_requests} during the burst, {:.2} per event; {faulted} failed by the proxy ({:.1}%), each retried by the SDK or by Lambda\n\
         per event: {}\n\
         emulator answer time (through the proxy): {emulator}\n\
         retries: {sdk_retries} by the SDK; {retries} by Lambda over {retried_events} events; {} failed {ATTEMPTS} attempts and were redriven{}\n\
         failed attempts by cause: {causes}\n\
         outcomes recorded: {outcomes:?}\n\
         lost {}, double reverts {}, wrong reverts {}\n",
        scenario.groups.len(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default(),
        per_event(live_requests),
        100.0 * faulted as f64 / live_requests.max(1) as f64,
        top.join(", "),
        failed.len(),
        if lease_wait.is_zero() {
            String::new()
        } else {
            format!(" (after waiting {lease_wait:.0?} for unreleased leases to expire)")
        },
        lost.len(),
        double.len(),
        wrongly.len() + missing.len(),
    );

    assert!(lost.is_empty(), "{label}: events lost: {lost:?}");
    assert!(double.is_empty(), "{label}: reverted twice: {double:?}");
    assert!(
        wrongly.is_empty(),
        "{label}: Revokes of rules that must stay: {wrongly:?}"
    );
    assert!(
        missing.is_empty(),
        "{label}: approved or pre-existing rules gone: {missing:?}"
    );
    assert!(
        wrong_outcomes.is_empty(),
        "{label}: wrong outcomes recorded:\n{}",
        wrong_outcomes.join("\n")
    );
    assert!(
        wrong_answers.is_empty(),
        "{label}: wrong answers:\n{}",
        wrong_answers.join("\n")
    );
    assert!(left.is_empty(), "{label}: unapproved rules left: {left:?}");
    assert!(
        unrevoked.is_empty(),
        "{label}: unapproved rules gone without a Revoke through the proxy: {unrevoked:?}"
    );
}

/// The failed attempts, counted by cause (their error with event ids and times left out).
fn failure_causes(delivered: &[Delivered]) -> String {
    let mut causes: BTreeMap<String, usize> = BTreeMap::new();
    for (_, answer) in delivered.iter().flat_map(|d| &d.attempts) {
        let text = match answer {
            Ok(Invocation::Response(_)) => continue,
            Ok(Invocation::Error {
                error_type,
                error_message,
            }) => format!("{error_type}: {error_message}"),
            Err(no_answer) => no_answer.clone(),
        };
        let cause: Vec<&str> = text
            .split_whitespace()
            .map(|word| {
                let digits = word.chars().filter(char::is_ascii_digit).count();
                if word.contains("load-") || digits >= 6 {
                    "…"
                } else {
                    word
                }
            })
            .collect();
        *causes.entry(cause.join(" ")).or_default() += 1;
    }
    if causes.is_empty() {
        return "none".into();
    }
    let mut causes: Vec<(String, usize)> = causes.into_iter().collect();
    causes.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    let mut shown: Vec<String> = causes
        .iter()
        .take(8)
        .map(|(cause, count)| format!("{count}× {cause}"))
        .collect();
    if causes.len() > 8 {
        let rest: usize = causes[8..].iter().map(|(_, count)| count).sum();
        shown.push(format!("{rest} more of {} other causes", causes.len() - 8));
    }
    shown.join("; ")
}

/// The outcome stored for each event, read concurrently.
async fn stored_outcomes(w: &World, events: &[Planned]) -> HashMap<String, String> {
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let mut set = JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(8).max(1)) {
        let (audit, chunk) = (w.audit.clone(), chunk.to_vec());
        set.spawn(async move {
            let mut out = Vec::new();
            for id in chunk {
                if let Some(report) = audit.event(&id).await.unwrap() {
                    out.push((id, report.outcome.as_str().to_owned()));
                }
            }
            out
        });
    }
    set.join_all().await.into_iter().flatten().collect()
}
