//! `sgguard respond` as an operator runs it against AWS (the local emulator): redriving the
//! dead-letter queue's messages under enforce, the multi-account path through
//! `--member-role`, and `--retry-failed` once the cause of a failed revert is fixed, with
//! the same code and stores as the Lambda.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use sgguard_aws::{DynamoAuditLog, TableNames, create_tables};
use sgguard_responder::AuditLog;
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{Vpc, ids, tcp, v4};

const HOME: &str = "123456789012";
const MEMBER: &str = "222233334444";
const REGION: &str = "us-east-1";

/// `sgguard respond --mode enforce --store dynamodb` on the emulator.
fn respond(dir: &Path, endpoint: &str, tables: &TableNames) -> Command {
    let mut cmd = Command::cargo_bin("sgguard").unwrap();
    for var in [
        "SGGUARD_STORE",
        "SGGUARD_MODE",
        "SGGUARD_SELF_ARNS",
        "SGGUARD_MEMBER_ROLE_NAME",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "respond", "--mode", "enforce", "--format", "json", "--store", "dynamodb",
        ])
        .args(["--aws-region", REGION, "--endpoint-url", endpoint])
        .args([
            "--audit-table",
            &tables.audit,
            "--allowlist-table",
            &tables.allowlist,
        ]);
    cmd
}

#[tokio::test]
async fn dead_letters_are_redriven_and_member_accounts_reached_through_the_member_role() {
    let Some(endpoint) = aws::endpoint(
        "dead_letters_are_redriven_and_member_accounts_reached_through_the_member_role",
    ) else {
        return;
    };
    let config = aws::config(&endpoint).await;
    let tables = TableNames {
        audit: aws::unique("respond-audit"),
        allowlist: aws::unique("respond-allow"),
    };
    create_tables(&aws_sdk_dynamodb::Client::new(&config), &tables)
        .await
        .unwrap();

    // A world-open SSH rule in the home account and one in a member account.
    let caller = |account| Caller::role(account, "Admin", "mallory");
    let ssh = vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()];
    let home = Vpc::create(aws_sdk_ec2::Client::new(&config), "sgguard respond home").await;
    let home_group = home.group("home-web").await;
    let home_id = aws::unique("redrive-home");
    let (_, home_event) = home
        .authorize_as(
            &home_id,
            &caller(HOME),
            HOME,
            REGION,
            &home_group,
            ssh.clone(),
        )
        .await;
    let member = Vpc::create(
        aws::ec2_in_account(&endpoint, MEMBER, "sgguard-member").await,
        "sgguard respond member",
    )
    .await;
    let member_group = member.group("member-web").await;
    let member_id = aws::unique("redrive-member");
    let (member_rules, member_event) = member
        .authorize_as(
            &member_id,
            &caller(MEMBER),
            MEMBER,
            REGION,
            &member_group,
            ssh,
        )
        .await;

    let dir = tempfile::tempdir().unwrap();
    let dlq = dir.path().join("dead-letters.jsonl");
    std::fs::write(
        &dlq,
        format!(
            "{}\n{}\n",
            cloudtrail::dead_letter(&cloudtrail::envelope(&home_event)),
            cloudtrail::dead_letter(&cloudtrail::envelope(&member_event))
        ),
    )
    .unwrap();

    // Without --member-role: the home event is reverted, the member event's revert fails
    // (exit 3), and nothing is tried in the wrong account.
    let first = respond(dir.path(), &endpoint, &tables)
        .arg(&dlq)
        .assert()
        .code(3);
    let lines: Vec<Value> = String::from_utf8_lossy(&first.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["reverted", "revert_failed"], "{lines:#?}");
    assert!(
        ids(&home.ingress_rules(&home_group).await).is_empty(),
        "the home rule is gone"
    );
    assert_eq!(
        ids(&member.ingress_rules(&member_group).await),
        ids(&member_rules),
        "the member rule stays"
    );

    // A failed revert is final for its event: running it again is a duplicate.
    std::fs::write(
        &dlq,
        format!(
            "{}\n",
            cloudtrail::dead_letter(&cloudtrail::envelope(&member_event))
        ),
    )
    .unwrap();
    let again = respond(dir.path(), &endpoint, &tables)
        .args(["--member-role", "sgguard-member"])
        .arg(&dlq)
        .assert()
        .success();
    let line: Value = serde_json::from_slice(&again.get_output().stdout).unwrap();
    assert_eq!(line["outcome"], "duplicate", "{line:#}");

    // Asked to retry, with the member role now given: reverted in the member account.
    let retried = respond(dir.path(), &endpoint, &tables)
        .args(["--member-role", "sgguard-member", "--retry-failed"])
        .arg(&dlq)
        .assert()
        .success();
    let line: Value = serde_json::from_slice(&retried.get_output().stdout).unwrap();
    assert_eq!(line["outcome"], "reverted", "{line:#}");
    assert!(
        line["reason"]
            .as_str()
            .unwrap()
            .starts_with("retried after revert_failed"),
        "{line:#}"
    );
    assert!(
        ids(&member.ingress_rules(&member_group).await).is_empty(),
        "the member's SSH rule is gone"
    );

    // A new change in the member account, with the member role: reverted there.
    let rdp = vec![tcp(3389).ip_ranges(v4("0.0.0.0/0")).build()];
    let rdp_id = aws::unique("redrive-member-rdp");
    let (_, rdp_event) = member
        .authorize_as(&rdp_id, &caller(MEMBER), MEMBER, REGION, &member_group, rdp)
        .await;
    std::fs::write(
        &dlq,
        format!(
            "{}\n",
            cloudtrail::dead_letter(&cloudtrail::envelope(&rdp_event))
        ),
    )
    .unwrap();
    let second = respond(dir.path(), &endpoint, &tables)
        .args(["--member-role", "sgguard-member"])
        .arg(&dlq)
        .assert()
        .success();
    let line: Value = serde_json::from_slice(&second.get_output().stdout).unwrap();
    assert_eq!(line["outcome"], "reverted", "{line:#}");
    let left = ids(&member.ingress_rules(&member_group).await);
    assert!(left.is_empty(), "the RDP rule is gone: {left:?}");

    let audit = DynamoAuditLog::new(aws_sdk_dynamodb::Client::new(&config), &tables.audit);
    let stored = audit.event(&rdp_id).await.unwrap().expect("recorded");
    assert_eq!(stored.account.as_deref(), Some(MEMBER));
    assert_eq!(
        audit
            .event(&member_id)
            .await
            .unwrap()
            .expect("recorded")
            .outcome
            .as_str(),
        "reverted",
        "the retry replaced the failure"
    );
}

/// `respond` acts only on authentic EventBridge envelopes, as the Lambda does: a bare
/// CloudTrail record (a log file, an export) is kept as invalid and nothing is done, unless
/// the operator states with `--trust-bare-records` that the file is CloudTrail's own. A
/// forged envelope is refused either way.
#[tokio::test]
async fn bare_records_are_acted_on_only_when_the_operator_trusts_them() {
    let Some(endpoint) =
        aws::endpoint("bare_records_are_acted_on_only_when_the_operator_trusts_them")
    else {
        return;
    };
    let config = aws::config(&endpoint).await;
    let tables = TableNames {
        audit: aws::unique("bare-audit"),
        allowlist: aws::unique("bare-allow"),
    };
    create_tables(&aws_sdk_dynamodb::Client::new(&config), &tables)
        .await
        .unwrap();
    let home = Vpc::create(aws_sdk_ec2::Client::new(&config), "sgguard bare records").await;
    let group = home.group("bare").await;
    let (created, record) = home
        .authorize_as(
            &aws::unique("bare"),
            &Caller::user(HOME, "mallory"),
            HOME,
            REGION,
            &group,
            vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cloudtrail.json");
    std::fs::write(&log, serde_json::json!({"Records": [record]}).to_string()).unwrap();
    let mut forged = cloudtrail::envelope(&record);
    forged["source"] = serde_json::json!("custom.app");
    let forged_file = dir.path().join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();

    let out = respond(dir.path(), &endpoint, &tables)
        .arg(&log)
        .arg(&forged_file)
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["outcome"], "invalid", "{line:#}");
    }
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("--trust-bare-records"),
        "{:#}",
        lines[0]
    );
    assert_eq!(ids(&home.ingress_rules(&group).await), ids(&created));

    let out = respond(dir.path(), &endpoint, &tables)
        .arg("--trust-bare-records")
        .arg(&log)
        .arg(&forged_file)
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["outcome"], "reverted", "{:#}", lines[0]);
    assert_eq!(
        lines[1]["outcome"], "invalid",
        "a forged envelope is still refused"
    );
    assert!(home.ingress_rules(&group).await.is_empty());
}
