//! What the end-to-end tests share: the real `sgguard-lambda` binary polling a local
//! Runtime API, and a world on the local AWS emulator (tables, a VPC, an allowlist).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client as Ec2;
use serde_json::Value;
use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, TableNames, create_tables};
use sgguard_core::AllowEntry;
use sgguard_responder::{AllowlistChange, AllowlistStore};
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail;
use sgguard_testkit::ec2::Vpc;
use sgguard_testkit::runtime_api::{Invocation, RuntimeApi};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const SELF_ROLE: &str = "arn:aws:iam::123456789012:role/sgguard-responder";

/// The function under test: the real binary, polling a local Runtime API.
pub struct Function {
    child: Child,
    pub api: RuntimeApi,
    started: Instant,
}

impl Drop for Function {
    fn drop(&mut self) {
        // Peak resident memory, for sizing the function (Linux only; informational).
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        if let Some(peak) = status.ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        }) {
            eprintln!(
                "sgguard-lambda peak memory: {}",
                peak.trim_start_matches("VmHWM:").trim()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Function {
    pub async fn start(endpoint: &str, tables: &TableNames, mode: &str) -> Self {
        Self::start_with(endpoint, tables, mode, &[]).await
    }

    /// Starts the function with more environment variables.
    pub async fn start_with(
        endpoint: &str,
        tables: &TableNames,
        mode: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let api = RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let child = command(&api, endpoint, tables, mode, extra)
            .spawn()
            .expect("start sgguard-lambda");
        let function = Self {
            child,
            api,
            started,
        };
        let first = function
            .api
            .wait_for_first_poll(Duration::from_secs(30))
            .await
            .expect("the function never polled for work");
        eprintln!(
            "sgguard-lambda reached its first poll in {:?}",
            first - function.started
        );
        assert!(
            function.api.init_error().is_none(),
            "init error: {:?}",
            function.api.init_error()
        );
        function
    }

    /// Delivers `payload` as it is (no envelope added) and returns what the function said.
    pub async fn deliver(&self, payload: Value) -> Invocation {
        self.api
            .invoke(payload, Duration::from_secs(60))
            .await
            .unwrap()
    }

    pub async fn invoke(&self, record: &Value) -> Value {
        match self.deliver(cloudtrail::envelope(record)).await {
            Invocation::Response(report) => report,
            Invocation::Error {
                error_type,
                error_message,
            } => panic!("function error {error_type}: {error_message}"),
        }
    }
}

/// The function's process as Lambda starts it, polling `api`, with more environment
/// variables in `extra` (they override the defaults).
fn command(
    api: &RuntimeApi,
    endpoint: &str,
    tables: &TableNames,
    mode: &str,
    extra: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "sgguard")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/sgguard")
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("SGGUARD_AUDIT_TABLE", &tables.audit)
        .env("SGGUARD_ALLOWLIST_TABLE", &tables.allowlist)
        .env("SGGUARD_MODE", mode)
        .env("SGGUARD_SELF_ARNS", SELF_ROLE)
        .env("SGGUARD_ALLOWLIST_CACHE_SECS", "0")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// Several copies of the function polling one Runtime API, as Lambda runs concurrent
/// executions of one function: each invocation goes to whichever copy asks first.
pub struct Pool {
    pub api: RuntimeApi,
    children: Vec<Child>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pool {
    /// Starts `size` copies and waits until each has polled for work once. Their errors go
    /// to stderr; their logs (one line per event) are not kept.
    pub async fn start(
        size: usize,
        endpoint: &str,
        tables: &TableNames,
        mode: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let api = RuntimeApi::start().await.unwrap();
        let started = Instant::now();
        let children = (0..size)
            .map(|_| {
                command(&api, endpoint, tables, mode, extra)
                    .spawn()
                    .expect("start sgguard-lambda")
            })
            .collect();
        let pool = Self { api, children };
        while pool.api.polls() < size {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "only {} of {size} copies polled for work",
                pool.api.polls()
            );
            assert!(
                pool.api.init_error().is_none(),
                "init error: {:?}",
                pool.api.init_error()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!(
            "{size} copies of sgguard-lambda polling in {:?}",
            started.elapsed()
        );
        pool
    }

    /// Delivers `payload` to whichever copy asks first; `Err` when none answers in time.
    pub async fn deliver(&self, payload: Value, timeout: Duration) -> Result<Invocation, String> {
        self.api.invoke(payload, timeout).await
    }
}

/// The binary under test: `SGGUARD_LAMBDA_BIN` (a packaged release `bootstrap`, to test the
/// artifact that is deployed), or this build's, beside the test binary in `target/`.
fn binary() -> std::path::PathBuf {
    std::env::var_os("SGGUARD_LAMBDA_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(|| built("sgguard-lambda"), Into::into)
}

/// A binary of this workspace, built into the same `target/` profile directory as the test
/// binary (`target/debug/deps/system-…`). `scripts/test` builds them (`cargo build --bins`).
pub fn built(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --all-targets` first (scripts/test does)",
        path.display()
    );
    path
}

pub struct World {
    pub vpc: Vpc,
    pub audit: DynamoAuditLog,
    pub tables: TableNames,
    pub endpoint: String,
}

pub async fn world(test: &str) -> Option<World> {
    let endpoint = aws::endpoint(test)?;
    let config = aws::config(&endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let tables = TableNames {
        audit: aws::unique("audit"),
        allowlist: aws::unique("allow"),
    };
    create_tables(&dynamo, &tables).await.unwrap();
    let vpc = Vpc::create(Ec2::new(&config), "sgguard e2e").await;
    let allowlist = DynamoAllowlist::new(dynamo.clone(), &tables.allowlist, &tables.audit);
    let mut office = AllowEntry::new("office-ssh", "netops@example.com", "NET-123 office SSH");
    office.protocol = sgguard_core::Protocol::Tcp;
    office.ports = sgguard_core::PortRange::single(22);
    office.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    let change = AllowlistChange {
        at: "2026-11-26T00:00:00Z".into(),
        by: "test".into(),
        action: "add".into(),
        entry_id: "office-ssh".into(),
        detail: String::new(),
    };
    allowlist.put(&office, &change).await.unwrap();
    Some(World {
        vpc,
        audit: DynamoAuditLog::new(dynamo, &tables.audit),
        tables,
        endpoint,
    })
}

pub fn outcome(report: &Value) -> &str {
    report["outcome"].as_str().unwrap_or_default()
}
