//! The `sgguard` binary as a user runs it: help texts, output formats, stdin, exit statuses
//! and flag errors.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const SELF_ARN: &str = "arn:aws:iam::111122223333:role/sgguard-responder";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `sgguard` with a clean environment, run from `dir` so nothing lands in the repository.
fn sgguard(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("sgguard").unwrap();
    for (var, _) in std::env::vars() {
        if var.starts_with("SGGUARD_") {
            cmd.env_remove(var);
        }
    }
    cmd.env_remove("RUST_LOG").env_remove("NO_COLOR");
    cmd.current_dir(dir);
    cmd
}

/// `sgguard replay` with the example allowlist, the responder's ARN and a store in `dir`.
fn replay(dir: &Path) -> Command {
    let mut cmd = sgguard(dir);
    cmd.arg("replay")
        .arg("--store")
        .arg(format!("sqlite:{}", dir.join("a.db").display()))
        .arg("--allowlist")
        .arg(examples().join("allowlist.toml"))
        .arg("--self-arn")
        .arg(SELF_ARN);
    cmd
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn help_explains_the_commands_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    sgguard(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains(
            "sgguard replay examples/events --allowlist examples/allowlist.toml",
        ))
        .stdout(predicate::str::contains("replay"))
        .stdout(predicate::str::contains("init"))
        .stdout(predicate::str::contains("security groups"));
}

#[test]
fn replay_help_explains_input_exit_status_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    sgguard(dir.path())
        .args(["replay", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("Exit status"))
        .stdout(predicate::str::contains("gzip"))
        .stdout(predicate::str::contains("--min-risk"))
        .stdout(predicate::str::contains("--allowlist"))
        .stdout(predicate::str::contains("--self-arn"))
        .stdout(predicate::str::contains("--store"));
}

#[test]
fn replay_json_prints_one_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let output = replay(dir.path())
        .args(["--format", "json"])
        .arg(examples().join("events"))
        .assert()
        .success()
        .get_output()
        .clone();
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 30);
    assert_eq!(lines[0]["outcome"], "would_revert");
    assert_eq!(lines[0]["event_id"], "b61e6ba5-3682-4dd6-b804-69b84b2d451c");
    assert_eq!(lines[29]["outcome"], "duplicate");
    assert!(
        dir.path().join("a.db").exists(),
        "the store is where --store says"
    );
}

#[test]
fn json_is_the_default_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let output = replay(dir.path())
        .arg(examples().join("events"))
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(json_lines(&output.stdout).len(), 30);
}

#[test]
fn replay_table_prints_the_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    replay(dir.path())
        .args(["--format", "table"])
        .arg(examples().join("events"))
        .assert()
        .success()
        .stdout(predicate::str::contains("OUTCOME"))
        .stdout(predicate::str::contains("30 events read"))
        .stdout(predicate::str::contains("events read"))
        .stdout(predicate::str::contains("would revert"));
}

#[test]
fn stdin_is_read_for_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let event =
        std::fs::read(examples().join("events/01-envelope-authorize-ingress-ipv4-world-ssh.json"))
            .unwrap();
    let output = replay(dir.path())
        .args(["--format", "json", "-"])
        .write_stdin(event)
        .assert()
        .success()
        .get_output()
        .clone();
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "would_revert");
    assert_eq!(lines[0]["origin"]["file"], "<stdin>");

    // Compressed input on stdin is recognized by its magic bytes.
    let gz = std::fs::read(
        examples().join("events/22-logfile-gz-unrelated-and-office-ipv6-ssh.json.gz"),
    )
    .unwrap();
    let output = replay(dir.path())
        .args(["--format", "json", "-"])
        .write_stdin(gz)
        .assert()
        .success()
        .get_output()
        .clone();
    let outcomes: Vec<Value> = json_lines(&output.stdout)
        .iter()
        .map(|l| l["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        ["skipped_unrelated", "skipped_unrelated", "approved"]
    );
}

#[test]
fn a_malformed_file_exits_3_with_an_invalid_line() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir(&events).unwrap();
    std::fs::write(
        events.join("broken.json"),
        "{\"eventName\": \"AuthorizeSecurityGroupIngress\", ",
    )
    .unwrap();
    std::fs::copy(
        examples().join("events/09-envelope-authorize-ingress-prefix-list-https.json"),
        events.join("good.json"),
    )
    .unwrap();
    let output = replay(dir.path())
        .args(["--format", "json"])
        .arg(&events)
        .assert()
        .code(3)
        .get_output()
        .clone();
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 2, "processing continues after the bad file");
    assert_eq!(lines[0]["outcome"], "invalid");
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("broken.json record 0") && reason.contains("not valid JSON"),
        "{reason}"
    );
    assert_eq!(lines[1]["outcome"], "approved");

    replay(dir.path())
        .args(["--format", "table"])
        .arg(&events)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("invalid"))
        .stdout(predicate::str::contains("1 invalid"));
}

#[test]
fn a_bad_min_risk_is_a_usage_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    replay(dir.path())
        .args(["--min-risk", "extreme"])
        .arg(examples().join("events"))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("--min-risk"))
        .stderr(predicate::str::contains("extreme"))
        .stderr(predicate::str::contains("critical"));
    assert!(
        !dir.path().join("a.db").exists(),
        "nothing runs after a usage error"
    );
}

#[test]
fn a_bad_store_is_a_usage_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    sgguard(dir.path())
        .args(["replay", "--store", "mysql:audit"])
        .arg(examples().join("events"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--store"))
        .stderr(predicate::str::contains("sqlite:PATH"));
}

#[test]
fn a_bad_mode_and_a_missing_path_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    replay(dir.path())
        .args(["--mode", "yolo"])
        .arg(examples().join("events"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--mode"));
    sgguard(dir.path())
        .arg("replay")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<PATH>"));
}

#[test]
fn a_missing_allowlist_file_fails_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    sgguard(dir.path())
        .arg("replay")
        .arg("--store")
        .arg(format!("sqlite:{}", dir.path().join("a.db").display()))
        .args(["--allowlist", "does-not-exist.toml"])
        .arg(examples().join("events"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error:"))
        .stderr(predicate::str::contains("does-not-exist.toml"));
}

#[test]
fn environment_variables_set_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let output = replay(dir.path())
        .env("SGGUARD_MIN_RISK", "medium")
        .args(["--format", "json"])
        .arg(
            examples()
                .join("events/07-envelope-authorize-ingress-string-ports-public-slash22.json"),
        )
        .assert()
        .success()
        .get_output()
        .clone();
    let lines = json_lines(&output.stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["outcome"], "would_revert",
        "{}",
        lines[0]["reason"]
    );
}

#[test]
fn init_creates_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    sgguard(dir.path())
        .args(["init", "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "schema version {}",
            sgguard_local::SCHEMA_VERSION
        )));
    assert!(db.exists());
    // Running it again is harmless.
    sgguard(dir.path())
        .args(["init", "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .assert()
        .success();
}

#[test]
fn init_creates_the_dynamodb_tables_idempotently() {
    let Some(endpoint) =
        sgguard_testkit::aws::endpoint("init_creates_the_dynamodb_tables_idempotently")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let audit = sgguard_testkit::aws::unique("cli-audit");
    let init = || {
        let mut cmd = sgguard(dir.path());
        cmd.args([
            "init",
            "--store",
            "dynamodb",
            "--aws-region",
            "us-east-1",
            "--endpoint-url",
            &endpoint,
            "--audit-table",
            &audit,
        ])
        .args(["--allowlist-table", &format!("{audit}-allow")])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    };
    init()
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("table {audit}: created")));
    init()
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "table {audit}: already exists"
        )));
}

#[test]
fn a_missing_input_path_fails_with_status_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    replay(dir.path())
        .args(["--format", "json", "no-such-trail.json"])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("no-such-trail.json"));
}

#[test]
fn retry_failed_needs_enforce_and_is_not_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let event = examples()
        .join("events")
        .join("01-envelope-authorize-ingress-ipv4-world-ssh.json");
    sgguard(dir.path())
        .args(["respond", "--retry-failed", "--store", "sqlite:a.db"])
        .arg(&event)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--retry-failed")
                .and(predicate::str::contains("--mode enforce")),
        );
    sgguard(dir.path())
        .args([
            "respond",
            "--retry-failed",
            "--dry-run",
            "--mode",
            "enforce",
            "--store",
            "sqlite:a.db",
        ])
        .arg(&event)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--dry-run"));
}

#[test]
fn a_store_that_cannot_be_opened_is_one_line_with_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.db"), "not a database").unwrap();
    for (store, message) in [
        (
            "sqlite:missing/audit.db",
            "error: cannot open the audit store `missing/audit.db`: the directory `missing` does not exist\n",
        ),
        (
            "sqlite:notes.db",
            "error: cannot open the audit store `notes.db`: file is not a database\n",
        ),
    ] {
        sgguard(dir.path())
            .args(["audit", "--store", store])
            .assert()
            .code(1)
            .stdout("")
            .stderr(message.to_owned());
    }
}
