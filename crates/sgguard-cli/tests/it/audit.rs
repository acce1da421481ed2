//! `sgguard audit` called with typed arguments against the example events, replayed into
//! SQLite and into DynamoDB on the local emulator: the questions people ask, answered the
//! same by both stores, in every format.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sgguard_cli::commands::audit::{
    self, AuditFormat, AuditKind, EVENTS_CSV_HEADER, ListArgs, RuleArgs, ShowArgs,
};
use sgguard_cli::output::Format;
use sgguard_cli::store::{StoreArgs, StoreSpec};
use sgguard_cli::{Exit, PolicyArgs, ReplayArgs, replay};
use sgguard_core::{Outcome, RiskLevel};
use sgguard_responder::settings::ResponderArns;
use sgguard_responder::{AllowlistChange, AllowlistStore};

const SELF_ARN: &str = "arn:aws:iam::111122223333:role/sgguard-responder";
const GROUP: &str = "sg-0a1b2c3d4e5f60718";
const WORLD_SSH_EVENT: &str = "b61e6ba5-3682-4dd6-b804-69b84b2d451c";
const RULE: &str = "sgr-0a7c3e5b9d1f2a4c6";
const NETWORK_ADMIN_GLOB: &str = "arn:aws:sts::*:assumed-role/NetworkAdmin/*";
const NETWORK_ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/NetworkAdmin";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn time(text: &str) -> DateTime<Utc> {
    sgguard_core::time::parse_event_time(text).unwrap()
}

/// The example events replayed into `store` (as `sgguard replay` with the example allowlist).
async fn replayed(store: StoreArgs) -> StoreArgs {
    // Into DynamoDB, a backfill judges against the stored allowlist (a what-if with a file
    // is refused there): import it first.
    let dynamodb = store.store == StoreSpec::DynamoDb;
    if dynamodb {
        let import = sgguard_cli::commands::allow::ImportArgs {
            file: examples().join("allowlist.toml"),
            store: store.clone(),
        };
        sgguard_cli::commands::allow::import(&import, &mut Vec::new())
            .await
            .unwrap();
    }
    let mut args = ReplayArgs {
        paths: vec![examples().join("events")],
        store: store.clone(),
        allowlist: Some(examples().join("allowlist.toml")),
        what_if_store: None,
        policy: PolicyArgs {
            self_arns: vec![ResponderArns(vec![SELF_ARN.to_owned()])],
            ..PolicyArgs::default()
        },
        format: Some(Format::Json),
    };
    if dynamodb {
        args.allowlist = None;
    }
    let run = replay(&args, &mut Vec::new()).await.unwrap();
    assert_eq!(run.exit(), Exit::Success);
    store
}

async fn sqlite(dir: &Path) -> StoreArgs {
    replayed(StoreArgs {
        store: StoreSpec::Sqlite(dir.join("audit.db")),
        ..StoreArgs::default()
    })
    .await
}

fn list_args(store: &StoreArgs) -> ListArgs {
    ListArgs {
        store: store.clone(),
        format: Some(AuditFormat::Json),
        ..ListArgs::default()
    }
}

async fn output(args: &ListArgs) -> String {
    let mut out = Vec::new();
    assert_eq!(audit::list(args, &mut out).await.unwrap(), Exit::Success);
    String::from_utf8(out).unwrap()
}

/// The JSON lines `sgguard audit` prints for `args`.
async fn lines(args: &ListArgs) -> Vec<Value> {
    output(args)
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["event_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The questions both stores must answer the same way, each with the ids SQLite gives.
/// Day-partitioned DynamoDB queries search the last 30 days by default, so those that walk
/// days name `--since` (the examples are dated 2026-11-20 and 21).
fn questions(store: &StoreArgs) -> Vec<(&'static str, ListArgs, Option<Vec<&'static str>>)> {
    let base = || list_args(store);
    let since = Some(time("2026-11-01T00:00:00Z"));
    vec![
        (
            "who opened port 22 to the world on the group",
            ListArgs {
                group: Some(GROUP.into()),
                min_risk: Some(RiskLevel::Critical),
                ..base()
            },
            Some(vec![WORLD_SSH_EVENT]),
        ),
        (
            "everything on the group",
            ListArgs {
                group: Some(GROUP.into()),
                ..base()
            },
            Some(vec![
                "45b58f3a-807d-4f89-bece-2523375277c6",
                "a9cc2ff7-4eaf-4d61-8434-d99c09ff7f0c",
                WORLD_SSH_EVENT,
            ]),
        ),
        (
            "a group named only by its name",
            ListArgs {
                group: Some("web-default".into()),
                ..base()
            },
            Some(vec!["50d00787-862a-43db-851b-ec1ede27387c"]),
        ),
        (
            "would revert since the 1st",
            ListArgs {
                outcome: vec![Outcome::WouldRevert],
                since,
                ..base()
            },
            None,
        ),
        (
            "approved or flagged on the 21st",
            ListArgs {
                outcome: vec![Outcome::Approved, Outcome::Flagged],
                since: Some(time("2026-11-21T00:00:00Z")),
                until: Some(time("2026-11-21T23:59:59Z")),
                ..base()
            },
            Some(vec![
                "14eb9e58-7f7d-4327-9c62-f04c92e3d3f0",
                "cd64fb1e-a953-4ae2-afa8-a1efb8ea1882",
                "95b97bd7-3bc4-4b7d-a833-37d3217c384d",
            ]),
        ),
        (
            "the NetworkAdmin sessions by glob",
            ListArgs {
                actor: Some(NETWORK_ADMIN_GLOB.into()),
                since,
                limit: 4,
                ..base()
            },
            Some(vec![
                "e465b1f1-ac59-47b6-8861-f3a5f201da49",
                "54a8dc38-bf76-4314-8480-6bd0e15b72c2",
                "e4d3921a-724a-47f6-a518-182b5e200159",
                "dde5a881-1aaf-4366-8999-f49576886726",
            ]),
        ),
        (
            "the role covers its sessions",
            ListArgs {
                actor: Some(NETWORK_ADMIN_ROLE.into()),
                outcome: vec![Outcome::WouldRevert],
                since,
                ..base()
            },
            Some(vec!["0db317d9-4c8e-4fa3-969a-73bf4c83cf3b"]),
        ),
        (
            "one user",
            ListArgs {
                actor: Some("arn:aws:iam::111122223333:user/erin".into()),
                ..base()
            },
            Some(vec![
                "47cad8c0-d6ca-439b-a8d4-3ad8611fd5b0",
                "95b97bd7-3bc4-4b7d-a833-37d3217c384d",
                "f1977fd6-45dc-4232-ad30-cb0307ddd33d",
                "479dd02e-5974-4f6b-8eeb-4467a5c46004",
            ]),
        ),
        (
            "events that touched a rule",
            ListArgs {
                rule: Some(RULE.into()),
                ..base()
            },
            Some(vec![
                "479dd02e-5974-4f6b-8eeb-4467a5c46004",
                "603ae5da-4663-4a99-a910-fc8d0f06e36b",
            ]),
        ),
        (
            "one event",
            ListArgs {
                event_id: Some(WORLD_SSH_EVENT.into()),
                ..base()
            },
            Some(vec![WORLD_SSH_EVENT]),
        ),
        (
            "one account and region, high and above",
            ListArgs {
                account: Some("111122223333".into()),
                region: Some("us-east-1".into()),
                min_risk: Some(RiskLevel::High),
                since,
                ..base()
            },
            Some(vec![
                "cd64fb1e-a953-4ae2-afa8-a1efb8ea1882",
                "50d00787-862a-43db-851b-ec1ede27387c",
                "baa2919c-0ded-47bb-bec0-c9226ed91f2e",
                "5df6f817-b099-4bcf-a0ec-6db25097c040",
            ]),
        ),
        (
            "the newest three",
            ListArgs {
                since,
                limit: 3,
                ..base()
            },
            Some(vec![
                "14eb9e58-7f7d-4327-9c62-f04c92e3d3f0",
                "cd64fb1e-a953-4ae2-afa8-a1efb8ea1882",
                "47cad8c0-d6ca-439b-a8d4-3ad8611fd5b0",
            ]),
        ),
    ]
}

#[tokio::test]
async fn who_opened_port_22_to_the_world_on_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let found = lines(&ListArgs {
        group: Some(GROUP.into()),
        min_risk: Some(RiskLevel::Critical),
        ..list_args(&store)
    })
    .await;
    assert_eq!(ids(&found), [WORLD_SSH_EVENT]);
    let event = &found[0];
    assert_eq!(event["outcome"], "would_revert");
    assert_eq!(
        event["actor"], "arn:aws:iam::111122223333:user/alice",
        "who"
    );
    assert_eq!(event["event_time"], "2026-11-20T09:15:02Z", "when");
    let change = &event["changes"][0];
    assert_eq!(change["from_port"], 22);
    assert_eq!(change["source"], "0.0.0.0/0");
    assert_eq!(change["risk"], "critical");
    assert_eq!(change["action"], "would_revert", "was it reverted");
}

#[tokio::test]
async fn sqlite_answers_every_question() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    for (what, args, expected) in questions(&store) {
        let found = lines(&args).await;
        let times: Vec<&str> = found
            .iter()
            .map(|l| l["event_time"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "{what}: newest first: {times:?}"
        );
        if let Some(expected) = expected {
            assert_eq!(ids(&found), expected, "{what}");
        }
    }
}

#[tokio::test]
async fn outcome_since_and_limit_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let since = Some(time("2026-11-01T00:00:00Z"));
    let count = |outcomes: Vec<Outcome>, since, limit| {
        let args = ListArgs {
            outcome: outcomes,
            since,
            limit,
            ..list_args(&store)
        };
        async move { lines(&args).await.len() }
    };
    // examples/expected.tsv: 8 would_revert, 4 approved, 5 flagged; 25 stored in all.
    assert_eq!(count(vec![Outcome::WouldRevert], since, 50).await, 8);
    assert_eq!(
        count(vec![Outcome::WouldRevert, Outcome::Approved], since, 50).await,
        12
    );
    assert_eq!(count(vec![Outcome::Flagged], since, 50).await, 5);
    assert_eq!(count(vec![], since, 0).await, 25, "--limit 0 is all");
    assert_eq!(count(vec![], since, 10).await, 10, "--limit");
    assert_eq!(
        count(vec![], Some(time("2026-11-21T00:00:00Z")), 50).await,
        5
    );
    assert_eq!(
        count(
            vec![Outcome::WouldRevert],
            Some(time("2026-11-21T00:00:00Z")),
            50
        )
        .await,
        0
    );
    // Relative times count back from now; the examples are in the past.
    let recent = ListArgs {
        since: Some(audit::parse_since("1h").unwrap()),
        ..list_args(&store)
    };
    assert!(lines(&recent).await.is_empty());
}

#[tokio::test]
async fn glob_actor_matches_every_session_of_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let glob = lines(&ListArgs {
        actor: Some(NETWORK_ADMIN_GLOB.into()),
        ..list_args(&store)
    })
    .await;
    assert_eq!(glob.len(), 10);
    for line in &glob {
        let actor = line["actor"].as_str().unwrap();
        assert!(
            actor.starts_with("arn:aws:sts::111122223333:assumed-role/NetworkAdmin/"),
            "{actor}"
        );
        assert_eq!(line["principal"], NETWORK_ADMIN_ROLE);
    }
    let role = lines(&ListArgs {
        actor: Some(NETWORK_ADMIN_ROLE.into()),
        ..list_args(&store)
    })
    .await;
    assert_eq!(ids(&role), ids(&glob), "the role ARN finds the same events");
    let nobody = lines(&ListArgs {
        actor: Some("arn:aws:sts::*:assumed-role/Nobody/*".into()),
        ..list_args(&store)
    })
    .await;
    assert!(nobody.is_empty());
}

#[tokio::test]
async fn csv_has_the_fixed_header_and_one_row_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let text = output(&ListArgs {
        outcome: vec![Outcome::WouldRevert],
        format: Some(AuditFormat::Csv),
        ..list_args(&store)
    })
    .await;
    assert_eq!(
        text.lines().next().unwrap(),
        "event_time,event_id,event_name,account,region,group_id,actor,outcome,max_risk,rule_ids,reason"
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        EVENTS_CSV_HEADER
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    for row in &rows {
        assert_eq!(row.len(), EVENTS_CSV_HEADER.len());
        assert_eq!(&row[7], "would_revert");
    }
    // Newest first; several rule ids in one field; a reason with commas stays one field.
    let dave = rows
        .iter()
        .find(|r| &r[1] == "0db317d9-4c8e-4fa3-969a-73bf4c83cf3b")
        .unwrap();
    assert_eq!(&dave[0], "2026-11-20T09:40:13Z");
    assert_eq!(&dave[5], "sg-0c3d5e7f9a1b2c4d6");
    assert_eq!(&dave[8], "critical");
    assert_eq!(
        &dave[9],
        "sgr-0b4e8f2a6c1d3e5f7 sgr-0d6a0b4c8e3f5a7b9 sgr-0c5f9a3b7d2e4f6a8"
    );
    assert!(dave[10].contains(", nothing reverted") || dave[10].contains("audit mode"));
    assert_eq!(&rows[0][1], "479dd02e-5974-4f6b-8eeb-4467a5c46004");
    // The legacy call named only its group's name.
    assert!(rows.iter().any(|r| &r[5] == "web-default"));
}

#[tokio::test]
async fn table_is_aligned_and_uncoloured_when_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let text = output(&ListArgs {
        group: Some(GROUP.into()),
        format: Some(AuditFormat::Table),
        ..list_args(&store)
    })
    .await;
    assert!(!text.contains('\u{1b}'), "no colour codes: {text}");
    let header = text.lines().next().unwrap();
    for column in [
        "TIME (UTC)",
        "EVENT ID",
        "EVENT",
        "GROUP",
        "ACTOR",
        "OUTCOME",
        "RISK",
        "CHANGES",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(text.contains("2026-11-20T09:15:02Z"));
    assert!(text.contains("user/alice"));
    assert!(text.contains("added ingress tcp 22 from 0.0.0.0/0  [critical] would revert"));
    assert!(text.contains("-> would revoke ingress sgr-0123456789abcdef0 by rule id"));
    assert!(
        text.trim_end().ends_with("3 events, newest first"),
        "{text}"
    );
    // Columns line up: the event id starts at the same offset on every row.
    let column = header.find("EVENT ID").unwrap();
    for id in [WORLD_SSH_EVENT, "a9cc2ff7-4eaf-4d61-8434-d99c09ff7f0c"] {
        let row = text.lines().find(|l| l.contains(id)).unwrap();
        assert_eq!(row.find(id), Some(column), "{row}");
    }
}

async fn show(store: &StoreArgs, event_id: &str, format: AuditFormat) -> anyhow::Result<String> {
    let mut out = Vec::new();
    audit::show(
        &ShowArgs {
            event_id: event_id.to_owned(),
            format: Some(format),
            store: store.clone(),
        },
        &mut out,
    )
    .await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn show_prints_the_decision_evidence_remediation_and_raw_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let event_id = "0db317d9-4c8e-4fa3-969a-73bf4c83cf3b";

    let json = show(&store, event_id, AuditFormat::Json).await.unwrap();
    assert_eq!(json.lines().count(), 1, "one object");
    let shown: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(shown["event"]["event_id"], event_id);
    assert_eq!(shown["event"]["outcome"], "would_revert");
    assert_eq!(
        shown["raw"]["eventID"], event_id,
        "the raw CloudTrail record"
    );
    assert_eq!(shown["raw"]["eventSource"], "ec2.amazonaws.com");
    let changes = shown["event"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[1]["approved_by"], "office-ssh");

    let table = show(&store, event_id, AuditFormat::Table).await.unwrap();
    for needle in [
        "Event\n",
        "Decision\n",
        "Changes (3)\n",
        "Raw CloudTrail record\n",
        "principal     arn:aws:iam::111122223333:role/NetworkAdmin",
        "outcome       would_revert",
        "1. added ingress tcp 22 from 0.0.0.0/0  (sgr-0b4e8f2a6c1d3e5f7)",
        "risk          critical: world-open IPv4 source 0.0.0.0/0",
        "closest entry office-ssh (source: 0.0.0.0/0 is not inside any of the entry's cidrs)",
        "approved by   office-ssh",
        "remediation   would revoke ingress sgr-0b4e8f2a6c1d3e5f7 by rule id",
        "\"eventID\": \"0db317d9-4c8e-4fa3-969a-73bf4c83cf3b\"",
    ] {
        assert!(table.contains(needle), "`{needle}` missing from:\n{table}");
    }
    assert!(!table.contains('\u{1b}'));

    let csv_text = show(&store, event_id, AuditFormat::Csv).await.unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        audit::CHANGES_CSV_HEADER
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "one row per change");
    assert_eq!(&rows[0][1], "sgr-0b4e8f2a6c1d3e5f7");
    assert_eq!(&rows[1][12], "office-ssh");

    let err = show(&store, "no-such-event", AuditFormat::Json)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no event `no-such-event`") && err.contains("audit.db"),
        "{err}"
    );
}

async fn rule(store: &StoreArgs, rule_id: &str, format: AuditFormat) -> anyhow::Result<String> {
    let mut out = Vec::new();
    audit::rule(
        &RuleArgs {
            rule_id: rule_id.to_owned(),
            format: Some(format),
            store: store.clone(),
        },
        &mut out,
    )
    .await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn rule_history_runs_from_creation_to_modification() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let json = rule(&store, RULE, AuditFormat::Json).await.unwrap();
    let history: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = history
        .iter()
        .map(|s| {
            (
                s["event_id"].as_str().unwrap(),
                s["change"]["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("603ae5da-4663-4a99-a910-fc8d0f06e36b", "added"),
            ("479dd02e-5974-4f6b-8eeb-4467a5c46004", "modified"),
        ],
        "creation, then modification"
    );
    assert_eq!(history[0]["change"]["from_port"], 5432);
    assert_eq!(history[1]["change"]["source"], "0.0.0.0/0");
    assert_eq!(history[1]["outcome"], "would_revert");

    let table = rule(&store, RULE, AuditFormat::Table).await.unwrap();
    for needle in [
        "Rule sgr-0a7c3e5b9d1f2a4c6 in sg-03c4d5e6f7a8b9c0d",
        "added ingress",
        "tcp 5432 from 10.20.0.0/16",
        "modified ingress",
        "tcp 22 from 0.0.0.0/0",
        "unapproved",
        "user/erin",
        "-> would restore sgr-0a7c3e5b9d1f2a4c6 to tcp 5432 from 10.20.0.0/16",
        "2 changes of sgr-0a7c3e5b9d1f2a4c6, oldest first",
    ] {
        assert!(table.contains(needle), "`{needle}` missing from:\n{table}");
    }
    let creation = table.find("tcp 5432 from 10.20.0.0/16").unwrap();
    let modification = table.find("tcp 22 from 0.0.0.0/0").unwrap();
    assert!(creation < modification, "oldest first");

    let csv_text = rule(&store, RULE, AuditFormat::Csv).await.unwrap();
    let lines: Vec<&str> = csv_text.lines().collect();
    assert_eq!(lines[0], audit::RULE_CSV_HEADER.join(","));
    assert_eq!(lines.len(), 3);
    assert!(lines[1].contains(",added,ingress,tcp 5432 from 10.20.0.0/16,low,unapproved,flagged,"));

    // A revoke by rule id: the removal is part of the history.
    let removed = rule(&store, "sgr-0f8c2d6e0a5b7c9d1", AuditFormat::Json)
        .await
        .unwrap();
    assert!(removed.contains("\"kind\":\"removed\""), "{removed}");

    let err = rule(&store, "sgr-0000000000000000", AuditFormat::Table)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no recorded change of rule `sgr-0000000000000000`"),
        "{err}"
    );
}

#[tokio::test]
async fn allowlist_changes_are_listed_by_who_and_when() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path()).await;
    let StoreSpec::Sqlite(path) = &store.store else {
        unreachable!()
    };
    {
        let sqlite = sgguard_local::SqliteStore::open(path).unwrap();
        let mut entry =
            sgguard_core::AllowEntry::new("office-ssh", "netops@example.com", "NET-123");
        entry.ports = sgguard_core::PortRange::single(22);
        for (at, by, action) in [
            ("2026-11-19T08:00:00Z", "netops", "add"),
            ("2026-11-22T08:00:00Z", "erin", "add"),
        ] {
            sqlite
                .put(
                    &entry,
                    &AllowlistChange {
                        at: at.into(),
                        by: by.into(),
                        action: action.into(),
                        entry_id: "office-ssh".into(),
                        detail: format!("{action} by {by}"),
                    },
                )
                .await
                .unwrap();
        }
    }
    let changes = |actor: Option<&str>, since: Option<&str>| ListArgs {
        kind: AuditKind::Allowlist,
        actor: actor.map(str::to_owned),
        since: since.map(time),
        ..list_args(&store)
    };
    let all = lines(&changes(None, None)).await;
    let whos: Vec<&str> = all.iter().map(|l| l["by"].as_str().unwrap()).collect();
    assert_eq!(whos, ["erin", "netops"], "newest first");
    assert_eq!(all[0]["entry_id"], "office-ssh");
    assert_eq!(all[0]["action"], "add");
    assert_eq!(lines(&changes(Some("net*"), None)).await.len(), 1);
    assert_eq!(
        lines(&changes(None, Some("2026-11-20T00:00:00Z")))
            .await
            .len(),
        1
    );
    let csv_text = output(&ListArgs {
        format: Some(AuditFormat::Csv),
        ..changes(None, None)
    })
    .await;
    assert_eq!(
        csv_text.lines().next(),
        Some("at,by,action,entry_id,detail")
    );

    let err = audit::list(
        &ListArgs {
            group: Some(GROUP.into()),
            ..changes(None, None)
        },
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`--group` does not apply to `--kind allowlist`"),
        "{err}"
    );
}

#[test]
fn time_flags_take_rfc3339_dates_and_durations() {
    assert_eq!(
        audit::parse_since("2026-11-20").unwrap(),
        time("2026-11-20T00:00:00Z")
    );
    assert_eq!(
        audit::parse_until("2026-11-20").unwrap(),
        time("2026-11-20T23:59:59Z"),
        "--until DATE includes the day"
    );
    assert_eq!(
        audit::parse_until("2026-11-20T09:15:02Z").unwrap(),
        time("2026-11-20T09:15:02Z")
    );
    let week = audit::parse_since("7d").unwrap();
    let expected = Utc::now() - chrono::Duration::days(7);
    assert!((week - expected).num_seconds().abs() < 5);
    let err = audit::parse_since("last tuesday").unwrap_err();
    assert!(err.contains("`last tuesday` is not a time"), "{err}");
}

#[tokio::test]
async fn dynamodb_gives_the_same_answers_as_sqlite() {
    let Some(endpoint) =
        sgguard_testkit::aws::endpoint("dynamodb_gives_the_same_answers_as_sqlite")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = sqlite(dir.path()).await;
    let dynamo = StoreArgs {
        store: StoreSpec::DynamoDb,
        audit_table: sgguard_testkit::aws::unique("audit-q"),
        allowlist_table: sgguard_testkit::aws::unique("audit-q-allow"),
        endpoint_url: Some(endpoint),
        region: Some("us-east-1".into()),
        ..StoreArgs::default()
    };
    sgguard_cli::commands::init::init(&sgguard_cli::InitArgs {
        store: dynamo.clone(),
    })
    .await
    .unwrap();
    let dynamo = replayed(dynamo).await;

    let on_sqlite = questions(&local);
    let on_dynamo = questions(&dynamo);
    for ((what, sqlite_args, expected), (_, dynamo_args, _)) in on_sqlite.iter().zip(&on_dynamo) {
        let a = lines(sqlite_args).await;
        let b = lines(dynamo_args).await;
        assert_eq!(b, a, "{what}: the same reports, in the same order");
        if let Some(expected) = expected {
            assert_eq!(ids(&b), *expected, "{what}");
        }
        assert!(!a.is_empty(), "{what}: finds something");
    }

    // Every format prints the same bytes from both stores.
    for format in [AuditFormat::Table, AuditFormat::Csv] {
        let args = |store: &StoreArgs| ListArgs {
            actor: Some(NETWORK_ADMIN_GLOB.into()),
            since: Some(time("2026-11-01T00:00:00Z")),
            format: Some(format),
            ..list_args(store)
        };
        assert_eq!(output(&args(&dynamo)).await, output(&args(&local)).await);
    }
    for format in [AuditFormat::Json, AuditFormat::Table, AuditFormat::Csv] {
        assert_eq!(
            show(&dynamo, WORLD_SSH_EVENT, format).await.unwrap(),
            show(&local, WORLD_SSH_EVENT, format).await.unwrap(),
            "show {format:?}"
        );
        assert_eq!(
            rule(&dynamo, RULE, format).await.unwrap(),
            rule(&local, RULE, format).await.unwrap(),
            "rule {format:?}"
        );
    }
    let err = show(&dynamo, "no-such-event", AuditFormat::Json)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no event `no-such-event` in dynamodb table"),
        "{err}"
    );
}
