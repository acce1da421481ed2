//! `sgguard allow` as a user runs it: help texts, output formats, exit statuses (0, 1, and
//! 2 when `check` finds an unapproved rule) and one-line errors.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use sgguard_local::SqliteStore;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `sgguard allow <sub>` on a store in `dir`, as OS user `alice`, with a clean environment.
fn allow(dir: &Path, sub: &str) -> Command {
    let mut cmd = Command::cargo_bin("sgguard").unwrap();
    for var in [
        "SGGUARD_STORE",
        "SGGUARD_AUDIT_TABLE",
        "SGGUARD_ALLOWLIST_TABLE",
        "RUST_LOG",
        "NO_COLOR",
        "USERNAME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("USER", "alice")
        .current_dir(dir)
        .args(["allow", sub, "--store"])
        .arg(format!("sqlite:{}", dir.join("a.db").display()));
    cmd
}

fn add_office_ssh(dir: &Path) -> Command {
    let mut cmd = allow(dir, "add");
    cmd.args([
        "office-ssh",
        "--owner",
        "netops@example.com",
        "--reason",
        "NET-123 office SSH",
        "--expires",
        "2030-01-31",
        "--protocol",
        "tcp",
        "--ports",
        "22",
        "--cidr",
        "203.0.113.0/24",
    ]);
    cmd
}

#[test]
fn every_allow_command_explains_itself_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("sgguard").unwrap();
        cmd.current_dir(dir.path()).args(args).arg("--help");
        cmd.assert()
            .success()
            .stdout(predicate::str::contains("Examples:"))
    };
    help(&["allow"]).stdout(predicate::str::contains("check"));
    help(&["allow", "list"]).stdout(predicate::str::contains("--expiring"));
    help(&["allow", "add"])
        .stdout(predicate::str::contains("--cidr"))
        .stdout(predicate::str::contains("--replace"))
        .stdout(predicate::str::contains("--aws-region"));
    help(&["allow", "remove"]);
    help(&["allow", "import"]).stdout(predicate::str::contains("nothing is written"));
    help(&["allow", "export"]).stdout(predicate::str::contains("--output"));
    help(&["allow", "check"])
        .stdout(predicate::str::contains("Exit status"))
        .stdout(predicate::str::contains("--allowlist"));
    let mut cmd = Command::cargo_bin("sgguard").unwrap();
    cmd.current_dir(dir.path())
        .arg("--help")
        .assert()
        .stdout(predicate::str::contains("allow"));
}

#[test]
fn add_list_check_remove_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    add_office_ssh(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "added office-ssh: { id = \"office-ssh\"",
        ));

    // JSON is the default when piped.
    let output = allow(dir.path(), "list")
        .assert()
        .success()
        .get_output()
        .clone();
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], "office-ssh");
    assert_eq!(lines[0]["expires"], "2030-01-31T00:00:00Z");

    allow(dir.path(), "list")
        .args(["--format", "table"])
        .assert()
        .success()
        .stdout(predicate::str::contains("EXPIRES"))
        .stdout(predicate::str::contains("2030-01-31T00:00:00Z (in "))
        .stdout(predicate::str::contains("1 entry"));

    // check: 0 when approved, 2 when not.
    let rule = |source: &str| {
        let mut cmd = allow(dir.path(), "check");
        cmd.args([
            "--format",
            "table",
            "--protocol",
            "tcp",
            "--ports",
            "22",
            "--source",
            source,
        ]);
        cmd
    };
    rule("203.0.113.0/24")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("approved by office-ssh"));
    rule("0.0.0.0/0")
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "NOT APPROVED; closest entry office-ssh",
        ))
        .stdout(predicate::str::contains("source: 0.0.0.0/0 is not inside"));

    // Adding it again without --replace is an error (1) naming the flag.
    add_office_ssh(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--replace"));

    allow(dir.path(), "remove")
        .arg("office-ssh")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("removed office-ssh"));
    allow(dir.path(), "remove")
        .arg("office-ssh")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: no allowlist entry `office-ssh`",
        ));

    // The change log says who (the OS user), when and what.
    let store = SqliteStore::open(dir.path().join("a.db")).unwrap();
    let log = store.allowlist_changes().unwrap();
    let actions: Vec<&str> = log.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["add", "remove"]);
    assert!(log.iter().all(|c| c.by == "local:alice"), "{log:?}");
}

#[test]
fn check_an_event_file_exits_2_and_json_has_one_line_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let output = allow(dir.path(), "check")
        .arg("--allowlist")
        .arg(examples().join("allowlist.toml"))
        .arg(examples().join("events/03-envelope-authorize-ingress-ipv4-ipv6-and-office-ssh.json"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let approved: Vec<&Value> = lines.iter().map(|l| &l["approved_by"]).collect();
    assert_eq!(
        approved,
        [&Value::Null, &Value::from("office-ssh"), &Value::Null]
    );
    assert_eq!(lines[0]["event_id"], "0db317d9-4c8e-4fa3-969a-73bf4c83cf3b");

    // From stdin, all approved: 0.
    let event = std::fs::read(
        examples().join("events/09-envelope-authorize-ingress-prefix-list-https.json"),
    )
    .unwrap();
    allow(dir.path(), "check")
        .args(["--format", "table", "--allowlist"])
        .arg(examples().join("allowlist.toml"))
        .arg("-")
        .write_stdin(event)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "approved by vpn-prefix-list-https",
        ));

    // An event file and rule flags together are a usage error.
    allow(dir.path(), "check")
        .args(["event.json", "--source", "0.0.0.0/0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--source"));
}

#[test]
fn a_bad_import_writes_nothing_and_names_the_entry_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[allow]]\nid = \"ok\"\nowner = \"a@example.com\"\nreason = \"r\"\n\n[[allow]]\nid = \"typo\"\nowner = \"a@example.com\"\nreason = \"r\"\nport = \"22\"\n",
    )
    .unwrap();
    allow(dir.path(), "import")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.toml"))
        .stderr(predicate::str::contains("entry `typo`: field `port`"));
    allow(dir.path(), "list")
        .assert()
        .success()
        .stdout(predicate::str::is_empty());

    // The example allowlist imports, and exports back to what imports identically.
    allow(dir.path(), "import")
        .arg(examples().join("allowlist.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("4 added, 0 replaced, 0 unchanged"));
    let exported = allow(dir.path(), "export")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let copy = tempfile::tempdir().unwrap();
    allow(copy.path(), "import")
        .arg("-")
        .write_stdin(exported.clone())
        .assert()
        .success();
    let again = allow(copy.path(), "export")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(exported, again);
}

#[test]
fn bad_flags_are_one_line_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    add_office_ssh(dir.path())
        .args(["--cidr", "203.0.113.0/33"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: --cidr: entry `office-ssh`: field `cidrs[1]`: `203.0.113.0/33` is not a CIDR",
        ))
        .stderr(predicate::function(|s: &str| s.lines().count() == 1));
    allow(dir.path(), "list")
        .args(["--expiring", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--expiring"));
    allow(dir.path(), "check")
        .args([
            "--protocol",
            "tcp",
            "--ports",
            "99999",
            "--source",
            "10.0.0.0/8",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error: --ports:"));
}
