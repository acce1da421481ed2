//! Fuzz target over everything an event goes through without I/O: bytes → JSON → input
//! (authentication, EventBridge envelope, bare record, log file `Records`, dead letter) →
//! classification → normalization → decision against a small allowlist → the comparison
//! with EC2 before acting (`verify`), against a plausible state of EC2.
//!
//! Inputs are structure-aware. Seeds are the project's own records (`examples/events`, the
//! builders of `sgguard_core::testing`, a few shapes written here, and the published corpus
//! beside the repository when it is there), mutated structurally: a field deleted, any value
//! replaced by an arbitrary one (strings, huge numbers, nested arrays and objects, long and
//! unicode strings), keys renamed, array elements duplicated, subtrees grafted from other
//! records, elements marked `omitted`, event names swapped within the security-group family,
//! `errorCode` set, and the result wrapped in envelopes (forged or not), log files and dead
//! letters. Some cases are bytes: a seed cut short, spliced with odd tokens, flipped, or noise.
//!
//! Each case asserts invariants that can fail (see [`check_record`]), not only "no panic".
//!
//! The run is bounded by time, not by cases: `SGGUARD_FUZZ_SECS` (default 10).
//! `SGGUARD_FUZZ_CASES` runs exactly that many cases instead. `SGGUARD_FUZZ_SEED` reproduces a
//! run (the seed is printed at the start). On a failure the input is shrunk
//! (`SGGUARD_FUZZ_SHRINK_SECS`, default 30), printed with its scenario and saved to a file
//! that `SGGUARD_FUZZ_REPLAY=<file>` runs again under every scenario. The long run (1,000,000
//! cases, release) is `scripts/soak fuzz`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Map, Value, json};
use sgguard_core::allowlist::{RuleFacts, from_toml};
use sgguard_core::event::{RecordClass, SECURITY_GROUP_CALLS};
use sgguard_core::input::{self, CLOUDTRAIL_DETAIL_TYPE, Delivery, EC2_SOURCE};
use sgguard_core::testing::{
    self, ACCOUNT, Authorize, Caller, Record, modify_prefix_list, modify_rules, revoke_by_ids,
    tcp_content,
};
use sgguard_core::time::format_time;
use sgguard_core::verify::Expectation;
use sgguard_core::{
    Action, AllowEntry, Allowlist, Approval, ChangeKind, ChangeSet, Context, Decision, Direction,
    Error, Intents, MEMBER_SESSION_NAME, Mode, ObservedRule, Outcome, Policy, PortRange,
    PrefixList, PrefixLists, Protocol, Reference, RiskLevel, RuleContent, Source, Verdict,
    classify_record, decide, normalize, verify,
};

use crate::properties;

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

#[test]
fn fuzz_the_pipeline_from_bytes_to_verdict() {
    let settings = Settings::from_env();
    install_capture_hook();
    if let Ok(file) = std::env::var("SGGUARD_FUZZ_REPLAY") {
        replay(Path::new(&file));
        return;
    }
    println!(
        "fuzz: seed {} ({}), {} seed records",
        settings.seed,
        match settings.budget {
            Budget::Time(limit) => format!("for {} s", limit.as_secs_f64()),
            Budget::Cases(n) => format!("{n} cases"),
        },
        seeds().len()
    );
    let config = Config {
        max_shrink_time: u32::try_from(settings.shrink.as_millis()).unwrap_or(u32::MAX),
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(settings.seed));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let strategy = fuzz_case();
    let stats = RefCell::new(Stats::default());
    let first_failure: RefCell<Option<(FuzzCase, String)>> = RefCell::new(None);
    let start = Instant::now();
    let mut cases: u64 = 0;
    loop {
        let done = match settings.budget {
            Budget::Cases(n) => cases >= n,
            Budget::Time(limit) => start.elapsed() >= limit,
        };
        if done {
            break;
        }
        let tree = strategy.new_tree(&mut runner).unwrap();
        let result = runner.run_one(tree, |case| match run_check(&case, &stats) {
            Ok(()) => Ok(()),
            Err(message) => {
                first_failure
                    .borrow_mut()
                    .get_or_insert_with(|| (case.clone(), message.clone()));
                Err(TestCaseError::fail(message))
            }
        });
        match result {
            Ok(_) => cases += 1,
            Err(TestError::Fail(_, shrunk)) => {
                let message = run_check(&shrunk, &stats)
                    .err()
                    .unwrap_or_else(|| "(the shrunk input passes when run again)".into());
                let first = first_failure.borrow_mut().take();
                report_failure(&settings, cases, first, &shrunk, &message);
                panic!("fuzz: case {} failed: {message}", cases + 1);
            }
            Err(TestError::Abort(why)) => panic!("fuzz: aborted: {why}"),
        }
    }
    let elapsed = start.elapsed();
    let stats = stats.into_inner();
    println!(
        "fuzz: {cases} cases in {:.1} s ({:.0} cases/s), seed {}",
        elapsed.as_secs_f64(),
        cases as f64 / elapsed.as_secs_f64().max(1e-9),
        settings.seed
    );
    println!("fuzz: {stats}");
    stats.assert_not_vacuous(cases);
}

/// How long to run, and how to reproduce it.
#[derive(Debug)]
struct Settings {
    budget: Budget,
    seed: u64,
    shrink: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Budget {
    Time(Duration),
    Cases(u64),
}

impl Settings {
    fn from_env() -> Self {
        let number = |name: &str| {
            std::env::var(name).ok().map(|text| {
                text.trim()
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}=`{text}` is not a whole number"))
            })
        };
        let budget = match number("SGGUARD_FUZZ_CASES") {
            Some(cases) => Budget::Cases(cases),
            None => Budget::Time(Duration::from_secs(
                number("SGGUARD_FUZZ_SECS").unwrap_or(10),
            )),
        };
        let seed = number("SGGUARD_FUZZ_SEED").unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        });
        Self {
            budget,
            seed,
            shrink: Duration::from_secs(number("SGGUARD_FUZZ_SHRINK_SECS").unwrap_or(30)),
        }
    }
}

/// The 32-byte ChaCha seed for one 64-bit run seed.
fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word = seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// Prints everything needed to reproduce a failure, and saves the shrunk input.
fn report_failure(
    settings: &Settings,
    passed: u64,
    first: Option<(FuzzCase, String)>,
    shrunk: &FuzzCase,
    message: &str,
) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!(
        "fuzz-failure-{}-{}.json",
        settings.seed,
        passed + 1
    ));
    let saved = fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&file, &shrunk.bytes))
        .map(|()| file.display().to_string())
        .unwrap_or_else(|e| format!("(not saved: {e})"));
    println!(
        "fuzz: FAILED at case {} (seed {})",
        passed + 1,
        settings.seed
    );
    println!("  failure:  {message}");
    if let Some((case, why)) = first {
        println!("  as generated, failing with: {why}");
        println!("    {case:?}");
    }
    println!("  shrunk:");
    println!("    {shrunk:?}");
    println!("  saved the shrunk input to {saved}");
    println!(
        "  reproduce the run:  SGGUARD_FUZZ_SEED={} SGGUARD_FUZZ_CASES={} cargo test -p sgguard-core --release --test it fuzz -- --nocapture",
        settings.seed,
        passed + 1
    );
    println!(
        "  replay the input:   SGGUARD_FUZZ_REPLAY={saved} cargo test -p sgguard-core --test it fuzz -- --nocapture"
    );
}

/// Runs one saved input under every scenario. A relative path is taken from the workspace
/// root when it is not found where the test runs (the crate's directory).
fn replay(file: &Path) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = if file.is_relative() && !file.exists() {
        &workspace.join(file)
    } else {
        file
    };
    let bytes = fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let stats = RefCell::new(Stats::default());
    let scenarios = Scenario::all();
    for scenario in &scenarios {
        let case = FuzzCase {
            bytes: bytes.clone(),
            scenario: *scenario,
        };
        if let Err(message) = run_check(&case, &stats) {
            panic!(
                "fuzz replay of {} fails under {scenario:?}: {message}",
                file.display()
            );
        }
    }
    println!(
        "fuzz replay: {} passes under all {} scenarios; {}",
        file.display(),
        scenarios.len(),
        stats.into_inner()
    );
}

// ---------------------------------------------------------------------------------------
// Panics, caught with their location
// ---------------------------------------------------------------------------------------

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that keeps the message and location of a panic on a thread that is running
/// a fuzz case (shrinking runs thousands, which would flood the output), and hands every
/// other panic to the hook that was there before.
fn install_capture_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURING.with(Cell::get) {
                return previous(info);
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".into());
            let location = info
                .location()
                .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                .unwrap_or_default();
            CAPTURED.with(|c| *c.borrow_mut() = Some(format!("{message}{location}")));
        }));
    });
}

/// Runs the checks on one case; a panic (a failed invariant, or a bug) is its message.
fn run_check(case: &FuzzCase, stats: &RefCell<Stats>) -> Result<(), String> {
    CAPTURING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        check_case(case, &mut stats.borrow_mut());
    }));
    CAPTURING.with(|c| c.set(false));
    result.map_err(|_| {
        CAPTURED
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| "a panic".into())
    })
}

// ---------------------------------------------------------------------------------------
// What the run saw, so that a vacuous generator fails the test
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Stats {
    not_json: u64,
    unknown_shape: u64,
    records: u64,
    authentic: u64,
    unrelated: u64,
    failed_calls: u64,
    invalid: u64,
    normalized: u64,
    incomplete: u64,
    own: u64,
    approved: u64,
    reverting_events: u64,
    reverting_changes: u64,
    verified: u64,
    entries: u64,
}

impl Stats {
    /// Every stage must be reached often enough to mean something.
    fn assert_not_vacuous(&self, cases: u64) {
        if cases < 2_000 {
            return;
        }
        let share = |n: u64| n as f64 / cases as f64;
        for (what, n, at_least) in [
            ("records normalized", self.normalized, 0.10),
            ("records rejected as invalid", self.invalid, 0.05),
            ("documents that are not JSON", self.not_json, 0.01),
            ("authentic envelopes", self.authentic, 0.02),
            ("failed calls", self.failed_calls, 0.005),
            ("events with a revert", self.reverting_events, 0.02),
            ("approved events", self.approved, 0.002),
            ("incomplete events", self.incomplete, 0.002),
            ("own actions", self.own, 0.001),
            ("reverts verified", self.verified, 0.01),
            ("prefix-list entries judged", self.entries, 0.001),
        ] {
            assert!(
                share(n) >= at_least,
                "the fuzz is too rarely reaching {what}: {n} of {cases} cases ({self})"
            );
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} not JSON, {} unknown shape, {} records ({} authentic): {} unrelated, {} failed calls, {} invalid, {} normalized ({} incomplete, {} own actions, {} approved, {} with a revert of {} changes, {} reverts verified, {} prefix-list entries judged)",
            self.not_json,
            self.unknown_shape,
            self.records,
            self.authentic,
            self.unrelated,
            self.failed_calls,
            self.invalid,
            self.normalized,
            self.incomplete,
            self.own,
            self.approved,
            self.reverting_events,
            self.reverting_changes,
            self.verified,
            self.entries
        )
    }
}

// ---------------------------------------------------------------------------------------
// One case: bytes and the scenario they are judged in
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct FuzzCase {
    bytes: Vec<u8>,
    scenario: Scenario,
}

impl fmt::Debug for FuzzCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {:?}", self.scenario)?;
        match std::str::from_utf8(&self.bytes) {
            Ok(text) => write!(f, "    input ({} bytes): {text}", self.bytes.len()),
            Err(_) => write!(
                f,
                "    input ({} bytes, not UTF-8): {}",
                self.bytes.len(),
                self.bytes.escape_ascii()
            ),
        }
    }
}

/// How the responder is set up, and what EC2 holds, for one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scenario {
    mode: Mode,
    min_risk: RiskLevel,
    revert_egress: bool,
    /// A live responder (prefix lists and intents read from AWS), or offline.
    live: bool,
    /// What every prefix list the event names holds, when live.
    lists: Lists,
    /// The rules that reference the list a prefix-list call changed, when live.
    references: References,
    /// Whether the responder recorded an intent for every rule the event modifies.
    intents: bool,
    responder: Responder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lists {
    Unresolved,
    WorldOpen,
    Private,
    AwsManaged,
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum References {
    Unknown,
    None,
    IngressAndEgress,
}

/// Who the responder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Responder {
    Nobody,
    /// The caller of the event itself (its role, or its ARN).
    TheCaller,
    /// The examples' responder role.
    OwnRole,
    /// The member role, in the event's account.
    MemberRole,
}

const MODES: [Mode; 2] = [Mode::Audit, Mode::Enforce];
const LISTS: [Lists; 5] = [
    Lists::Unresolved,
    Lists::WorldOpen,
    Lists::Private,
    Lists::AwsManaged,
    Lists::Empty,
];
const REFERENCES: [References; 3] = [
    References::Unknown,
    References::None,
    References::IngressAndEgress,
];
const RESPONDERS: [Responder; 4] = [
    Responder::Nobody,
    Responder::TheCaller,
    Responder::OwnRole,
    Responder::MemberRole,
];
const RESPONDER_ROLE: &str = "arn:aws:iam::111122223333:role/sgguard-responder";
const MEMBER_ROLE: &str = "arn:aws:iam::111122223333:role/sgguard-member";

impl Scenario {
    fn strategy() -> impl Strategy<Value = Scenario> {
        (
            proptest::sample::select(MODES.to_vec()),
            proptest::sample::select(RiskLevel::ALL.to_vec()),
            any::<bool>(),
            any::<bool>(),
            proptest::sample::select(LISTS.to_vec()),
            proptest::sample::select(REFERENCES.to_vec()),
            any::<bool>(),
            prop_oneof![
                3 => Just(Responder::Nobody),
                1 => Just(Responder::TheCaller),
                1 => Just(Responder::OwnRole),
                1 => Just(Responder::MemberRole),
            ],
        )
            .prop_map(
                |(mode, min_risk, revert_egress, live, lists, references, intents, responder)| {
                    Scenario {
                        mode,
                        min_risk,
                        revert_egress,
                        live,
                        lists,
                        references,
                        intents,
                        responder,
                    }
                },
            )
    }

    /// Every scenario, for a replay.
    fn all() -> Vec<Scenario> {
        let mut all = Vec::new();
        for mode in MODES {
            for min_risk in RiskLevel::ALL {
                for revert_egress in [false, true] {
                    for live in [false, true] {
                        for lists in LISTS {
                            for references in REFERENCES {
                                for intents in [false, true] {
                                    for responder in RESPONDERS {
                                        all.push(Scenario {
                                            mode,
                                            min_risk,
                                            revert_egress,
                                            live,
                                            lists,
                                            references,
                                            intents,
                                            responder,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        all
    }

    fn policy(&self, set: &ChangeSet) -> Policy {
        let (self_arns, member_role) = match self.responder {
            Responder::Nobody => (Vec::new(), None),
            Responder::TheCaller => (vec![set.meta.identity.principal.clone()], None),
            Responder::OwnRole => (vec![RESPONDER_ROLE.to_owned()], None),
            Responder::MemberRole => (Vec::new(), Some(MEMBER_ROLE.to_owned())),
        };
        Policy {
            mode: self.mode,
            min_risk: self.min_risk,
            revert_egress: self.revert_egress,
            self_arns,
            member_role,
            ..Policy::default()
        }
    }

    /// What a live responder would have read from EC2 and its audit log for `set`.
    fn gathered(&self, set: &ChangeSet) -> (PrefixLists, Intents) {
        let mut lists = PrefixLists::default();
        let mut intents = Intents::default();
        if !self.live {
            return (lists, intents);
        }
        let mut ids: Vec<&str> = set.prefix_list_id.iter().map(String::as_str).collect();
        for change in &set.changes {
            if let Some(RuleContent {
                source: Source::PrefixList(id),
                ..
            }) = &change.content
            {
                ids.push(id);
            }
        }
        let entries: Vec<ipnet::IpNet> = match self.lists {
            Lists::Unresolved => Vec::new(),
            Lists::WorldOpen | Lists::AwsManaged => {
                vec![net("10.0.0.0/8"), net("0.0.0.0/0"), net("2001:db8::/32")]
            }
            Lists::Private => vec![net("10.0.0.0/8"), net("192.168.0.0/16")],
            Lists::Empty => Vec::new(),
        };
        if self.lists != Lists::Unresolved {
            for id in ids {
                let references = if set.prefix_list_id.as_deref() == Some(id) {
                    match self.references {
                        References::Unknown => None,
                        References::None => Some(Vec::new()),
                        References::IngressAndEgress => Some(vec![
                            reference("sgr-0ref000000000001", Direction::Ingress, tcp_22(id)),
                            reference("sgr-0ref000000000002", Direction::Egress, all_of(id)),
                        ]),
                    }
                } else {
                    None
                };
                lists.insert(PrefixList {
                    id: id.to_owned(),
                    name: Some("fuzz".into()),
                    aws_managed: self.lists == Lists::AwsManaged,
                    version: set.prefix_list_version,
                    busy: false,
                    entries: entries.clone(),
                    references,
                });
            }
        }
        if self.intents {
            for change in &set.changes {
                if let (Some(rule_id), Some(content)) = (&change.rule_id, &change.content) {
                    intents.add(rule_id.clone(), content.clone());
                }
            }
        }
        (lists, intents)
    }
}

fn net(text: &str) -> ipnet::IpNet {
    text.parse().unwrap()
}

fn tcp_22(list: &str) -> RuleContent {
    RuleContent {
        protocol: Protocol::Tcp,
        from_port: Some(22),
        to_port: Some(22),
        source: Source::PrefixList(list.to_owned()),
        description: None,
    }
}

fn all_of(list: &str) -> RuleContent {
    RuleContent {
        protocol: Protocol::All,
        from_port: None,
        to_port: None,
        source: Source::PrefixList(list.to_owned()),
        description: None,
    }
}

fn reference(rule: &str, direction: Direction, content: RuleContent) -> Reference {
    Reference {
        rule_id: rule.to_owned(),
        group_id: "sg-0ref0000000000001".to_owned(),
        direction,
        content,
    }
}

// ---------------------------------------------------------------------------------------
// Seeds: the project's own records
// ---------------------------------------------------------------------------------------

struct Seed {
    name: String,
    doc: Value,
}

fn seeds() -> &'static [Seed] {
    static SEEDS: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS.get_or_init(load_seeds)
}

fn load_seeds() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = built_seeds()
        .into_iter()
        .map(|(name, doc)| Seed {
            name: name.to_owned(),
            doc,
        })
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = root.join("../../examples/events");
    let corpus = root.join("../../../shared/corpus");
    let before = seeds.len();
    for dir in [&examples, &corpus] {
        let Ok(listing) = fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let Ok(text) = fs::read_to_string(&file) else {
                continue; // gzip: the CLI's concern
            };
            if name.ends_with(".jsonl") {
                for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                    seeds.push(Seed {
                        name: format!("{name}:{i}"),
                        doc: serde_json::from_str(line).unwrap(),
                    });
                }
            } else if name.ends_with(".json") {
                seeds.push(Seed {
                    name,
                    doc: serde_json::from_str(&text).unwrap(),
                });
            }
        }
    }
    assert!(
        seeds.len() - before >= 20,
        "the example records in {} are missing",
        examples.display()
    );
    assert!(seeds.iter().all(|s| !s.name.is_empty()));
    seeds
}

const GROUP: &str = "sg-0a1b2c3d4e5f60718";
const LIST: &str = "pl-0a1b2c3d4e5f60718";

/// Shapes the example files do not all show, from the shared builders and written here.
fn built_seeds() -> Vec<(&'static str, Value)> {
    let alice = Caller::user(ACCOUNT, "alice");
    let responder = Caller::role(ACCOUNT, "sgguard-responder", "sgguard-responder");
    let member = Caller::role(ACCOUNT, "sgguard-member", MEMBER_SESSION_NAME);
    let terraform = Caller::role(ACCOUNT, "terraform-deploy", "ci");
    let mixed = Authorize::new("f-01", GROUP)
        .tcp("sgr-0f00000000000001", 22, "0.0.0.0/0")
        .tcp("sgr-0f00000000000002", 22, "203.0.113.0/24")
        .rule("sgr-0f00000000000003", "-1", 0, "::/0")
        .tcp("sgr-0f00000000000004", 443, LIST)
        .tcp("sgr-0f00000000000005", 5432, "sg-0123456789abcdef0")
        .rule("sgr-0f00000000000006", "icmp", 8, "198.51.100.0/22")
        .rule("sgr-0f00000000000007", "50", 0, "2001:db8::/48")
        .build();
    let egress = Authorize::new("f-02", GROUP)
        .egress()
        .rule("sgr-0f00000000000008", "-1", 0, "0.0.0.0/0")
        .tcp("sgr-0f00000000000009", 443, "0.0.0.0/0")
        .build();
    let modify_one = modify_rules(
        "f-06",
        &Caller::user(ACCOUNT, "erin"),
        GROUP,
        &[("sgr-0f00000000000012", tcp_content(22, "0.0.0.0/0"))],
    )
    .build();
    let prefix_list_removal = Record {
        caller: member.clone(),
        ..Record::new(
            "f-10",
            "ModifyManagedPrefixList",
            json!({"ModifyManagedPrefixListRequest": {
                "PrefixListId": LIST, "CurrentVersion": "7",
                "RemoveEntry": {"Cidr": "0.0.0.0/0"},
            }}),
            json!({"ModifyManagedPrefixListResponse": {"prefixList": {"prefixListId": LIST, "version": 7}}}),
        )
    }
    .build();
    let mut top_omitted = Authorize::new("f-14", GROUP)
        .tcp("sgr-0f00000000000014", 3389, "0.0.0.0/0")
        .build();
    top_omitted["omitted"] = json!(true);
    top_omitted["requestParameters"] = Value::Null;
    vec![
        ("authorize-mixed", mixed.clone()),
        ("authorize-egress", egress),
        (
            "authorize-legacy-by-terraform",
            Authorize::new("f-03", GROUP)
                .tcp("sgr-0f00000000000010", 22, "208.236.235.254/0")
                .without_rule_ids()
                .by(terraform)
                .build(),
        ),
        (
            "authorize-by-member",
            Authorize::new("f-04", GROUP)
                .by(member.clone())
                .tcp("sgr-0f00000000000011", 22, "0.0.0.0/0")
                .build(),
        ),
        (
            "authorize-failed",
            Authorize::new("f-05", GROUP)
                .tcp("sgr-0f00000000000011", 22, "0.0.0.0/0")
                .failed("Client.InvalidPermission.Duplicate")
                .build(),
        ),
        ("modify-one", modify_one.clone()),
        (
            "modify-many-by-member",
            modify_rules(
                "f-07",
                &member,
                GROUP,
                &[
                    ("sgr-0f00000000000013", tcp_content(5432, "10.0.0.0/16")),
                    (
                        "sgr-0f00000000000014",
                        json!({"IpProtocol": "-1", "CidrIpv6": "::/0"}),
                    ),
                    (
                        "sgr-0f00000000000015",
                        json!({"IpProtocol": "tcp", "FromPort": "443", "ToPort": "443", "PrefixListId": LIST}),
                    ),
                    (
                        "sgr-0f00000000000016",
                        json!({"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "ReferencedGroupId": "sg-0123456789abcdef0"}),
                    ),
                ],
            )
            .build(),
        ),
        (
            "revoke-by-responder",
            revoke_by_ids(
                "f-08",
                &responder,
                GROUP,
                &["sgr-0f00000000000001".to_owned()],
            )
            .build(),
        ),
        (
            "prefix-list-add",
            modify_prefix_list("f-09", &alice, LIST, 3, &["0.0.0.0/0", "10.1.0.0/16", "2001:db8::/32"])
                .build(),
        ),
        ("prefix-list-remove-by-member", prefix_list_removal),
        (
            "prefix-list-restore",
            Record::new(
                "f-11",
                "RestoreManagedPrefixListVersion",
                json!({"RestoreManagedPrefixListVersionRequest": {"PrefixListId": LIST, "PreviousVersion": 5, "CurrentVersion": 6}}),
                json!({"RestoreManagedPrefixListVersionResponse": {"prefixList": {"prefixListId": LIST, "version": 6}}}),
            )
            .build(),
        ),
        (
            "revoke-egress-rule-set",
            Record::new(
                "f-12",
                "RevokeSecurityGroupEgress",
                json!({"groupId": GROUP, "ipPermissions": {"items": [{"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
                json!({"_return": true, "revokedSecurityGroupRuleSet": {"items": [{
                    "securityGroupRuleId": "sgr-0f00000000000017", "groupId": GROUP, "isEgress": true,
                    "ipProtocol": "-1", "fromPort": -1, "toPort": -1, "cidrIpv4": "0.0.0.0/0"
                }]}}),
            )
            .build(),
        ),
        (
            "authorize-response-omitted",
            Record::new(
                "f-13",
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": GROUP, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
                json!({"omitted": true, "originalSize": 131_072}),
            )
            .build(),
        ),
        ("authorize-request-omitted", top_omitted),
        (
            "create-group",
            Record::new(
                "f-15",
                "CreateSecurityGroup",
                json!({"groupName": "web", "groupDescription": "web tier", "vpcId": "vpc-0a1b2c3d"}),
                json!({"_return": true, "groupId": "sg-0e0e0e0e0e0e0e0e0"}),
            )
            .build(),
        ),
        (
            "delete-group-by-name",
            Record::new(
                "f-16",
                "DeleteSecurityGroup",
                json!({"groupName": "web"}),
                json!({"_return": true}),
            )
            .build(),
        ),
        (
            "describe-egress-by-id",
            Record::new(
                "f-17",
                "UpdateSecurityGroupRuleDescriptionsEgress",
                json!({"groupId": GROUP, "securityGroupRuleDescriptions": {"items": [{"securityGroupRuleId": "sgr-0f00000000000009", "description": "https out"}]}}),
                json!({"_return": true}),
            )
            .build(),
        ),
        (
            "lowercase-identity-naive-time",
            json!({
                "eventID": "f-18", "eventName": "AuthorizeSecurityGroupIngress",
                "eventTime": "2026-11-20 09:00:00.000", "eventSource": "ec2.amazonaws.com",
                "awsRegion": "eu-west-1",
                "useridentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/TestAdmin/alan",
                                 "accountid": 111_122_223_333_u64,
                                 "sessioncontext": {"sessionissuer": {"arn": "arn:aws:iam::111122223333:role/TestAdmin"}}},
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/TestAdmin/alan",
                                 "accountid": "111122223333"},
                "requestParameters": {"groupId": GROUP, "ipPermissions": {"items": [
                    {"ipProtocol": "6", "fromPort": "22", "toPort": "22", "ipRanges": {"items": [{"cidrIp": " 0.0.0.0/0 "}]}}
                ]}},
                "responseElements": {"_return": true}
            }),
        ),
        ("envelope-authorize-mixed", testing::envelope(&mixed)),
        (
            "dead-letter-modify",
            testing::dead_letter(&testing::envelope(&modify_one)),
        ),
        (
            "log-file",
            json!({"Records": [mixed, modify_one, {"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com"}]}),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Keys the mutations add or rename to, besides those of the property tests.
const EXTRA_KEYS: &[&str] = &[
    "omitted",
    "originalSize",
    "ModifyManagedPrefixListRequest",
    "RestoreManagedPrefixListVersionRequest",
    "PrefixListId",
    "prefixListId",
    "CurrentVersion",
    "PreviousVersion",
    "AddEntry",
    "RemoveEntry",
    "Cidr",
    "requestPayload",
    "requestContext",
    "source",
    "id",
    "detail-type",
    "revokedSecurityGroupRuleSet",
    "securityGroupRuleSet",
    "groupOwnerId",
];

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => properties::key(),
        1 => proptest::sample::select(EXTRA_KEYS).prop_map(str::to_owned),
    ]
}

/// Strings that have broken parsers before, or might.
const ODD_STRINGS: &[&str] = &[
    "\u{202e}0.0.0.0/0",
    "\u{feff}0.0.0.0/0",
    "０.０.０.０/０",
    "0.0.0.0/0\u{0}",
    " 0.0.0.0/0 ",
    "0.0.0.0/0/0",
    "1.2.3.4/-1",
    "::ffff:0.0.0.0/96",
    "::/0%eth0",
    "sg-\u{0}",
    "tcp\n",
    "TCP",
    "٢٢",
    "0x16",
    "1e2",
    "22.0",
    "-0",
    "+22",
    "022",
    "+6",
    "06",
    "017",
    "0058",
    "+1",
    " Tcp ",
    "ICMPV6",
    "255",
    "256",
    "2026-11-20T09:00:00+14:00",
    "2026-11-20T09:00:00-23:59",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "262143-12-31T23:59:59Z",
    "2026-11-20T09:00:00.999999999999Z",
    "2026-02-30T09:00:00Z",
    "arn:aws:sts::111122223333:assumed-role/sgguard-member/sgguard",
    "arn:aws:iam::111122223333:role/sgguard-responder",
    "arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci",
    "arn:aws:sts::111122223333:assumed-role/",
    "arn:*:iam::*:role/*",
    "*",
    "aws.ec2",
    "AWS API Call via CloudTrail",
    "ModifyManagedPrefixList",
    "RestoreManagedPrefixListVersion",
    "sg-0fedcba9876543210",
    "pl-0a1b2c3d4e5f60718",
    "sgr-0f00000000000001",
];

/// Any JSON value, leaning to what records hold and to what breaks parsers.
fn arbitrary_value() -> BoxedStrategy<Value> {
    let huge = prop_oneof![
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        Just(json!(f64::MAX)),
        Just(json!(-0.0)),
        Just(json!(1e-300)),
        Just(json!(22.5)),
        Just(json!(22.0)),
        Just(json!(2_147_483_648_i64)),
        Just(json!(-2_147_483_649_i64)),
        Just(json!(4_294_967_296_u64)),
        Just(json!(9_223_372_036_854_775_807_i64)),
    ];
    let long = (
        proptest::sample::select(&["a", "0", "/", "é", "🦀", "0.0.0.0/0 "][..]),
        1usize..4000,
    )
        .prop_map(|(piece, n)| Value::String(piece.repeat(n)));
    let cidr = (any::<[u8; 4]>(), 0u8..40)
        .prop_map(|([a, b, c, d], prefix)| Value::String(format!("{a}.{b}.{c}.{d}/{prefix}")));
    let cidr6 = (any::<u16>(), 0u8..140)
        .prop_map(|(head, prefix)| Value::String(format!("{head:x}::/{prefix}")));
    let leaf = prop_oneof![
        8 => properties::leaf(),
        2 => huge,
        2 => proptest::sample::select(ODD_STRINGS).prop_map(Value::from),
        1 => "\\PC{0,24}".prop_map(Value::String),
        1 => long,
        1 => cidr,
        1 => cidr6,
        1 => (-70_000i64..70_000).prop_map(Value::from),
    ];
    let nested = leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((any_key(), inner.clone()), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            inner.prop_map(|v| json!({"items": [v]})),
        ]
    });
    // Deeper than serde_json reads (128): the whole document must then fail as JSON.
    let deep = (1usize..160, any::<bool>()).prop_map(|(depth, objects)| {
        (0..depth).fold(json!("0.0.0.0/0"), |inner, _| {
            if objects {
                json!({ "items": inner })
            } else {
                json!([inner])
            }
        })
    });
    prop_oneof![30 => nested, 1 => deep].boxed()
}

/// One structural change of a document. Numbers select a place, modulo what exists.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(u32),
    Replace(u32, Value),
    Insert(u32, String, Value),
    Rename(u32, String),
    Duplicate(u32, u32),
    /// A value becomes a one-element list, or a one-element list its element.
    Listify(u32),
    /// A subtree of another seed replaces a value.
    Graft(u32, u32, u32),
    Omit(u32, u8),
    EventName(u32, u32),
    ErrorCode(u32, Value),
    /// A leaf spelled another way: the same value as a string or a number, padded,
    /// signed, recased, one off, or a CIDR with another prefix.
    Tweak(u32, u8, u8),
}

/// Event names the swaps choose from: the family, and a few that are not.
const NAMES: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "ModifyManagedPrefixList",
    "RestoreManagedPrefixListVersion",
    "RunInstances",
    "authorizeSecurityGroupIngress",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let error_code = prop_oneof![
        3 => proptest::sample::select(&["Client.InvalidPermission.Duplicate", "UnauthorizedOperation", "", "null"][..]).prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!(false)),
        1 => Just(json!(0)),
        1 => Just(json!({"code": "x"})),
    ];
    prop_oneof![
        4 => any::<u32>().prop_map(Mutation::Delete),
        8 => (any::<u32>(), arbitrary_value()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        2 => (any::<u32>(), any_key(), arbitrary_value()).prop_map(|(at, k, v)| Mutation::Insert(at, k, v)),
        2 => (any::<u32>(), any_key()).prop_map(|(at, k)| Mutation::Rename(at, k)),
        2 => (any::<u32>(), any::<u32>()).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        1 => any::<u32>().prop_map(Mutation::Listify),
        3 => (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(at, seed, from)| Mutation::Graft(at, seed, from)),
        2 => (any::<u32>(), any::<u8>()).prop_map(|(at, how)| Mutation::Omit(at, how)),
        3 => (any::<u32>(), any::<u32>()).prop_map(|(at, name)| Mutation::EventName(at, name)),
        1 => (any::<u32>(), error_code).prop_map(|(at, v)| Mutation::ErrorCode(at, v)),
        8 => (any::<u32>(), any::<u8>(), any::<u8>()).prop_map(|(at, how, n)| Mutation::Tweak(at, how, n)),
    ]
}

/// What the mutated document is delivered in.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Bare,
    Envelope,
    /// An envelope that fails authentication in one way.
    Forged(u8),
    DeadLetter,
    LogFile(u32),
    Array,
    /// The record inside an envelope, bare.
    Detail,
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        8 => Just(Wrap::Bare),
        4 => Just(Wrap::Envelope),
        1 => any::<u8>().prop_map(Wrap::Forged),
        1 => Just(Wrap::DeadLetter),
        1 => any::<u32>().prop_map(Wrap::LogFile),
        1 => Just(Wrap::Array),
        1 => Just(Wrap::Detail),
    ]
}

/// Damage done to the serialized bytes.
#[derive(Debug, Clone)]
enum Damage {
    None,
    Truncate(u32),
    Splice(u32, &'static str),
    Flip(Vec<(u32, u8)>),
}

/// Tokens that JSON parsers trip on.
const TOKENS: &[&str] = &[
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "-0",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "NaN",
    "Infinity",
    "[[[[[[[[[[[[[[[[[[[[",
    "}",
    ",",
    "\"",
    "\u{0}",
    "\u{feff}",
    "{\"eventName\":\"ModifySecurityGroupRules\"}",
    "{\"omitted\":true}",
    "\"errorCode\":\"x\",",
];

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        30 => Just(Damage::None),
        3 => any::<u32>().prop_map(Damage::Truncate),
        1 => (any::<u32>(), proptest::sample::select(TOKENS)).prop_map(|(at, t)| Damage::Splice(at, t)),
        1 => proptest::collection::vec((any::<u32>(), any::<u8>()), 1..4).prop_map(Damage::Flip),
    ]
}

/// One fuzz case.
fn fuzz_case() -> BoxedStrategy<FuzzCase> {
    let count = seeds().len() as u32;
    let structural = (
        0..count,
        proptest::collection::vec(mutation(), 0..6),
        wrap(),
        damage(),
        any::<bool>(),
    )
        .prop_map(|(seed, mutations, wrapping, damage, pretty)| {
            let mut doc = seeds()[seed as usize].doc.clone();
            for m in &mutations {
                mutate(&mut doc, m);
            }
            let doc = wrapped(doc, wrapping);
            let bytes = if pretty {
                serde_json::to_vec_pretty(&doc)
            } else {
                serde_json::to_vec(&doc)
            }
            .unwrap();
            damaged(bytes, &damage)
        });
    let noise = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..128),
        "\\PC{0,64}".prop_map(String::into_bytes),
        proptest::collection::vec(
            proptest::sample::select(
                &[
                    "{",
                    "}",
                    "[",
                    "]",
                    ",",
                    ":",
                    "\"eventName\"",
                    "\"detail\"",
                    "\"Records\"",
                    "null",
                    "1",
                    "\"x\""
                ][..]
            ),
            0..24
        )
        .prop_map(|tokens| tokens.concat().into_bytes()),
    ];
    (
        prop_oneof![20 => structural, 1 => noise],
        Scenario::strategy(),
    )
        .prop_map(|(bytes, scenario)| FuzzCase { bytes, scenario })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Applying mutations
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every place below the root, depth first, up to a bound.
fn places(doc: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        if out.len() >= 4096 {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    at.push(Step::Key(key.clone()));
                    out.push(at.clone());
                    walk(child, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    at.push(Step::Index(i));
                    out.push(at.clone());
                    walk(child, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, &mut Vec::new(), &mut out);
    out
}

fn at<'a>(value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
    })
}

fn at_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.as_object_mut()?.get_mut(k),
        Step::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

fn choose<T>(items: &[T], selector: u32) -> Option<&T> {
    (!items.is_empty()).then(|| &items[selector as usize % items.len()])
}

/// The places (the root included) whose value satisfies `keep`.
fn places_where(doc: &Value, keep: impl Fn(&Value) -> bool) -> Vec<Vec<Step>> {
    std::iter::once(Vec::new())
        .chain(places(doc))
        .filter(|p| at(doc, p).is_some_and(&keep))
        .collect()
}

/// The records in a document: objects with an `eventName`.
fn record_places(doc: &Value) -> Vec<Vec<Step>> {
    places_where(doc, |v| v.get("eventName").is_some())
}

fn mutate(doc: &mut Value, mutation: &Mutation) {
    match mutation {
        Mutation::Delete(sel) => {
            let all = places(doc);
            let Some((last, parent)) = choose(&all, *sel).and_then(|p| p.split_last()) else {
                return;
            };
            match (at_mut(doc, parent), last) {
                (Some(Value::Object(map)), Step::Key(k)) => {
                    map.remove(k);
                }
                (Some(Value::Array(items)), Step::Index(i)) if *i < items.len() => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Replace(sel, value) => {
            let all = places(doc);
            if let Some(place) = choose(&all, *sel).and_then(|p| at_mut(doc, p)) {
                *place = value.clone();
            }
        }
        Mutation::Insert(sel, key, value) => {
            let objects = places_where(doc, Value::is_object);
            if let Some(Value::Object(map)) = choose(&objects, *sel).and_then(|p| at_mut(doc, p)) {
                map.insert(key.clone(), value.clone());
            }
        }
        Mutation::Rename(sel, key) => {
            let keyed: Vec<Vec<Step>> = places(doc)
                .into_iter()
                .filter(|p| matches!(p.last(), Some(Step::Key(_))))
                .collect();
            let Some((Step::Key(old), parent)) = choose(&keyed, *sel).and_then(|p| p.split_last())
            else {
                return;
            };
            if let Some(Value::Object(map)) = at_mut(doc, parent)
                && let Some(value) = map.remove(old)
            {
                map.insert(key.clone(), value);
            }
        }
        Mutation::Duplicate(sel, which) => {
            let arrays = places_where(doc, |v| v.as_array().is_some_and(|a| !a.is_empty()));
            if let Some(Value::Array(items)) = choose(&arrays, *sel).and_then(|p| at_mut(doc, p)) {
                let copy = items[*which as usize % items.len()].clone();
                let to = *which as usize % (items.len() + 1);
                items.insert(to, copy);
            }
        }
        Mutation::Listify(sel) => {
            let all = places(doc);
            if let Some(place) = choose(&all, *sel).and_then(|p| at_mut(doc, p)) {
                let value = place.take();
                *place = match value {
                    Value::Array(mut items) if items.len() == 1 => items.remove(0),
                    other => Value::Array(vec![other]),
                };
            }
        }
        Mutation::Graft(sel, seed, from) => {
            let seeds = seeds();
            let donor = &seeds[*seed as usize % seeds.len()].doc;
            let donor_places = places(donor);
            let Some(part) = choose(&donor_places, *from).and_then(|p| at(donor, p)) else {
                return;
            };
            let all = places(doc);
            if let Some(place) = choose(&all, *sel).and_then(|p| at_mut(doc, p)) {
                *place = part.clone();
            }
        }
        Mutation::Omit(sel, how) => {
            let records = record_places(doc);
            let Some(Value::Object(record)) = choose(&records, *sel).and_then(|p| at_mut(doc, p))
            else {
                return;
            };
            let marker = json!({"omitted": true, "originalSize": 262_144});
            match how % 7 {
                0 => {
                    record.insert("requestParameters".into(), marker);
                }
                1 => {
                    record.insert("responseElements".into(), marker);
                }
                2 => {
                    record.insert("omitted".into(), json!(true));
                    record.remove("requestParameters");
                }
                3 => {
                    record.insert("omitted".into(), json!(true));
                    record.insert("responseElements".into(), Value::Null);
                }
                4 => {
                    if let Some(Value::Object(request)) = record.get_mut("requestParameters") {
                        request.insert("omitted".into(), json!(true));
                    }
                }
                5 => {
                    record.insert("omitted".into(), json!(true));
                }
                _ => {
                    record.insert("omitted".into(), json!("true"));
                    record.remove("responseElements");
                }
            }
        }
        Mutation::EventName(sel, name) => {
            let records = record_places(doc);
            if let Some(Value::Object(record)) = choose(&records, *sel).and_then(|p| at_mut(doc, p))
            {
                let name = NAMES[*name as usize % NAMES.len()];
                record.insert("eventName".into(), json!(name));
            }
        }
        Mutation::ErrorCode(sel, code) => {
            let records = record_places(doc);
            if let Some(Value::Object(record)) = choose(&records, *sel).and_then(|p| at_mut(doc, p))
            {
                record.insert("errorCode".into(), code.clone());
            }
        }
        Mutation::Tweak(sel, how, n) => {
            let leaves = places_where(doc, |v| v.is_string() || v.is_number());
            if let Some(leaf) = choose(&leaves, *sel).and_then(|p| at_mut(doc, p)) {
                *leaf = tweaked(leaf, *how, *n);
            }
        }
    }
}

/// `value` spelled another way (see [`Mutation::Tweak`]).
fn tweaked(value: &Value, how: u8, n: u8) -> Value {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let number = value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
    match (how % 12, number) {
        (0, Some(n)) => Value::String(n.to_string()),
        (0, None) => text
            .trim()
            .parse::<i64>()
            .map_or(Value::String(text), Value::from),
        (1, _) => Value::String(format!("0{text}")),
        (2, _) => Value::String(format!("+{text}")),
        (3, _) => Value::String(format!(" {text} ")),
        (4, _) => Value::String(text.to_uppercase()),
        (5, Some(k)) => Value::from(k.wrapping_add(i64::from(n % 3) - 1)),
        (6, Some(k)) => Value::from(k.wrapping_neg()),
        (7, Some(k)) => json!(k as f64 + 0.5),
        (8, _) => match text.split_once('/') {
            Some((address, _)) => Value::String(format!("{address}/{}", n % 131)),
            None => Value::String(format!("{text}/{}", n % 131)),
        },
        (9, _) => Value::String(String::new()),
        (10, Some(k)) => Value::from(k.wrapping_mul(65_536)),
        _ => Value::String(format!(
            "{text}{}",
            ['\u{0}', '\t', '\u{a0}', 'x'][usize::from(n % 4)]
        )),
    }
}

fn wrapped(doc: Value, wrapping: Wrap) -> Value {
    match wrapping {
        Wrap::Bare => doc,
        Wrap::Envelope => testing::envelope(&doc),
        Wrap::Forged(how) => {
            let mut envelope = testing::envelope(&doc);
            match how % 5 {
                0 => envelope["source"] = json!("custom.app"),
                1 => envelope["account"] = json!("999988887777"),
                2 => envelope["detail-type"] = json!("Scheduled Event"),
                3 => {
                    if let Some(Value::Object(detail)) = envelope.get_mut("detail") {
                        detail.insert("eventSource".into(), json!("iam.amazonaws.com"));
                    }
                }
                _ => {
                    if let Some(Value::Object(detail)) = envelope.get_mut("detail") {
                        detail.remove("recipientAccountId");
                    }
                }
            }
            envelope
        }
        Wrap::DeadLetter => testing::dead_letter(&testing::envelope(&doc)),
        Wrap::LogFile(other) => {
            let seeds = seeds();
            let other = &seeds[other as usize % seeds.len()].doc;
            json!({"Records": [doc, other.get("detail").unwrap_or(other)]})
        }
        Wrap::Array => json!([doc.clone(), doc]),
        Wrap::Detail => match doc {
            Value::Object(mut map) if map.get("detail").is_some_and(Value::is_object) => {
                map.remove("detail").unwrap_or_default()
            }
            other => other,
        },
    }
}

fn damaged(mut bytes: Vec<u8>, damage: &Damage) -> Vec<u8> {
    let position = |sel: u32, len: usize| sel as usize % (len + 1);
    match damage {
        Damage::None => {}
        Damage::Truncate(sel) => {
            let at = position(*sel, bytes.len());
            bytes.truncate(at);
        }
        Damage::Splice(sel, token) => {
            let at = position(*sel, bytes.len());
            bytes.splice(at..at, token.bytes());
        }
        Damage::Flip(flips) => {
            for (sel, byte) in flips {
                if !bytes.is_empty() {
                    let at = *sel as usize % bytes.len();
                    bytes[at] = *byte;
                }
            }
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

/// The clock of every decision: after the examples' events, before their entries expire.
fn now() -> DateTime<Utc> {
    "2026-11-20T10:00:00Z".parse().unwrap()
}

/// The examples' allowlist, and a few entries of the kinds it lacks.
fn small_allowlist() -> &'static Allowlist {
    static ALLOWLIST: OnceLock<Allowlist> = OnceLock::new();
    ALLOWLIST.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/allowlist.toml");
        let text = fs::read_to_string(&path).unwrap();
        let mut entries = from_toml(&text, "examples/allowlist.toml").unwrap();
        entries.push(AllowEntry {
            direction: Direction::Egress,
            protocol: Protocol::Tcp,
            ports: PortRange::single(443),
            cidrs: vec![net("0.0.0.0/0")],
            ..AllowEntry::new("egress-https", "netops@example.com", "NET-1 https out")
        });
        entries.push(AllowEntry {
            protocol: Protocol::Udp,
            ports: PortRange::parse("53").unwrap(),
            source_groups: vec!["sg-0123456789abcdef0".into()],
            accounts: vec![ACCOUNT.into()],
            regions: vec!["eu-west-1".into()],
            ..AllowEntry::new("peer-dns", "netops@example.com", "NET-2 dns from peers")
        });
        entries.push(AllowEntry {
            ports: PortRange::ALL,
            groups: vec![GROUP.into()],
            principals: vec!["arn:aws:iam::*:role/NetworkAdmin".into()],
            ..AllowEntry::new("network-admins", "netops@example.com", "NET-3 break glass")
        });
        Allowlist::new(entries)
    })
}

/// Approves everything, in both directions.
fn allow_all() -> &'static Allowlist {
    static ALLOWLIST: OnceLock<Allowlist> = OnceLock::new();
    ALLOWLIST.get_or_init(|| {
        Allowlist::new(vec![
            AllowEntry::new("all-in", "me", "fuzz"),
            AllowEntry {
                direction: Direction::Egress,
                ..AllowEntry::new("all-out", "me", "fuzz")
            },
        ])
    })
}

fn check_case(case: &FuzzCase, stats: &mut Stats) {
    let Ok(document) = serde_json::from_slice::<Value>(&case.bytes) else {
        stats.not_json += 1;
        return;
    };
    check_input(&document, stats);
    let Ok(deliveries) = input::deliveries(document) else {
        stats.unknown_shape += 1;
        return;
    };
    for delivery in &deliveries {
        check_record(delivery, &case.scenario, stats);
    }
}

/// The document as the Lambda takes it (one payload, authenticated before it is unwrapped)
/// and as the CLI takes it (split into deliveries).
fn check_input(document: &Value, stats: &mut Stats) {
    let split = input::deliveries(document.clone());
    let records = input::records(document.clone());
    match (&split, &records) {
        (Ok(split), Ok(records)) => {
            let from_split: Vec<&Value> = split.iter().map(|d| &d.record).collect();
            let from_records: Vec<&Value> = records.iter().collect();
            assert_eq!(from_split, from_records, "deliveries and records disagree");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("deliveries and records disagree on whether the document has records"),
    }
    // The Lambda's path: the payload is authenticated as it arrived, then unwrapped.
    let early = input::authenticate_payload(document);
    let delivery = input::unwrap_envelope(document.clone());
    let late = input::authenticate(&delivery);
    assert_eq!(
        early, late,
        "the payload and the record it unwraps to are authenticated differently"
    );
    if late.is_ok() {
        stats.authentic += 1;
        check_authentic(&delivery);
    }
}

/// What an authentic delivery must be: from EC2, through CloudTrail, its record of the
/// envelope's account.
fn check_authentic(delivery: &Delivery) {
    let envelope = delivery
        .envelope
        .as_ref()
        .expect("an authentic delivery has an envelope");
    assert_eq!(envelope.source.as_deref(), Some(EC2_SOURCE));
    assert_eq!(
        envelope.detail_type.as_deref(),
        Some(CLOUDTRAIL_DETAIL_TYPE)
    );
    assert_eq!(
        delivery.record.get("eventSource").and_then(Value::as_str),
        Some("ec2.amazonaws.com")
    );
    let account = envelope.account.as_deref().expect("an authentic account");
    assert_eq!(envelope.recipient_account.as_deref(), Some(account));
    assert_eq!(
        text_of(delivery.record.get("recipientAccountId")).as_deref(),
        Some(account),
        "the record processed is not of the account authenticated"
    );
}

/// A string, or a number written as one.
fn text_of(value: Option<&Value>) -> Option<String> {
    value.and_then(|v| {
        v.as_str()
            .map(str::to_owned)
            .or_else(|| v.as_number().map(ToString::to_string))
    })
}

/// One record through classification, normalization, the decision and the comparison with
/// EC2. The invariants, each of which a bug could break:
///
/// - input: `deliveries` and `records` agree; a payload and what it unwraps to are
///   authenticated alike; an authentic delivery is from `aws.ec2` and its record is of the
///   envelope's account, and so is the normalized event;
/// - classification: a record with `errorCode` is a failed call and is never decided on (so
///   never reverted); a record outside the family is unrelated;
/// - normalization is deterministic, the same from the value and from its re-serialized
///   bytes, and an error names a field; each change has the kind its call makes; what it
///   returns displays, and its sources and protocols parse back from their display form;
/// - the decision is deterministic and keeps every change; an approved change is never
///   reverted, and the allowlist, asked directly, agrees; every change planned for revert
///   opens access, is at or above the threshold, in a revertible direction, names its rule id
///   or exact permission (a modification: both), and the event is neither incomplete nor the
///   responder's own; `audit` and `enforce` plan the same changes; an allowlist that approves
///   everything leaves nothing to do; fewer allowlist entries or a lower threshold never
///   revert less; the risk is the risk table's; the outcome is the strongest action's;
/// - verify: a rule that is gone is `Gone`; the rule exactly as the event says is `Act`
///   (a description aside); in another group, the other direction or with other content it
///   is `Superseded`; a rule already holding the restore target is `Done`;
/// - the report of it all serializes to JSON and reads back the same.
fn check_record(delivery: &Delivery, scenario: &Scenario, stats: &mut Stats) {
    stats.records += 1;
    let record = &delivery.record;
    let authentic = input::authenticate(delivery).is_ok();
    if authentic {
        check_authentic(delivery);
    }
    let name = record.get("eventName").and_then(Value::as_str);
    let from_ec2 = record
        .get("eventSource")
        .and_then(Value::as_str)
        .is_none_or(|s| s == "ec2.amazonaws.com");
    let in_family = from_ec2 && name.is_some_and(|n| SECURITY_GROUP_CALLS.contains(&n));
    let failed = record.get("errorCode").is_some_and(|c| !c.is_null());
    match classify_record(record) {
        RecordClass::Unrelated { event_name } => {
            assert!(!in_family, "a security-group call classified unrelated");
            assert_eq!(event_name.as_deref(), name);
            stats.unrelated += 1;
            return;
        }
        RecordClass::FailedCall { event_name, .. } => {
            assert!(in_family && failed, "classified a failed call: {record}");
            assert_eq!(Some(event_name.as_str()), name);
            stats.failed_calls += 1;
            return;
        }
        RecordClass::SecurityGroupCall { event_name } => {
            assert!(
                in_family && !failed,
                "a record with errorCode, or outside the family, would be decided on"
            );
            assert_eq!(Some(event_name.as_str()), name);
        }
    }

    let first = normalize(record);
    assert_same_normalization(&first, &normalize(record), "normalize twice");
    // The record written out and read again, as the audit log keeps it. serde_json's default
    // float parser is not exact (`-1.4406184000001159e-129` reads back as `…116e-129`), so
    // only a value that reads back equal must normalize the same.
    let text = serde_json::to_string(record).unwrap();
    let reread: Value = serde_json::from_str(&text).unwrap();
    if reread == *record {
        assert_same_normalization(&first, &normalize(&reread), "normalize after a round trip");
    }
    let set = match first {
        Ok(set) => set,
        Err(Error::InvalidEvent { field, message }) => {
            assert!(
                !field.is_empty(),
                "an invalid event that names no field: {message}"
            );
            stats.invalid += 1;
            return;
        }
        Err(other) => {
            panic!("normalize failed with something other than an invalid event: {other}")
        }
    };
    stats.normalized += 1;
    if authentic {
        assert_eq!(
            Some(set.meta.account.as_str()),
            delivery
                .envelope
                .as_ref()
                .and_then(|e| e.account.as_deref()),
            "the event is judged in another account than the one authenticated"
        );
    }
    check_change_set(&set, name.unwrap_or_default());

    let allowlist = small_allowlist();
    let policy = scenario.policy(&set);
    let (lists, intents) = scenario.gathered(&set);
    let context = if scenario.live {
        Context {
            allowlist,
            now: now(),
            prefix_lists: &lists,
            intents: &intents,
            live: true,
        }
    } else {
        Context::offline(allowlist, now())
    };
    let decision = decide(&set, &context, &policy);
    assert_eq!(
        decision,
        decide(&set, &context, &policy),
        "decide is not deterministic"
    );
    check_decision(&set, &decision, &context, &policy);

    // The same event under neighbouring policies and allowlists.
    let other_mode = Policy {
        mode: match policy.mode {
            Mode::Audit => Mode::Enforce,
            Mode::Enforce => Mode::Audit,
        },
        ..policy.clone()
    };
    let flipped = decide(&set, &context, &other_mode);
    check_decision(&set, &flipped, &context, &other_mode);
    assert_eq!(
        reverted(&decision),
        reverted(&flipped),
        "audit and enforce plan different reverts"
    );
    let everything = Context {
        allowlist: allow_all(),
        ..context
    };
    let approved = decide(&set, &everything, &policy);
    check_decision(&set, &approved, &everything, &policy);
    assert!(
        approved.changes.iter().all(|c| c.action == Action::None),
        "an allowlist that approves everything leaves something to do: {:?}",
        approved.changes
    );
    let no_entries = Allowlist::default();
    let bare = Context {
        allowlist: &no_entries,
        ..context
    };
    let unapproved = decide(&set, &bare, &policy);
    check_decision(&set, &unapproved, &bare, &policy);
    assert!(
        is_subset(&reverted(&decision), &reverted(&unapproved)),
        "removing allowlist entries reverts less"
    );
    let lowest = Policy {
        min_risk: RiskLevel::None,
        ..policy.clone()
    };
    let eager = decide(&set, &context, &lowest);
    check_decision(&set, &eager, &context, &lowest);
    assert!(
        is_subset(&reverted(&decision), &reverted(&eager)),
        "a lower threshold reverts less"
    );

    // Each change is judged on its own: the same verdicts in the other order.
    let mut reversed = set.clone();
    reversed.changes.reverse();
    let backwards = decide(&reversed, &context, &policy);
    let mut again = backwards.changes;
    again.reverse();
    assert_eq!(
        again, decision.changes,
        "a change is judged differently beside others"
    );
    assert_eq!(backwards.outcome, decision.outcome);

    let planned = reverted(&decision);
    if decision.outcome != Outcome::Incomplete && decision.outcome != Outcome::OwnAction {
        stats.entries += set
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::EntryAdded)
            .count() as u64;
    }
    match decision.outcome {
        Outcome::Incomplete => stats.incomplete += 1,
        Outcome::OwnAction => stats.own += 1,
        Outcome::Approved => stats.approved += 1,
        _ => {}
    }
    if !planned.is_empty() {
        stats.reverting_events += 1;
        stats.reverting_changes += planned.len() as u64;
    }
    for &i in &planned {
        if check_verify(&set, &decision.changes[i].change) {
            stats.verified += 1;
        }
    }
    check_report(&set, &decision);
}

fn assert_same_normalization(
    a: &Result<ChangeSet, Error>,
    b: &Result<ChangeSet, Error>,
    what: &str,
) {
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}: different change sets"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}: different errors"),
        (a, b) => panic!("{what}: {a:?} then {b:?}"),
    }
}

/// The kinds of change each call makes.
fn kinds_of(event_name: &str) -> &'static [ChangeKind] {
    match event_name {
        "AuthorizeSecurityGroupIngress" | "AuthorizeSecurityGroupEgress" => &[ChangeKind::Added],
        "RevokeSecurityGroupIngress" | "RevokeSecurityGroupEgress" => &[ChangeKind::Removed],
        "UpdateSecurityGroupRuleDescriptionsIngress"
        | "UpdateSecurityGroupRuleDescriptionsEgress" => &[ChangeKind::Description],
        "ModifySecurityGroupRules" => &[ChangeKind::Modified],
        "ModifyManagedPrefixList" => &[ChangeKind::EntryAdded, ChangeKind::EntryRemoved],
        _ => &[],
    }
}

fn check_change_set(set: &ChangeSet, name: &str) {
    assert_eq!(set.meta.event_name, name);
    assert!(!set.meta.event_id.is_empty());
    assert!(!set.meta.region.is_empty());
    assert!(
        set.omitted
            .iter()
            .all(|o| o == "requestParameters" || o == "responseElements"),
        "omitted names {:?}",
        set.omitted
    );
    let kinds = kinds_of(name);
    for change in &set.changes {
        assert!(
            kinds.contains(&change.kind),
            "{name} gave a change of kind {:?}",
            change.kind
        );
        if let Some(content) = &change.content {
            let _shown = content.to_string();
            if let Source::CidrV4(_) | Source::CidrV6(_) = content.source {
                assert_eq!(
                    Source::parse(&content.source.to_string()),
                    Ok(content.source.clone()),
                    "a source does not read back from its display form"
                );
            }
            assert_eq!(
                Protocol::parse(&content.protocol.as_ec2()),
                Some(content.protocol),
                "a protocol does not read back from its EC2 form"
            );
        }
    }
    if !set.omitted.is_empty() {
        return;
    }
    match name {
        "AuthorizeSecurityGroupIngress" | "AuthorizeSecurityGroupEgress" => {
            assert!(!set.changes.is_empty(), "an Authorize that adds nothing");
        }
        "ModifySecurityGroupRules" => {
            assert!(!set.changes.is_empty(), "a modification of nothing");
            assert!(set.group_id.is_some());
            assert!(
                set.changes
                    .iter()
                    .all(|c| c.rule_id.is_some() && c.content.is_some()),
                "a modification without its rule id or content"
            );
        }
        "ModifyManagedPrefixList" | "RestoreManagedPrefixListVersion" => {
            assert!(set.prefix_list_id.is_some());
        }
        _ => {}
    }
    if !name.contains("ManagedPrefixList") {
        assert!(
            set.group_id.is_some() || set.group_name.is_some(),
            "{name} names no group"
        );
    }
}

/// The indices of the changes planned for revert.
fn reverted(decision: &Decision) -> Vec<usize> {
    decision
        .changes
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.action, Action::Pending | Action::WouldRevert))
        .map(|(i, _)| i)
        .collect()
}

fn is_subset(a: &[usize], b: &[usize]) -> bool {
    a.iter().all(|i| b.contains(i))
}

fn check_decision(set: &ChangeSet, decision: &Decision, context: &Context<'_>, policy: &Policy) {
    assert_eq!(decision.changes.len(), set.changes.len(), "changes lost");
    let own = decision.outcome == Outcome::OwnAction;
    if policy.self_arns.is_empty() && policy.member_role.is_none() {
        assert!(!own, "an own action without a responder identity");
    }
    if own {
        assert!(
            set.changes
                .iter()
                .all(|c| !matches!(c.kind, ChangeKind::Added | ChangeKind::EntryAdded)),
            "the responder's identity hides a rule or entry added"
        );
    }
    assert!(!decision.reason.is_empty(), "a decision without a reason");
    assert_eq!(
        decision.outcome == Outcome::Incomplete,
        !set.omitted.is_empty(),
        "incomplete is exactly a record with omitted elements"
    );
    for (change, judged) in set.changes.iter().zip(&decision.changes) {
        assert_eq!(judged.change.rule_id, change.rule_id);
        assert_eq!(judged.change.kind, change.kind);
        assert_eq!(judged.change.content, change.content);
        assert_eq!(judged.change.note, change.note);
        if change.kind != ChangeKind::EntryAdded {
            assert_eq!(judged.change.direction, change.direction);
        }
        assert!(
            matches!(
                judged.action,
                Action::None | Action::Flagged | Action::WouldRevert | Action::Pending
            ),
            "decide gave {:?}, which only acting can",
            judged.action
        );
        if judged.approved_by.is_some() {
            assert_eq!(
                judged.action,
                Action::None,
                "an approved change is acted on"
            );
            assert!(judged.closest_miss.is_none());
        }
        if !change.kind.opens_access() {
            assert_eq!(judged.action, Action::None, "{:?} acted on", change.kind);
            assert!(judged.approved_by.is_none());
        }
        if own {
            assert_eq!(
                judged.action,
                Action::None,
                "the responder's own call acted on"
            );
        }
        match judged.action {
            Action::Pending => assert_eq!(policy.mode, Mode::Enforce),
            Action::WouldRevert => assert_eq!(policy.mode, Mode::Audit),
            _ => {}
        }
        let facts = change.content.as_ref().map(|content| RuleFacts {
            direction: change.direction,
            content,
            group_id: set.group_id.as_deref(),
            account: &set.meta.account,
            region: &set.meta.region,
            identity: &set.meta.identity,
        });
        if let (ChangeKind::Added | ChangeKind::Modified, Some(facts)) = (change.kind, &facts) {
            assert_eq!(
                judged.risk.level,
                policy.risk.classify_in(change, context.prefix_lists).level,
                "the risk is not the risk table's"
            );
            for wider in widened(facts.content) {
                assert!(
                    policy
                        .risk
                        .classify_content_in(&wider, context.prefix_lists)
                        .level
                        >= judged.risk.level,
                    "{} is riskier than the wider {wider}",
                    facts.content
                );
            }
            match context.allowlist.evaluate(facts, context.now) {
                Approval::Approved { entry_id } => {
                    assert_eq!(judged.approved_by.as_deref(), Some(entry_id.as_str()));
                }
                Approval::NotApproved { .. } => assert!(judged.approved_by.is_none()),
            }
        }
        if change.kind == ChangeKind::EntryAdded && !own && set.omitted.is_empty() {
            check_entry(set, change, judged, context, policy);
        }
        if matches!(judged.action, Action::Pending | Action::WouldRevert) {
            assert!(set.omitted.is_empty(), "an incomplete record acted on");
            assert!(judged.approved_by.is_none());
            assert!(
                judged.risk.level >= policy.min_risk,
                "a revert below the threshold"
            );
            assert!(
                judged.change.direction.is_ingress() || policy.revert_egress,
                "egress reverted without revert_egress"
            );
            let content = change
                .content
                .as_ref()
                .expect("a revert of a change without content");
            match change.kind {
                ChangeKind::Added => {}
                ChangeKind::Modified => assert!(
                    change.rule_id.is_some(),
                    "a modification to restore without its rule id"
                ),
                ChangeKind::EntryAdded => {
                    assert!(set.prefix_list_id.is_some(), "an entry of no list");
                    assert!(
                        content.source.network().is_some(),
                        "an entry that is not a network"
                    );
                }
                other => panic!("a revert of a change of kind {other:?}"),
            }
        }
    }
    let strongest = decision
        .changes
        .iter()
        .filter_map(|c| Outcome::from_action(c.action))
        .max();
    match (decision.outcome, strongest) {
        (Outcome::Incomplete | Outcome::OwnAction, _) => {}
        (outcome, Some(strongest)) => assert_eq!(outcome, strongest, "{}", decision.reason),
        (outcome, None) => assert!(
            matches!(outcome, Outcome::Recorded | Outcome::Approved),
            "outcome {outcome} with nothing to do"
        ),
    }
}

/// The same rule, opened wider: a shorter prefix of its network (down to the whole
/// internet), and all protocols.
fn widened(content: &RuleContent) -> Vec<RuleContent> {
    let mut wider = vec![RuleContent {
        protocol: Protocol::All,
        from_port: None,
        to_port: None,
        ..content.clone()
    }];
    if let Some(network) = content.source.network() {
        let prefix = network.prefix_len();
        for shorter in [prefix.saturating_sub(1), prefix / 2, 0] {
            let source = match ipnet::IpNet::new(network.addr(), shorter).unwrap().trunc() {
                ipnet::IpNet::V4(net) => Source::CidrV4(net),
                ipnet::IpNet::V6(net) => Source::CidrV6(net),
            };
            wider.push(RuleContent {
                source,
                ..content.clone()
            });
        }
    }
    wider
}

/// An entry added to a prefix list is removed exactly when a rule that references the list
/// would be opened to it unapproved, at or above the threshold, in a direction that may be
/// reverted; never when no rule references the list. Unresolved (offline), the entry is
/// judged as an ingress rule of all traffic.
fn check_entry(
    set: &ChangeSet,
    change: &sgguard_core::RuleChange,
    judged: &sgguard_core::ChangeDecision,
    context: &Context<'_>,
    policy: &Policy,
) {
    let list_id = set.prefix_list_id.as_deref().unwrap_or_default();
    let entry = change
        .content
        .as_ref()
        .expect("an entry without its network");
    let removed = matches!(judged.action, Action::Pending | Action::WouldRevert);
    // Approved through the list as a whole, or through the entry's own network.
    let approves = |direction: Direction, rule: &RuleContent, group: Option<&str>| {
        [Source::PrefixList(list_id.to_owned()), entry.source.clone()]
            .into_iter()
            .any(|source| {
                let content = RuleContent {
                    source,
                    ..rule.clone()
                };
                let facts = RuleFacts {
                    direction,
                    content: &content,
                    group_id: group,
                    account: &set.meta.account,
                    region: &set.meta.region,
                    identity: &set.meta.identity,
                };
                matches!(
                    context.allowlist.evaluate(&facts, context.now),
                    Approval::Approved { .. }
                )
            })
    };
    let references = context
        .prefix_lists
        .get(list_id)
        .and_then(|l| l.references.as_ref());
    let must = match references {
        None => {
            let all = RuleContent {
                protocol: Protocol::All,
                from_port: None,
                to_port: None,
                ..entry.clone()
            };
            let risk = policy.risk.classify_unresolved_entry(entry, list_id).level;
            assert_eq!(judged.risk.level, risk, "an unresolved entry's risk");
            risk >= policy.min_risk && !approves(Direction::Ingress, &all, None)
        }
        Some(references) if references.is_empty() => {
            assert!(
                !removed,
                "an entry of a list that no rule references is removed"
            );
            false
        }
        Some(references) => references.iter().any(|r| {
            let revertible = r.direction.is_ingress() || policy.revert_egress;
            revertible
                && policy.risk.classify_through(entry, r).level >= policy.min_risk
                && !approves(r.direction, &r.content, Some(&r.group_id))
        }),
    };
    assert_eq!(
        removed, must,
        "entry {entry} of {list_id}: removed {removed}, but a reference calls for it: {must}"
    );
}

/// The comparison with EC2 for one change planned for revert; whether it had a rule to
/// compare (a rule id and content).
fn check_verify(set: &ChangeSet, change: &sgguard_core::RuleChange) -> bool {
    let (Some(rule_id), Some(content)) = (&change.rule_id, &change.content) else {
        return false;
    };
    if change.kind == ChangeKind::EntryAdded {
        return false;
    }
    let expected = Expectation {
        rule_id,
        group_id: set.group_id.as_deref(),
        direction: change.direction,
        content,
        target: None,
    };
    assert_eq!(
        verify(&expected, None),
        Verdict::Gone,
        "a missing rule is not gone"
    );
    let observed = |group: &str, direction: Direction, content: RuleContent| ObservedRule {
        rule_id: rule_id.clone(),
        group_id: group.to_owned(),
        direction,
        content,
    };
    let group = set.group_id.as_deref().unwrap_or("sg-0fuzz0000000000000");
    let direction = match change.direction {
        Direction::Unknown => Direction::Ingress,
        known => known,
    };
    let exact = observed(group, direction, content.clone());
    let verdict = verify(&expected, Some(&exact));
    if set.group_id.is_some() {
        assert_eq!(
            verdict,
            Verdict::Act,
            "the rule as the event says is not acted on"
        );
    } else {
        assert!(
            matches!(verdict, Verdict::Superseded(_)),
            "a rule of a group named only by name is acted on"
        );
    }
    let described = RuleContent {
        description: Some("changed since, by someone".into()),
        ..content.clone()
    };
    assert_eq!(
        verify(&expected, Some(&observed(group, direction, described))),
        verdict,
        "a description changes what is done"
    );
    let superseded = |rule: ObservedRule, what: &str| {
        let verdict = verify(&expected, Some(&rule));
        assert!(
            matches!(verdict, Verdict::Superseded(_)),
            "{what}: {verdict:?}"
        );
    };
    superseded(
        observed("sg-fuzz-elsewhere", direction, content.clone()),
        "a rule in another group is acted on",
    );
    if change.direction != Direction::Unknown {
        let opposite = match change.direction {
            Direction::Egress => Direction::Ingress,
            _ => Direction::Egress,
        };
        superseded(
            observed(group, opposite, content.clone()),
            "a rule of the other direction is acted on",
        );
    }
    let elsewhere = RuleContent {
        source: Source::PrefixList("pl-fuzz-elsewhere".into()),
        ..content.clone()
    };
    superseded(
        observed(group, direction, elsewhere),
        "a rule with another source is acted on",
    );
    if set.group_id.is_some() {
        let target = RuleContent {
            source: Source::PrefixList("pl-fuzz-accepted".into()),
            ..content.clone()
        };
        let restore = Expectation {
            target: Some(&target),
            ..expected
        };
        assert_eq!(
            verify(&restore, Some(&observed(group, direction, target.clone()))),
            Verdict::Done,
            "a rule that holds the restore target is not done"
        );
        assert_eq!(
            verify(&restore, Some(&exact)),
            Verdict::Act,
            "a rule still as the event says is not restored"
        );
    }
    true
}

/// The decision as a report: everything must serialize and read back.
fn check_report(set: &ChangeSet, decision: &Decision) {
    let changes: Vec<Value> = decision
        .changes
        .iter()
        .map(|c| {
            let content = c.change.content.as_ref();
            json!({
                "rule_id": c.change.rule_id,
                "direction": c.change.direction,
                "kind": c.change.kind,
                "content": content.map(ToString::to_string),
                "source": content.map(|c| c.source.to_string()),
                "source_kind": content.map(|c| c.source.kind()),
                "protocol": content.map(|c| c.protocol),
                "ports": content.map(|c| c.port_range()),
                "canonical_ports": content.map(RuleContent::canonical_ports),
                "description": content.and_then(|c| c.description.clone()),
                "note": c.change.note,
                "risk": c.risk,
                "approved_by": c.approved_by,
                "closest_miss": c.closest_miss.as_ref().map(|(id, failures)| {
                    json!({"entry": id, "failed": failures.iter().map(|f| format!("{}: {}", f.criterion, f.detail)).collect::<Vec<_>>()})
                }),
                "action": c.action,
            })
        })
        .collect();
    let report = json!({
        "event_id": set.meta.event_id,
        "event_name": set.meta.event_name,
        "event_time": format_time(&set.meta.event_time),
        "account": set.meta.account,
        "region": set.meta.region,
        "identity": set.meta.identity,
        "source_ip": set.meta.source_ip,
        "user_agent": set.meta.user_agent,
        "group": set.group_label(),
        "group_id": set.group_id,
        "group_name": set.group_name,
        "prefix_list_id": set.prefix_list_id,
        "prefix_list_version": set.prefix_list_version,
        "restores_version": set.restores_version,
        "omitted": set.omitted,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "changes": changes,
    });
    let text = serde_json::to_string(&report).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report, "the report does not read back the same");
    assert_eq!(
        report["outcome"].as_str().map(str::parse::<Outcome>),
        Some(Ok(decision.outcome))
    );
}
