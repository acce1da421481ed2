//! `sgguard_cli::replay` over the example events, compared with `examples/expected.tsv`,
//! and its handling of bad input: invalid records, invalid allowlists, redeliveries.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sgguard_cli::output::Format;
use sgguard_cli::store::{StoreArgs, StoreSpec};
use sgguard_cli::{Exit, PipelineRun as ReplayRun, PolicyArgs, ReplayArgs, replay};
use sgguard_core::{Mode, Outcome, RiskLevel};
use sgguard_local::SqliteStore;
use sgguard_responder::settings::ResponderArns;

const SELF_ARN: &str = "arn:aws:iam::111122223333:role/sgguard-responder";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// One row of `examples/expected.tsv`.
#[derive(Debug, Clone)]
struct Expected {
    file: String,
    index: usize,
    event_id: String,
    event_name: String,
    outcome: String,
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(examples().join("expected.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("file\tindex\tevent_id\tevent_name\toutcome")
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "{line}");
            Expected {
                file: fields[0].to_owned(),
                index: fields[1].parse().unwrap(),
                event_id: fields[2].to_owned(),
                event_name: fields[3].to_owned(),
                outcome: fields[4].to_owned(),
            }
        })
        .collect()
}

fn args(paths: Vec<PathBuf>, store: &Path) -> ReplayArgs {
    ReplayArgs {
        paths,
        store: StoreArgs {
            store: StoreSpec::Sqlite(store.to_path_buf()),
            ..StoreArgs::default()
        },
        allowlist: Some(examples().join("allowlist.toml")),
        what_if_store: None,
        policy: PolicyArgs {
            self_arns: vec![ResponderArns(vec![SELF_ARN.to_owned()])],
            ..PolicyArgs::default()
        },
        format: Some(Format::Json),
    }
}

fn example_args(store: &Path) -> ReplayArgs {
    args(vec![examples().join("events")], store)
}

async fn run(args: &ReplayArgs) -> (ReplayRun, Vec<Value>) {
    let mut out = Vec::new();
    let run = replay(args, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (run, lines)
}

fn text<'a>(line: &'a Value, key: &str) -> &'a str {
    line[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {line}"))
}

fn origin_file(line: &Value) -> String {
    let file = text(&line["origin"], "file");
    Path::new(file)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[tokio::test]
async fn replay_of_the_examples_matches_expected_tsv() {
    let dir = tempfile::tempdir().unwrap();
    let (run, lines) = run(&example_args(&dir.path().join("a.db"))).await;
    let expected = expected();
    assert_eq!(expected.len(), 30);
    assert_eq!(lines.len(), expected.len(), "one line per record");
    for (line, want) in lines.iter().zip(&expected) {
        let at = format!("{} record {}", want.file, want.index);
        assert_eq!(text(line, "event_id"), want.event_id, "{at}");
        assert_eq!(text(line, "event_name"), want.event_name, "{at}");
        assert_eq!(
            text(line, "outcome"),
            want.outcome,
            "{at}: {}",
            line["reason"]
        );
        assert_eq!(origin_file(line), want.file, "{at}");
        assert_eq!(
            line["origin"]["index"].as_u64(),
            Some(want.index as u64),
            "{at}"
        );
    }
    assert_eq!(run.summary.read, 30);
    assert_eq!(run.summary.count(Outcome::WouldRevert), 8);
    assert_eq!(run.summary.count(Outcome::Duplicate), 1);
    assert_eq!(run.exit(), Exit::Success);
    assert!(run.reports.is_empty(), "json lines are streamed, not kept");
}

#[tokio::test]
async fn every_json_line_carries_the_contract_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (_, lines) = run(&example_args(&dir.path().join("a.db"))).await;
    let event_fields = [
        "event_id",
        "event_name",
        "event_time",
        "account",
        "region",
        "group_id",
        "actor",
        "outcome",
        "reason",
        "changes",
    ];
    let change_fields = [
        "rule_id",
        "direction",
        "kind",
        "protocol",
        "from_port",
        "to_port",
        "source",
        "source_kind",
        "risk",
        "risk_reasons",
        "approved_by",
        "action",
    ];
    let mut changes_seen = 0;
    for line in &lines {
        let object = line.as_object().unwrap();
        for field in event_fields {
            assert!(object.contains_key(field), "`{field}` missing from {line}");
        }
        assert!(
            line["outcome"].is_string() && line["reason"].is_string(),
            "{line}"
        );
        for change in line["changes"].as_array().unwrap() {
            changes_seen += 1;
            let change = change.as_object().unwrap();
            for field in change_fields {
                assert!(
                    change.contains_key(field),
                    "change field `{field}` missing from {line}"
                );
            }
            assert!(change["risk_reasons"].is_array(), "{line}");
        }
    }
    assert!(
        changes_seen >= 20,
        "only {changes_seen} changes in the examples"
    );

    // A few values pinned: the first event's one change.
    let first = &lines[0];
    assert_eq!(text(first, "account"), "111122223333");
    assert_eq!(text(first, "region"), "eu-west-1");
    let change = &first["changes"][0];
    assert_eq!(change["direction"], "ingress");
    assert_eq!(change["kind"], "added");
    assert_eq!(change["protocol"], "tcp");
    assert_eq!(change["from_port"], 22);
    assert_eq!(change["source"], "0.0.0.0/0");
    assert_eq!(change["source_kind"], "cidr_ipv4");
    assert_eq!(change["risk"], "critical");
    assert_eq!(change["action"], "would_revert");
    assert!(change["approved_by"].is_null());
}

#[tokio::test]
async fn replaying_again_into_the_same_store_reports_stored_events_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let args = example_args(&dir.path().join("a.db"));
    let (_, first) = run(&args).await;
    let (second_run, second) = run(&args).await;
    assert_eq!(first.len(), second.len());
    let mut duplicates = 0;
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["event_id"], b["event_id"]);
        let outcome = text(a, "outcome");
        let stored = !matches!(
            outcome,
            "skipped_failed_call" | "skipped_unrelated" | "invalid"
        );
        if stored {
            duplicates += 1;
            assert_eq!(text(b, "outcome"), "duplicate", "{}", b["event_id"]);
            let reason = text(b, "reason");
            let wanted = if outcome == "duplicate" {
                "would_revert"
            } else {
                outcome
            };
            assert!(
                reason.contains(&format!("already recorded with outcome {wanted}")),
                "{reason}"
            );
        } else {
            assert_eq!(
                text(b, "outcome"),
                outcome,
                "records that are not stored are judged again"
            );
        }
    }
    assert_eq!(duplicates, 26);
    assert_eq!(second_run.summary.count(Outcome::Duplicate), 26);
    assert_eq!(second_run.exit(), Exit::Success);

    let store = SqliteStore::open(dir.path().join("a.db")).unwrap();
    assert_eq!(
        store.events().unwrap().len(),
        25,
        "each event is stored once"
    );
}

#[tokio::test]
async fn an_invalid_allowlist_is_an_error_naming_the_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let allowlist = dir.path().join("proposed.toml");
    let toml = "[[allow]]\nid = \"ok\"\nowner = \"a\"\nreason = \"b\"\n\n[[allow]]\nid = \"bad-ports\"\nowner = \"a\"\nreason = \"b\"\nports = \"http\"\n";
    std::fs::write(&allowlist, toml).unwrap();
    let mut a = example_args(&dir.path().join("a.db"));
    a.allowlist = Some(allowlist);
    let mut out = Vec::new();
    let err = replay(&a, &mut out).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("proposed.toml"), "{message}");
    assert!(message.contains("bad-ports"), "{message}");
    assert!(message.contains("ports"), "{message}");
    assert!(
        out.is_empty(),
        "nothing is judged against a broken allowlist"
    );

    let mut missing = example_args(&dir.path().join("a.db"));
    missing.allowlist = Some(dir.path().join("nope.toml"));
    let message = format!("{:#}", replay(&missing, &mut Vec::new()).await.unwrap_err());
    assert!(message.contains("nope.toml"), "{message}");
}

const BAD_FIELD: &str = r#"{
  "eventVersion": "1.08",
  "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333"},
  "eventTime": "2026-11-20T09:00:00Z",
  "eventSource": "ec2.amazonaws.com",
  "eventName": "AuthorizeSecurityGroupIngress",
  "awsRegion": "eu-west-1",
  "requestParameters": {"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": [
    {"fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
  ]}},
  "responseElements": {"_return": true},
  "eventID": "11111111-2222-3333-4444-555555555555",
  "recipientAccountId": "111122223333"
}"#;

#[tokio::test]
async fn a_malformed_record_is_an_invalid_line_and_processing_continues() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir(&events).unwrap();
    let copy = |from: &str, to: &str| {
        std::fs::copy(examples().join("events").join(from), events.join(to)).unwrap()
    };
    copy(
        "01-envelope-authorize-ingress-ipv4-world-ssh.json",
        "a-good.json",
    );
    std::fs::write(events.join("b-bad-field.json"), BAD_FIELD).unwrap();
    std::fs::write(events.join("c-not-json.json"), "{\"eventName\": ").unwrap();
    copy(
        "09-envelope-authorize-ingress-prefix-list-https.json",
        "d-good.json",
    );
    std::fs::write(events.join("notes.txt"), "not an event file").unwrap();

    let db = dir.path().join("a.db");
    let (run, lines) = run(&args(vec![events.clone()], &db)).await;
    let outcomes: Vec<&str> = lines.iter().map(|l| text(l, "outcome")).collect();
    assert_eq!(
        outcomes,
        ["would_revert", "invalid", "invalid", "approved"],
        "{lines:#?}"
    );

    let bad = &lines[1];
    let reason = text(bad, "reason");
    assert!(reason.contains("b-bad-field.json record 0"), "{reason}");
    assert!(
        reason.contains("requestParameters.ipPermissions.items[0].ipProtocol"),
        "{reason}"
    );
    assert_eq!(
        text(bad, "event_id"),
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(origin_file(bad), "b-bad-field.json");
    assert_eq!(bad["origin"]["index"], 0);
    let not_json = text(&lines[2], "reason");
    assert!(
        not_json.contains("c-not-json.json record 0") && not_json.contains("not valid JSON"),
        "{not_json}"
    );

    assert_eq!(run.summary.count(Outcome::Invalid), 2);
    assert_eq!(run.exit(), Exit::Incomplete);

    let store = SqliteStore::open(&db).unwrap();
    let invalid = store.invalid_records().unwrap();
    assert_eq!(invalid.len(), 2);
    assert!(
        invalid
            .iter()
            .any(|r| r.key == "11111111-2222-3333-4444-555555555555"
                && r.raw["eventName"] == "AuthorizeSecurityGroupIngress")
    );
    assert!(
        invalid
            .iter()
            .any(|r| r.raw == Value::String("{\"eventName\": ".into()))
    );
    assert_eq!(store.events().unwrap().len(), 2);
}

#[tokio::test]
async fn table_format_prints_rows_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = example_args(&dir.path().join("a.db"));
    a.format = Some(Format::Table);
    let mut out = Vec::new();
    let run = replay(&a, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(run.reports.len(), 30);
    assert!(text.contains("OUTCOME"), "{text}");
    assert!(text.contains("AuthorizeSecurityGroupIngress"), "{text}");
    let summary = text.lines().last().unwrap();
    assert!(
        summary.starts_with("30 events read, 4 skipped (1 failed, 3 unrelated)"),
        "{summary}"
    );
    assert!(
        summary.contains("8 would revert")
            && summary.contains("1 duplicates")
            && summary.contains("1 own actions"),
        "{summary}"
    );
    assert!(!text.contains('\u{1b}'), "no colour when not on a terminal");
}

#[tokio::test]
async fn replay_never_reverts_even_under_enforce() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = example_args(&dir.path().join("a.db"));
    a.policy.mode = Mode::Enforce;
    let (_, lines) = run(&a).await;
    for (line, want) in lines.iter().zip(expected()) {
        assert_eq!(
            text(line, "outcome"),
            want.outcome,
            "{}: {}",
            want.event_id,
            line["reason"]
        );
    }
    let store = SqliteStore::open(dir.path().join("a.db")).unwrap();
    assert!(
        store
            .events()
            .unwrap()
            .iter()
            .all(|e| e.outcome != Outcome::Pending && e.outcome != Outcome::Reverted)
    );
}

#[tokio::test]
async fn policy_flags_reach_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = example_args(&dir.path().join("a.db"));
    a.policy.min_risk = RiskLevel::Medium;
    a.policy.self_arns = Vec::new();
    let (_, lines) = run(&a).await;
    let outcome_of = |id: &str| {
        lines
            .iter()
            .find(|l| l["event_id"] == id)
            .map(|l| text(l, "outcome").to_owned())
    };
    // 07 opens a public /22 (medium): flagged at `high`, reverted at `medium`.
    assert_eq!(
        outcome_of("670c5891-45d2-4c06-a206-02e0fc80fa6f").as_deref(),
        Some("would_revert")
    );
    // 19 is the responder's own revoke; without --self-arn it is just a recorded revoke.
    assert_eq!(
        outcome_of("45b58f3a-807d-4f89-bece-2523375277c6").as_deref(),
        Some("recorded")
    );
}

#[tokio::test]
async fn replay_backfills_dynamodb_with_the_same_outcomes() {
    let Some(endpoint) =
        sgguard_testkit::aws::endpoint("replay_backfills_dynamodb_with_the_same_outcomes")
    else {
        return;
    };
    let mut a = example_args(Path::new("unused.db"));
    a.store = StoreArgs {
        store: StoreSpec::DynamoDb,
        audit_table: sgguard_testkit::aws::unique("replay-audit"),
        allowlist_table: sgguard_testkit::aws::unique("replay-allow"),
        endpoint_url: Some(endpoint),
        region: Some("us-east-1".into()),
        ..StoreArgs::default()
    };
    let init = sgguard_cli::InitArgs {
        store: a.store.clone(),
    };
    sgguard_cli::commands::init::init(&init).await.unwrap();
    // A backfill judges against the stored allowlist: import it first.
    let import = sgguard_cli::commands::allow::ImportArgs {
        file: examples().join("allowlist.toml"),
        store: a.store.clone(),
    };
    sgguard_cli::commands::allow::import(&import, &mut Vec::new())
        .await
        .unwrap();
    a.allowlist = None;
    let mut out = Vec::new();
    replay(&a, &mut out).await.unwrap();
    let outcomes: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = expected().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, expected, "DynamoDB and SQLite backfills agree");
}

#[test]
fn store_specs_parse_and_display() {
    assert_eq!(
        "sqlite:/tmp/a.db".parse::<StoreSpec>(),
        Ok(StoreSpec::Sqlite("/tmp/a.db".into()))
    );
    assert_eq!("sqlite".parse::<StoreSpec>(), Ok(StoreSpec::default()));
    assert_eq!("dynamodb".parse::<StoreSpec>(), Ok(StoreSpec::DynamoDb));
    for bad in ["sqlite:", "postgres://x", "a.db"] {
        let err = bad.parse::<StoreSpec>().unwrap_err();
        assert!(err.contains(bad) && err.contains("sqlite:PATH"), "{err}");
    }
    assert_eq!(
        StoreSpec::Sqlite("x/a.db".into()).to_string(),
        "sqlite:x/a.db"
    );
}

#[tokio::test]
async fn dead_lettered_invocations_are_read_back_like_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let originals = [
        "01-envelope-authorize-ingress-ipv4-world-ssh.json",
        "09-envelope-authorize-ingress-prefix-list-https.json",
    ];
    let mut lines = String::new();
    for name in originals {
        let event: Value = serde_json::from_str(
            &std::fs::read_to_string(examples().join("events").join(name)).unwrap(),
        )
        .unwrap();
        lines.push_str(&sgguard_testkit::cloudtrail::dead_letter(&event).to_string());
        lines.push('\n');
    }
    let dlq = dir.path().join("dead-letters.jsonl");
    std::fs::write(&dlq, lines).unwrap();

    let (_, redriven) = run(&args(vec![dlq], &dir.path().join("redrive.db"))).await;
    let (_, direct) = run(&args(
        originals
            .iter()
            .map(|n| examples().join("events").join(n))
            .collect(),
        &dir.path().join("direct.db"),
    ))
    .await;
    let summary = |lines: &[Value]| -> Vec<(String, String)> {
        lines
            .iter()
            .map(|l| {
                (
                    text(l, "event_id").to_owned(),
                    text(l, "outcome").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(summary(&redriven), summary(&direct));
    assert_eq!(summary(&redriven).len(), 2);
    assert_eq!(text(&redriven[0], "outcome"), "would_revert");
}

/// A what-if run never writes its hypothetical approvals into the DynamoDB audit table the
/// live responder reads: refused with the way out named, and with `--what-if-store` it
/// records into that SQLite file only.
#[tokio::test]
async fn a_what_if_run_against_dynamodb_needs_a_store_of_its_own() {
    let Some(endpoint) =
        sgguard_testkit::aws::endpoint("a_what_if_run_against_dynamodb_needs_a_store_of_its_own")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = example_args(Path::new("unused.db"));
    a.store = StoreArgs {
        store: StoreSpec::DynamoDb,
        audit_table: sgguard_testkit::aws::unique("whatif-audit"),
        allowlist_table: sgguard_testkit::aws::unique("whatif-allow"),
        endpoint_url: Some(endpoint),
        region: Some("us-east-1".into()),
        ..StoreArgs::default()
    };
    let init = sgguard_cli::InitArgs {
        store: a.store.clone(),
    };
    sgguard_cli::commands::init::init(&init).await.unwrap();

    let refused = replay(&a, &mut Vec::new()).await.unwrap_err();
    let message = format!("{refused:#}");
    assert!(
        message.contains("--what-if-store") && message.contains("allowlist.toml"),
        "{message}"
    );
    a.what_if_store = Some(StoreSpec::DynamoDb);
    let refused = format!("{:#}", replay(&a, &mut Vec::new()).await.unwrap_err());
    assert!(refused.contains("--what-if-store dynamodb"), "{refused}");

    let whatif = dir.path().join("whatif.db");
    a.what_if_store = Some(StoreSpec::Sqlite(whatif.clone()));
    let (run, lines) = run(&a).await;
    assert_eq!(lines.len(), expected().len(), "{run:?}");
    let audit = sgguard_cli::store::StoreArgs {
        store: StoreSpec::Sqlite(whatif),
        ..StoreArgs::default()
    }
    .open()
    .await
    .unwrap()
    .audit;
    let first = text(&lines[0], "event_id");
    assert!(
        sgguard_responder::AuditLog::event(&audit, first)
            .await
            .unwrap()
            .is_some(),
        "the what-if run recorded into its own store"
    );
    let table = a.store.open().await.unwrap().audit;
    assert!(
        sgguard_responder::AuditLog::event(&table, first)
            .await
            .unwrap()
            .is_none(),
        "and nothing into the audit table"
    );
}
