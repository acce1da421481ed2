//! `sgguard allow` called with typed arguments, against SQLite (a temporary file) and
//! DynamoDB on the local emulator (skipped without `SGGUARD_TEST_AWS_ENDPOINT`). Every
//! scenario runs on both stores.

use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sgguard_aws::TableNames;
use sgguard_cli::Exit;
use sgguard_cli::commands::allow::{
    AddArgs, AllowFormat, CheckArgs, ExportArgs, ImportArgs, ListArgs, RemoveArgs, add, check,
    check_rules, export, import, list, remove,
};
use sgguard_cli::store::{StoreArgs, StoreSpec};
use sgguard_core::time::format_time;
use sgguard_local::SqliteStore;
use sgguard_responder::AllowlistChange;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// One store to run a scenario against, and how to read its change log.
struct Env {
    store: StoreArgs,
    dir: tempfile::TempDir,
    dynamo: Option<(aws_sdk_dynamodb::Client, String)>,
}

impl Env {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreArgs {
            store: StoreSpec::Sqlite(dir.path().join("allow.db")),
            ..StoreArgs::default()
        };
        Self {
            store,
            dir,
            dynamo: None,
        }
    }

    async fn dynamo(test: &str) -> Option<Self> {
        let endpoint = sgguard_testkit::aws::endpoint(test)?;
        let config = sgguard_testkit::aws::config(&endpoint).await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        let names = TableNames {
            audit: sgguard_testkit::aws::unique("allow-audit"),
            allowlist: sgguard_testkit::aws::unique("allow-list"),
        };
        sgguard_aws::create_tables(&client, &names).await.unwrap();
        let store = StoreArgs {
            store: StoreSpec::DynamoDb,
            audit_table: names.audit.clone(),
            allowlist_table: names.allowlist,
            endpoint_url: Some(endpoint),
            region: Some("us-east-1".into()),
            ..StoreArgs::default()
        };
        Some(Self {
            store,
            dir: tempfile::tempdir().unwrap(),
            dynamo: Some((client, names.audit)),
        })
    }

    /// Another, empty store of the same kind.
    async fn fresh(&self, test: &str) -> Self {
        match self.dynamo {
            Some(_) => Self::dynamo(test).await.unwrap(),
            None => Self::sqlite(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Who the changes are attributed to on this store.
    fn caller(&self) -> String {
        match self.dynamo {
            // moto's fixed identity for any credentials.
            Some(_) => "arn:aws:sts::123456789012:user/moto".into(),
            None => sgguard_cli::identity::local_caller(),
        }
    }

    /// The change log of one entry, oldest first.
    async fn changes(&self, entry_id: &str) -> Vec<AllowlistChange> {
        match &self.dynamo {
            None => {
                let StoreSpec::Sqlite(path) = &self.store.store else {
                    unreachable!()
                };
                SqliteStore::open(path)
                    .unwrap()
                    .allowlist_changes()
                    .unwrap()
                    .into_iter()
                    .filter(|c| c.entry_id == entry_id)
                    .collect()
            }
            Some((client, audit)) => {
                let output = client
                    .query()
                    .table_name(audit)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(
                        ":pk",
                        AttributeValue::S(format!("ALLOWLIST#{entry_id}")),
                    )
                    .consistent_read(true)
                    .send()
                    .await
                    .unwrap();
                let text = |item: &std::collections::HashMap<String, AttributeValue>, k: &str| {
                    item.get(k).unwrap().as_s().unwrap().clone()
                };
                let mut changes: Vec<AllowlistChange> = output
                    .items()
                    .iter()
                    .map(|item| AllowlistChange {
                        at: text(item, "at"),
                        by: text(item, "by"),
                        action: text(item, "action"),
                        entry_id: text(item, "entry_id"),
                        detail: text(item, "detail"),
                    })
                    .collect();
                changes.sort_by(|a, b| a.at.cmp(&b.at));
                changes
            }
        }
    }

    fn list(&self) -> ListArgs {
        ListArgs {
            store: self.store.clone(),
            expiring: None,
            format: Some(AllowFormat::Json),
        }
    }

    fn import(&self, file: &Path) -> ImportArgs {
        ImportArgs {
            file: file.to_path_buf(),
            store: self.store.clone(),
        }
    }

    fn export(&self) -> ExportArgs {
        ExportArgs {
            output: None,
            store: self.store.clone(),
        }
    }

    fn check(&self) -> CheckArgs {
        CheckArgs {
            store: self.store.clone(),
            format: Some(AllowFormat::Table),
            ..CheckArgs::default()
        }
    }

    fn remove(&self, id: &str) -> RemoveArgs {
        RemoveArgs {
            id: id.into(),
            store: self.store.clone(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn office_ssh(store: &StoreArgs) -> AddArgs {
    AddArgs {
        id: "office-ssh".into(),
        owner: "netops@example.com".into(),
        reason: "NET-123 office SSH".into(),
        expires: Some("30d".into()),
        protocol: Some("tcp".into()),
        ports: Some("22".into()),
        cidrs: vec!["203.0.113.0/24".into(), "2001:db8::/32".into()],
        groups: vec!["sg-0c3d5e7f9a1b2c4d6".into()],
        accounts: vec!["111122223333".into()],
        regions: vec!["eu-west-1".into()],
        store: store.clone(),
        ..AddArgs::default()
    }
}

async fn run<F, A>(f: F, args: A) -> (anyhow::Result<Exit>, String)
where
    F: AsyncFnOnce(A, &mut dyn std::io::Write) -> anyhow::Result<Exit>,
{
    let mut out = Vec::new();
    let result = f(args, &mut out).await;
    (result, String::from_utf8(out).unwrap())
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn ids(listed: &[Value]) -> Vec<&str> {
    listed.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

fn assert_recent(at: &str) {
    let at: DateTime<Utc> = at.parse().unwrap();
    let age = Utc::now() - at;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5),
        "{at}"
    );
}

// ---------------------------------------------------------------------------------------
// add, list, remove, and the change log
// ---------------------------------------------------------------------------------------

async fn add_list_remove_with_a_change_log(env: Env) {
    let (result, out) = run(add, &office_ssh(&env.store)).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(
        out.starts_with("added office-ssh: { id = \"office-ssh\""),
        "{out}"
    );
    assert!(out.contains("(in 30d)"), "{out}");

    let (result, out) = run(list, &env.list()).await;
    assert_eq!(result.unwrap(), Exit::Success);
    let listed = json_lines(&out);
    assert_eq!(ids(&listed), ["office-ssh"]);
    let e = &listed[0];
    assert_eq!(e["owner"], "netops@example.com");
    assert_eq!(e["protocol"], "tcp");
    assert_eq!(e["ports"], "22");
    assert_eq!(e["cidrs"][1], "2001:db8::/32");
    assert_eq!(e["groups"][0], "sg-0c3d5e7f9a1b2c4d6");
    assert_eq!(e["expired"], false);
    let expires: DateTime<Utc> = e["expires"].as_str().unwrap().parse().unwrap();
    let ahead = expires - Utc::now();
    assert!(ahead > chrono::Duration::days(29) && ahead <= chrono::Duration::days(30));
    assert_eq!(expires.timestamp_subsec_nanos(), 0, "kept to the second");

    // The same id again is refused unless --replace.
    let mut again = office_ssh(&env.store);
    again.reason = "NET-124 new office".into();
    again.cidrs = vec!["198.51.100.0/24".into()];
    let err = run(add, &again).await.0.unwrap_err().to_string();
    assert!(
        err.contains("`office-ssh` already exists") && err.contains("--replace"),
        "{err}"
    );
    again.replace = true;
    let (result, out) = run(add, &again).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(out.starts_with("replaced office-ssh:"), "{out}");

    // A second entry, and the table.
    let https = AddArgs {
        id: "lb-https".into(),
        owner: "platform@example.com".into(),
        reason: "PLAT-77".into(),
        protocol: Some("tcp".into()),
        ports: Some("443".into()),
        principals: vec!["arn:aws:iam::*:role/terraform-*".into()],
        store: env.store.clone(),
        ..AddArgs::default()
    };
    run(add, &https).await.0.unwrap();
    let (_, table) = run(
        list,
        &ListArgs {
            format: Some(AllowFormat::Table),
            ..env.list()
        },
    )
    .await;
    for column in [
        "ID",
        "OWNER",
        "REASON",
        "EXPIRES",
        "DIRECTION",
        "PROTOCOL",
        "PORTS",
        "SOURCES",
        "SCOPE",
    ] {
        assert!(table.contains(column), "{column} in\n{table}");
    }
    assert!(table.contains("NET-124 new office"), "{table}");
    assert!(table.contains("198.51.100.0/24"), "{table}");
    assert!(
        table.contains("principals: arn:aws:iam::*:role/terraform-*"),
        "{table}"
    );
    assert!(table.contains("never"), "{table}");
    assert!(table.contains("2 entries"), "{table}");

    // remove, then remove again: an error naming the id.
    let (result, out) = run(remove, &env.remove("office-ssh")).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(out.starts_with("removed office-ssh: {"), "{out}");
    let err = run(remove, &env.remove("office-ssh"))
        .await
        .0
        .unwrap_err()
        .to_string();
    assert!(err.contains("no allowlist entry `office-ssh`"), "{err}");
    let (_, out) = run(list, &env.list()).await;
    assert_eq!(ids(&json_lines(&out)), ["lb-https"]);

    // Who, when, what: one record per change.
    let log = env.changes("office-ssh").await;
    let actions: Vec<&str> = log.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["add", "replace", "remove"], "{log:?}");
    for c in &log {
        assert_eq!(c.by, env.caller());
        assert_eq!(c.entry_id, "office-ssh");
        assert_recent(&c.at);
        assert!(
            c.detail.starts_with("{ id = \"office-ssh\""),
            "{}",
            c.detail
        );
    }
    assert!(log[0].detail.contains("NET-123 office SSH"));
    assert!(log[1].detail.contains("NET-124 new office"));
    assert!(
        log[2].detail.contains("NET-124 new office"),
        "a removal records what was removed"
    );
}

#[tokio::test]
async fn sqlite_add_list_remove_with_a_change_log() {
    add_list_remove_with_a_change_log(Env::sqlite()).await;
}

#[tokio::test]
async fn dynamo_add_list_remove_with_a_change_log() {
    let Some(env) = Env::dynamo("dynamo_add_list_remove_with_a_change_log").await else {
        return;
    };
    add_list_remove_with_a_change_log(env).await;
}

#[tokio::test]
async fn add_validates_like_a_file_and_names_the_flag() {
    let env = Env::sqlite();
    let mut bad = office_ssh(&env.store);
    bad.cidrs = vec!["203.0.113.0/24".into(), "10.0.0.300/8".into()];
    bad.accounts = vec!["1234".into()];
    bad.direction = Some("sideways".into());
    let err = run(add, &bad).await.0.unwrap_err().to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(
        err.contains("--cidr: entry `office-ssh`: field `cidrs[1]`: `10.0.0.300/8` is not a CIDR"),
        "{err}"
    );
    assert!(
        err.contains("--account: entry `office-ssh`: field `accounts[0]`"),
        "{err}"
    );
    assert!(err.contains("--direction:"), "{err}");

    let mut bad = office_ssh(&env.store);
    bad.expires = Some("next tuesday".into());
    let err = run(add, &bad).await.0.unwrap_err().to_string();
    assert!(err.starts_with("--expires: `next tuesday`"), "{err}");
    bad.expires = Some("2020-01-01".into());
    let err = run(add, &bad).await.0.unwrap_err().to_string();
    assert!(err.contains("in the past"), "{err}");
    bad.expires = Some("2031-05-01".into());
    bad.id = "bad id".into();
    let err = run(add, &bad).await.0.unwrap_err().to_string();
    assert!(err.starts_with("ID: entry `bad id`: field `id`"), "{err}");

    // Nothing was written, nothing logged.
    let (_, out) = run(list, &env.list()).await;
    assert_eq!(out, "");
    assert!(env.changes("office-ssh").await.is_empty());

    // A date is midnight UTC; an RFC 3339 time is kept (to the second).
    let mut dated = office_ssh(&env.store);
    dated.expires = Some("2031-05-01".into());
    run(add, &dated).await.0.unwrap();
    let (_, out) = run(list, &env.list()).await;
    assert_eq!(json_lines(&out)[0]["expires"], "2031-05-01T00:00:00Z");
}

// ---------------------------------------------------------------------------------------
// expiry
// ---------------------------------------------------------------------------------------

async fn expired_entries_are_listed_as_expired_and_never_approve(env: Env) {
    let now = Utc::now();
    let at = |days: i64| format_time(&(now + chrono::Duration::days(days)));
    let file = env.write(
        "expiry.toml",
        &format!(
            r#"
[[allow]]
id = "a-expired"
owner = "dba@example.com"
reason = "DBA-9 migration window"
expires = "{}"
protocol = "tcp"
ports = "3306"

[[allow]]
id = "b-soon"
owner = "netops@example.com"
reason = "NET-1 soon"
expires = "{}"
protocol = "tcp"
ports = "22"
cidrs = ["198.51.100.0/24"]

[[allow]]
id = "c-later"
owner = "netops@example.com"
reason = "NET-2 later"
expires = "{}"
protocol = "tcp"
ports = "443"

[[allow]]
id = "d-never"
owner = "netops@example.com"
reason = "NET-3 never"
protocol = "udp"
ports = "53"
"#,
            at(-3),
            at(3),
            at(30)
        ),
    );
    run(import, &env.import(&file)).await.0.unwrap();

    let (_, out) = run(list, &env.list()).await;
    let listed = json_lines(&out);
    assert_eq!(ids(&listed), ["a-expired", "b-soon", "c-later", "d-never"]);
    let expired: Vec<bool> = listed
        .iter()
        .map(|e| e["expired"].as_bool().unwrap())
        .collect();
    assert_eq!(expired, [true, false, false, false]);

    let (_, table) = run(
        list,
        &ListArgs {
            format: Some(AllowFormat::Table),
            ..env.list()
        },
    )
    .await;
    let row = |id: &str| table.lines().find(|l| l.contains(id)).unwrap().to_owned();
    assert!(row("a-expired").contains("(expired)"), "{table}");
    assert!(row("b-soon").contains("(in 3d)"), "{table}");
    assert!(row("c-later").contains("(in 30d)"), "{table}");
    assert!(row("d-never").contains("never"), "{table}");
    assert!(table.contains("4 entries, 1 expired"), "{table}");

    // --expiring 7d: only what lapses within a week and has not lapsed yet.
    let week = Some(std::time::Duration::from_secs(7 * 86_400));
    let (_, out) = run(
        list,
        &ListArgs {
            expiring: week,
            ..env.list()
        },
    )
    .await;
    assert_eq!(ids(&json_lines(&out)), ["b-soon"]);
    let (_, table) = run(
        list,
        &ListArgs {
            expiring: week,
            format: Some(AllowFormat::Table),
            ..env.list()
        },
    )
    .await;
    assert!(
        table.contains("1 of 4 entries expires within 7d"),
        "{table}"
    );

    // The expired entry would approve MySQL from anywhere; expired, it approves nothing.
    let args = CheckArgs {
        protocol: Some("tcp".into()),
        ports: Some("3306".into()),
        source: Some("10.0.0.0/16".into()),
        ..env.check()
    };
    let (result, out) = run(check, &args).await;
    assert_eq!(result.unwrap(), Exit::Unapproved, "{out}");
    let verdicts = check_rules(&args).await.unwrap().verdicts;
    assert_eq!(verdicts[0].closest_entry.as_deref(), Some("a-expired"));
    let failed: Vec<&str> = verdicts[0]
        .failures
        .iter()
        .map(|f| f.criterion.as_str())
        .collect();
    assert_eq!(failed, ["expires"], "{out}");
    assert!(out.contains("expires: expired at"), "{out}");
}

#[tokio::test]
async fn sqlite_expired_entries_are_listed_as_expired_and_never_approve() {
    expired_entries_are_listed_as_expired_and_never_approve(Env::sqlite()).await;
}

#[tokio::test]
async fn dynamo_expired_entries_are_listed_as_expired_and_never_approve() {
    let Some(env) =
        Env::dynamo("dynamo_expired_entries_are_listed_as_expired_and_never_approve").await
    else {
        return;
    };
    expired_entries_are_listed_as_expired_and_never_approve(env).await;
}

// ---------------------------------------------------------------------------------------
// import / export
// ---------------------------------------------------------------------------------------

const GOOD: &str = r#"
[[allow]]
id = "office-ssh"
owner = "netops@example.com"
reason = "NET-123 office SSH"
expires = "2030-01-31T00:00:00Z"
protocol = "tcp"
ports = "22"
cidrs = ["203.0.113.0/24"]

[[allow]]
id = "vpn-https"
owner = "netops@example.com"
reason = "NET-140 VPN"
protocol = "tcp"
ports = "443"
prefix_lists = ["pl-0a1b2c3d4e5f60718"]
"#;

async fn import_is_all_or_nothing(env: Env) {
    let bad = env.write(
        "bad.toml",
        &format!(
            "{GOOD}\n[[allow]]\nid = \"typo\"\nowner = \"a@example.com\"\nreason = \"x\"\nport = \"22\"\n"
        ),
    );
    let err = format!("{:#}", run(import, &env.import(&bad)).await.0.unwrap_err());
    assert!(
        err.contains("bad.toml") && err.contains("entry `typo`: field `port`"),
        "{err}"
    );
    let (_, out) = run(list, &env.list()).await;
    assert_eq!(out, "", "nothing imported");
    assert!(env.changes("office-ssh").await.is_empty(), "nothing logged");

    let good = env.write("good.toml", GOOD);
    let (result, out) = run(import, &env.import(&good)).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(out.contains("added office-ssh\n"), "{out}");
    assert!(out.contains("added vpn-https\n"), "{out}");
    assert!(out.contains("2 added, 0 replaced, 0 unchanged"), "{out}");
    let (_, listed) = run(list, &env.list()).await;
    assert_eq!(ids(&json_lines(&listed)), ["office-ssh", "vpn-https"]);

    // Again with one entry changed: replaced, the other left alone.
    let changed = env.write("changed.toml", &GOOD.replace("NET-140 VPN", "NET-141 VPN"));
    let (_, out) = run(import, &env.import(&changed)).await;
    assert!(out.contains("unchanged office-ssh"), "{out}");
    assert!(out.contains("replaced vpn-https\n"), "{out}");
    assert!(out.contains("0 added, 1 replaced, 1 unchanged"), "{out}");

    let log = env.changes("vpn-https").await;
    assert_eq!(log.len(), 2, "{log:?}");
    for c in &log {
        assert_eq!(c.action, "import");
        assert_eq!(c.by, env.caller());
        assert_recent(&c.at);
    }
    assert!(
        log[0].detail.starts_with("added from "),
        "{}",
        log[0].detail
    );
    assert!(
        log[1].detail.starts_with("replaced from "),
        "{}",
        log[1].detail
    );
    assert!(log[1].detail.contains("NET-141 VPN"), "{}", log[1].detail);
    assert_eq!(env.changes("office-ssh").await.len(), 1);
}

#[tokio::test]
async fn sqlite_import_is_all_or_nothing() {
    import_is_all_or_nothing(Env::sqlite()).await;
}

#[tokio::test]
async fn dynamo_import_is_all_or_nothing() {
    let Some(env) = Env::dynamo("dynamo_import_is_all_or_nothing").await else {
        return;
    };
    import_is_all_or_nothing(env).await;
}

/// Every criterion, several values, an expiry: the export must carry all of it.
const RICH: &str = r#"
[[allow]]
id = "z-rich"
owner = "platform@example.com"
reason = "PLAT-77 public load balancers"
expires = "2030-01-31T12:30:00Z"
direction = "egress"
protocol = "udp"
ports = "8000-8100"
cidrs = ["203.0.113.0/24", "2001:db8::/32"]
prefix_lists = ["pl-0a1b2c3d4e5f60718"]
source_groups = ["sg-0123456789abcdef0"]
groups = ["sg-0fedcba9876543210"]
accounts = ["111122223333", "444455556666"]
regions = ["eu-west-1"]
principals = ["arn:aws:iam::*:role/terraform-*"]

[[allow]]
id = "a-icmp"
owner = "netops@example.com"
reason = "NET-9 ping"
protocol = "icmp"
ports = 8
"#;

async fn export_import_export_gives_the_same_bytes(env: Env, fresh: Env) {
    let file = env.write("rich.toml", &format!("{GOOD}{RICH}"));
    run(import, &env.import(&file)).await.0.unwrap();
    let (result, first) = run(export, &env.export()).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(
        first.find("id = \"a-icmp\"") < first.find("id = \"office-ssh\""),
        "id order"
    );
    assert!(first.contains("ports = \"8000-8100\""), "{first}");

    // Through a file, into an empty store, and out again.
    let exported = env.path("exported.toml");
    let (_, note) = run(
        export,
        &ExportArgs {
            output: Some(exported.clone()),
            ..env.export()
        },
    )
    .await;
    assert!(note.contains("exported 4 entries"), "{note}");
    assert_eq!(std::fs::read_to_string(&exported).unwrap(), first);
    let (_, out) = run(import, &fresh.import(&exported)).await;
    assert!(out.contains("4 added"), "{out}");
    let (_, second) = run(export, &fresh.export()).await;
    assert_eq!(
        first, second,
        "export -> import -> export is byte-identical"
    );

    // An added entry round-trips too (its expiry is kept to the second).
    run(add, &office_ssh_with_id(&env.store, "b-added"))
        .await
        .0
        .unwrap();
    let (_, with_added) = run(export, &env.export()).await;
    let file = env.write("with-added.toml", &with_added);
    let again = fresh
        .fresh("export_import_export_gives_the_same_bytes")
        .await;
    run(import, &again.import(&file)).await.0.unwrap();
    let (_, round) = run(export, &again.export()).await;
    assert_eq!(with_added, round);
}

fn office_ssh_with_id(store: &StoreArgs, id: &str) -> AddArgs {
    AddArgs {
        id: id.into(),
        ..office_ssh(store)
    }
}

#[tokio::test]
async fn sqlite_export_import_export_gives_the_same_bytes() {
    export_import_export_gives_the_same_bytes(Env::sqlite(), Env::sqlite()).await;
}

#[tokio::test]
async fn dynamo_export_import_export_gives_the_same_bytes() {
    let test = "dynamo_export_import_export_gives_the_same_bytes";
    let (Some(env), Some(fresh)) = (Env::dynamo(test).await, Env::dynamo(test).await) else {
        return;
    };
    export_import_export_gives_the_same_bytes(env, fresh).await;
}

#[tokio::test]
async fn exports_agree_across_stores() {
    let Some(dynamo) = Env::dynamo("exports_agree_across_stores").await else {
        return;
    };
    let sqlite = Env::sqlite();
    let file = sqlite.write("rich.toml", &format!("{GOOD}{RICH}"));
    run(import, &sqlite.import(&file)).await.0.unwrap();
    run(import, &dynamo.import(&file)).await.0.unwrap();
    let (_, a) = run(export, &sqlite.export()).await;
    let (_, b) = run(export, &dynamo.export()).await;
    assert_eq!(a, b);
}

async fn a_large_import_is_written_whole(env: Env) {
    // 120 entries: more than two DynamoDB transactions' worth.
    let mut text = String::new();
    for i in 0..120 {
        text.push_str(&format!(
            "[[allow]]\nid = \"bulk-{i:03}\"\nowner = \"netops@example.com\"\nreason = \"NET-{i}\"\nprotocol = \"tcp\"\nports = \"{}\"\n\n",
            1000 + i
        ));
    }
    let file = env.write("bulk.toml", &text);
    let (result, out) = run(import, &env.import(&file)).await;
    assert_eq!(result.unwrap(), Exit::Success);
    assert!(out.contains("120 added"), "{out}");
    let (_, listed) = run(list, &env.list()).await;
    assert_eq!(json_lines(&listed).len(), 120);
    assert_eq!(env.changes("bulk-000").await.len(), 1);
    assert_eq!(env.changes("bulk-119").await.len(), 1);
}

#[tokio::test]
async fn sqlite_a_large_import_is_written_whole() {
    a_large_import_is_written_whole(Env::sqlite()).await;
}

#[tokio::test]
async fn dynamo_a_large_import_is_written_whole() {
    let Some(env) = Env::dynamo("dynamo_a_large_import_is_written_whole").await else {
        return;
    };
    a_large_import_is_written_whole(env).await;
}

// ---------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------

async fn check_explains_approval_and_the_closest_miss(env: Env) {
    let file = env.write("good.toml", GOOD);
    run(import, &env.import(&file)).await.0.unwrap();

    // Approved: which entry, its owner and reason, and the rule's risk.
    let approved = CheckArgs {
        group: Some("sg-0123456789abcdef0".into()),
        protocol: Some("tcp".into()),
        ports: Some("22".into()),
        source: Some("203.0.113.0/24".into()),
        ..env.check()
    };
    let (result, out) = run(check, &approved).await;
    assert_eq!(result.unwrap(), Exit::Success, "{out}");
    assert!(
        out.contains("ingress tcp 22 from 203.0.113.0/24  [low]"),
        "{out}"
    );
    assert!(
        out.contains(
            "approved by office-ssh (owner netops@example.com, reason \"NET-123 office SSH\""
        ),
        "{out}"
    );
    assert!(out.contains("1 approved, 0 not approved"), "{out}");

    // Not approved: the closest entry and every criterion it failed.
    let missed = CheckArgs {
        ports: Some("22-23".into()),
        source: Some("0.0.0.0/0".into()),
        ..approved.clone()
    };
    let (result, out) = run(check, &missed).await;
    assert_eq!(result.unwrap(), Exit::Unapproved, "{out}");
    assert!(
        out.contains("[critical]: world-open IPv4 source 0.0.0.0/0"),
        "{out}"
    );
    assert!(
        out.contains("NOT APPROVED; closest entry office-ssh failed:"),
        "{out}"
    );
    assert!(
        out.contains("ports: rule range 22-23 is not inside 22"),
        "{out}"
    );
    assert!(
        out.contains("source: 0.0.0.0/0 is not inside any of the entry's cidrs"),
        "{out}"
    );
    let run_ = check_rules(&missed).await.unwrap();
    let v = &run_.verdicts[0];
    assert!(!v.approved);
    assert_eq!(v.risk, sgguard_core::RiskLevel::Critical);
    assert_eq!(v.closest_entry.as_deref(), Some("office-ssh"));
    let failed: Vec<&str> = v.failures.iter().map(|f| f.criterion.as_str()).collect();
    assert_eq!(failed, ["ports", "source"]);

    // JSON: one object per rule.
    let (result, out) = run(
        check,
        &CheckArgs {
            format: Some(AllowFormat::Json),
            ..missed.clone()
        },
    )
    .await;
    assert_eq!(result.unwrap(), Exit::Unapproved);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["approved"], false);
    assert_eq!(lines[0]["closest_entry"], "office-ssh");
    assert_eq!(lines[0]["failures"][0]["criterion"], "ports");
    assert_eq!(lines[0]["risk"], "critical");
}

#[tokio::test]
async fn sqlite_check_explains_approval_and_the_closest_miss() {
    check_explains_approval_and_the_closest_miss(Env::sqlite()).await;
}

#[tokio::test]
async fn dynamo_check_explains_approval_and_the_closest_miss() {
    let Some(env) = Env::dynamo("dynamo_check_explains_approval_and_the_closest_miss").await else {
        return;
    };
    check_explains_approval_and_the_closest_miss(env).await;
}

#[tokio::test]
async fn check_an_event_against_a_file_explains_every_rule() {
    let env = Env::sqlite();
    let args = CheckArgs {
        event: Some(
            examples().join("events/03-envelope-authorize-ingress-ipv4-ipv6-and-office-ssh.json"),
        ),
        allowlist: Some(examples().join("allowlist.toml")),
        ..env.check()
    };
    let (result, out) = run(check, &args).await;
    assert_eq!(result.unwrap(), Exit::Unapproved, "{out}");
    let run_ = check_rules(&args).await.unwrap();
    let verdicts: Vec<(&str, Option<&str>)> = run_
        .verdicts
        .iter()
        .map(|v| (v.source.as_str(), v.approved_by.as_deref()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("0.0.0.0/0", None),
            ("203.0.113.0/24", Some("office-ssh")),
            ("::/0", None)
        ]
    );
    assert!(
        out.contains("AuthorizeSecurityGroupIngress on sg-0c3d5e7f9a1b2c4d6"),
        "{out}"
    );
    assert!(out.contains("approved by office-ssh"), "{out}");
    assert!(
        out.contains("source: ::/0 is not inside any of the entry's cidrs"),
        "{out}"
    );
    assert!(
        out.contains("3 rules checked against") && out.contains("allowlist.toml (4 entries)"),
        "{out}"
    );
    assert!(
        !env.path("allow.db").exists(),
        "a what-if check does not open the store"
    );

    // All approved: exit 0. Terraform's role opening 443 on its group.
    let (result, out) = run(
        check,
        &CheckArgs {
            event: Some(
                examples().join("events/20-envelope-terraform-authorize-ingress-public-https.json"),
            ),
            ..args.clone()
        },
    )
    .await;
    assert_eq!(result.unwrap(), Exit::Success, "{out}");
    assert!(out.contains("approved by terraform-public-https"), "{out}");

    // Revokes approve nothing and need nothing: exit 0 with a note.
    let (result, out) = run(
        check,
        &CheckArgs {
            event: Some(examples().join("events/13-envelope-revoke-ingress-by-permissions.json")),
            ..args.clone()
        },
    )
    .await;
    assert_eq!(result.unwrap(), Exit::Success, "{out}");
    assert!(out.contains("nothing to approve"), "{out}");
    assert!(out.contains("0 rules checked"), "{out}");
}

#[tokio::test]
async fn check_by_flags_names_the_missing_scope_flag() {
    let env = Env::sqlite();
    let args = CheckArgs {
        protocol: Some("tcp".into()),
        ports: Some("443".into()),
        source: Some("0.0.0.0/0".into()),
        group: Some("sg-0fedcba9876543210".into()),
        allowlist: Some(examples().join("allowlist.toml")),
        ..env.check()
    };
    let (result, out) = run(check, &args).await;
    assert_eq!(result.unwrap(), Exit::Unapproved, "{out}");
    assert!(
        out.contains("closest entry terraform-public-https failed:")
            && out.contains("(pass --principal to check one)"),
        "{out}"
    );
    // With the principal: an assumed-role session matches its role's glob.
    let with_principal = CheckArgs {
        principal: Some("arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci".into()),
        ..args.clone()
    };
    let (result, out) = run(check, &with_principal).await;
    assert_eq!(result.unwrap(), Exit::Success, "{out}");

    // Bad flags: one line naming the flag, exit 1 (an error).
    for (args, flag) in [
        (
            CheckArgs {
                protocol: Some("tcpp".into()),
                ..args.clone()
            },
            "--protocol: `tcpp`",
        ),
        (
            CheckArgs {
                ports: Some("22-".into()),
                ..args.clone()
            },
            "--ports:",
        ),
        (
            CheckArgs {
                source: Some("nowhere".into()),
                ..args.clone()
            },
            "--source: `nowhere`",
        ),
        (
            CheckArgs {
                source: None,
                ..args.clone()
            },
            "--source:",
        ),
    ] {
        let err = run(check, &args).await.0.unwrap_err().to_string();
        assert!(err.starts_with(flag) && !err.contains('\n'), "{err}");
    }
}
