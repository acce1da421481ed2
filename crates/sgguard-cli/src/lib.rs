//! The `sgguard` command line. Every command is a function here that takes typed
//! arguments, so tests call them directly; `main.rs` only parses and dispatches.

pub mod commands;
pub mod identity;
pub mod input;
pub mod output;
pub mod report;
pub mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use commands::allow::{AllowArgs, AllowCommand};
pub use commands::audit::{AuditArgs, AuditCommand, AuditFormat, AuditKind, audit};
pub use commands::config::{ConfigArgs, ConfigFormat};
pub use commands::pipeline::PipelineRun;
pub use commands::replay::{ReplayArgs, replay};
pub use commands::report::{ReportArgs, ReportRun};
pub use commands::respond::{RespondArgs, respond};
pub use commands::{GraceArgs, PolicyArgs, init::InitArgs};

/// Exit statuses, stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success = 0,
    /// An error stopped the command (bad flag, unreadable file, store failure).
    Failure = 1,
    /// `allow check` found a rule that no entry approves.
    Unapproved = 2,
    /// The command finished, but some input records were invalid (see the `invalid` lines),
    /// or a revert failed (`revert_failed`).
    Incomplete = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

const ABOUT: &str = "Guard AWS EC2 security groups: audit every change, classify its risk, \
check it against an allowlist and revert what is not approved.";

const EXAMPLES: &str = "\
Examples:
  sgguard replay examples/events --allowlist examples/allowlist.toml
  sgguard replay --format json cloudtrail/2026/11/ > decisions.jsonl
  zcat log.json.gz | sgguard replay -
  sgguard respond --mode enforce --store dynamodb --aws-region eu-west-1 event.json
  sgguard init --store dynamodb --aws-region eu-west-1
  sgguard audit --group sg-0a1b2c3d4e5f60718 --min-risk critical --since 7d
  sgguard audit show b61e6ba5-3682-4dd6-b804-69b84b2d451c
  sgguard report --since 30d --html report.html
  sgguard allow add office-ssh --owner netops@example.com --reason NET-123 --expires 90d \\
      --protocol tcp --ports 22 --cidr 203.0.113.0/24
  sgguard allow check --group sg-0123456789abcdef0 --protocol tcp --ports 22 --source 0.0.0.0/0";

#[derive(Debug, Parser)]
#[command(name = "sgguard", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run events through the pipeline offline, recording them in the audit store; never calls EC2.
    Replay(ReplayArgs),
    /// Run events through the Lambda's pipeline from the command line (reverts under enforce).
    Respond(RespondArgs),
    /// Create (or migrate) the audit store: the SQLite file, or the DynamoDB tables.
    Init(InitArgs),
    /// Manage the allowlist: list, add, remove, import, export, and check which entry approves a rule.
    Allow(Box<AllowArgs>),
    /// Query the audit trail: events by group, actor, rule, outcome, risk, scope and time;
    /// `show` one event; the history of one `rule`.
    Audit(Box<AuditArgs>),
    /// Write a self-contained HTML report of a time window: outcomes, a timeline, top actors
    /// and groups, the riskiest open findings and every revert.
    Report(ReportArgs),
    /// Print the settings `respond` would run with, read as the Lambda reads its environment.
    Config(Box<ConfigArgs>),
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Replay(args) => {
            let mut stdout = std::io::stdout().lock();
            let run = replay(&args, &mut stdout).await?;
            Ok(run.exit())
        }
        Command::Respond(args) => {
            let mut stdout = std::io::stdout().lock();
            let run = respond(&args, &mut stdout).await?;
            Ok(run.exit())
        }
        Command::Init(args) => commands::init::init(&args).await,
        Command::Allow(args) => {
            let mut stdout = std::io::stdout().lock();
            commands::allow::allow(&args, &mut stdout).await
        }
        Command::Audit(args) => {
            let mut stdout = std::io::stdout().lock();
            audit(&args, &mut stdout).await
        }
        Command::Report(args) => commands::report::run(&args).await,
        Command::Config(args) => {
            let mut stdout = std::io::stdout().lock();
            commands::config::config(&args, &mut stdout)?;
            Ok(Exit::Success)
        }
    }
}

/// Logs go to stderr so stdout stays parseable.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Whether an error is only the reader of stdout going away (`| head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
