//! `sgguard config`: the settings `respond` would run with, from flags, environment and
//! defaults, read exactly as the Lambda reads its environment.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::{GraceArgs, PolicyArgs};
use crate::store::StoreArgs;

const AFTER_HELP: &str = "\
Prints each SGGUARD_* setting the Lambda and the CLI share, as the Lambda would read it from
this environment (with any flags given here applied on top). The `env` form is an environment
file: what the function's configuration should hold to behave like this command line.

Examples:
  sgguard config
  SGGUARD_MODE=enforce SGGUARD_REVERT_EGRESS=yes sgguard config --format json
  sgguard config --mode enforce --member-role sgguard-member > sgguard.env";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub grace: GraceArgs,

    /// `env` (NAME=value lines) or `json` (one object).
    #[arg(long, value_enum, default_value_t = ConfigFormat::Env)]
    pub format: ConfigFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    Env,
    Json,
}

pub fn config(args: &ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let settings = super::settings(&args.store, &args.policy, &args.grace).to_env();
    match args.format {
        ConfigFormat::Env => {
            for (name, value) in settings {
                writeln!(out, "{name}={value}")?;
            }
        }
        ConfigFormat::Json => {
            let object: serde_json::Map<String, serde_json::Value> = settings
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.into()))
                .collect();
            serde_json::to_writer_pretty(&mut *out, &object)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
