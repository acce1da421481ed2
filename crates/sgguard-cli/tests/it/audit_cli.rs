//! `sgguard audit` as a user runs it: output formats, help, flag errors and exit statuses.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const SELF_ARN: &str = "arn:aws:iam::111122223333:role/sgguard-responder";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `sgguard` with a clean environment, run from `dir`.
fn sgguard(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("sgguard").unwrap();
    for var in [
        "SGGUARD_STORE",
        "SGGUARD_MODE",
        "SGGUARD_MIN_RISK",
        "SGGUARD_SELF_ARNS",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir);
    cmd
}

/// A directory whose `a.db` holds the example events.
fn replayed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sgguard(dir.path())
        .args(["replay", "--store", "sqlite:a.db", "--self-arn", SELF_ARN])
        .arg("--allowlist")
        .arg(examples().join("allowlist.toml"))
        .arg(examples().join("events"))
        .assert()
        .success();
    dir
}

fn audit(dir: &Path) -> Command {
    let mut cmd = sgguard(dir);
    cmd.args(["audit", "--store", "sqlite:a.db"]);
    cmd
}

#[test]
fn csv_and_json_formats() {
    let dir = replayed();
    let csv = audit(dir.path())
        .args([
            "--outcome",
            "would_revert",
            "--since",
            "2026-11-01",
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "event_time,event_id,event_name,account,region,group_id,actor,outcome,max_risk,rule_ids,reason"
    );
    assert_eq!(lines.len(), 9, "header and 8 events:\n{text}");
    assert!(lines[1].starts_with(
        "2026-11-20T14:02:19Z,479dd02e-5974-4f6b-8eeb-4467a5c46004,ModifySecurityGroupRules,"
    ));

    // Piped, the default is JSON Lines with the output contract's field names.
    let json = audit(dir.path())
        .args(["--group", "sg-0a1b2c3d4e5f60718", "--min-risk", "critical"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let lines: Vec<Value> = String::from_utf8(json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    for field in [
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
    ] {
        assert!(lines[0].get(field).is_some(), "{field}");
    }
    assert_eq!(lines[0]["event_id"], "b61e6ba5-3682-4dd6-b804-69b84b2d451c");

    // `show` as one JSON object with the raw record; `rule` as CSV.
    let shown = audit(dir.path())
        .args([
            "show",
            "b61e6ba5-3682-4dd6-b804-69b84b2d451c",
            "--format",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let shown: Value = serde_json::from_slice(&shown).unwrap();
    assert_eq!(
        shown["raw"]["eventID"],
        "b61e6ba5-3682-4dd6-b804-69b84b2d451c"
    );
    assert_eq!(shown["event"]["outcome"], "would_revert");
    audit(dir.path())
        .args(["rule", "sgr-0a7c3e5b9d1f2a4c6", "--format", "csv"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "event_time,event_id,event_name,group_id,actor,outcome,kind,direction,content,risk,verdict,action,remediation\n2026-11-20T12:31:05Z,603ae5da",
        ));
}

#[test]
fn table_is_the_choice_for_people_and_has_no_colour_when_piped() {
    let dir = replayed();
    audit(dir.path())
        .args(["--rule", "sgr-0a7c3e5b9d1f2a4c6", "--format", "table"])
        .assert()
        .success()
        .stdout(predicate::str::contains("TIME (UTC)"))
        .stdout(predicate::str::contains(
            "479dd02e-5974-4f6b-8eeb-4467a5c46004",
        ))
        .stdout(predicate::str::contains("2 events, newest first"))
        .stdout(predicate::str::contains("\u{1b}[").not());
}

#[test]
fn unknown_event_and_rule_are_one_line_errors_with_status_1() {
    let dir = replayed();
    audit(dir.path())
        .args(["show", "no-such-event"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("error: no event `no-such-event` in sqlite:a.db\n");
    audit(dir.path())
        .args(["rule", "sgr-0000000000000000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no recorded change of rule `sgr-0000000000000000`",
        ));
    // The store flags go before or after the subcommand; the list's filters do not apply.
    sgguard(dir.path())
        .args([
            "audit",
            "rule",
            "sgr-0a7c3e5b9d1f2a4c6",
            "--store",
            "sqlite:a.db",
        ])
        .assert()
        .success();
    audit(dir.path())
        .args(["--group", "sg-0a1b2c3d4e5f60718", "show", "no-such-event"])
        .assert()
        .code(1)
        .stderr("error: `--group` filters the list; `audit show` does not take it\n");
    audit(dir.path())
        .args(["--kind", "allowlist", "--outcome", "reverted"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`--outcome` does not apply"));
}

#[test]
fn bad_flag_values_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    audit(dir.path())
        .args(["--since", "last tuesday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'--since <TIME>'"))
        .stderr(predicate::str::contains("is not a time"));
    audit(dir.path())
        .args(["--outcome", "revrted"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'--outcome <OUTCOME>'"))
        .stderr(predicate::str::contains("reverted"));
    audit(dir.path())
        .args(["--min-risk", "severe"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--min-risk"));
    audit(dir.path())
        .args(["--since", "2026-11-21", "--until", "2026-11-20"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`--since`"));
}

#[test]
fn every_audit_command_explains_itself_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["audit", "--help"],
        vec!["audit", "show", "--help"],
        vec!["audit", "rule", "--help"],
    ] {
        sgguard(dir.path())
            .args(&args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"))
            .stdout(predicate::str::contains("--format"))
            .stdout(predicate::str::contains("--store"));
    }
    sgguard(dir.path())
        .args(["audit", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("last 30 days"))
        .stdout(predicate::str::contains("--aws-region"))
        .stdout(predicate::str::contains(
            "sgguard audit --group sg-0a1b2c3d4e5f60718 --min-risk critical",
        ));
}
