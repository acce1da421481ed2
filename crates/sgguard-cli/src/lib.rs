//! The `sgguard` command line. Every command is a function here that takes typed
//! arguments, so tests call them directly; `main.rs` only parses and dispatches.

pub mod commands;
pub mod input;
pub mod output;
pub mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use commands::pipeline::PipelineRun;
pub use commands::replay::{ReplayArgs, replay};
pub use commands::respond::{RespondArgs, respond};
pub use commands::{PolicyArgs, init::InitArgs};

/// Exit statuses, stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success = 0,
    /// An error stopped the command (bad flag, unreadable file, store failure).
    Failure = 1,
    /// `allow check` found a rule that no entry approves.
    Unapproved = 2,
    /// The command finished, but some input records were invalid (see the `invalid` lines).
    InvalidInput = 3,
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
  sgguard respond --mode enforce --store dynamodb --region eu-west-1 event.json
  sgguard init --store dynamodb --region eu-west-1";

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
