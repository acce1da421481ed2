//! `sgguard respond`: the Lambda's pipeline from the command line, for events in files:
//! the same code, stores and EC2 remediator. `--dry-run` reports instead of acting.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use sgguard_aws::Ec2Remediator;
use sgguard_local::ReportOnlyRemediator;
use sgguard_responder::Responder;

use super::PolicyArgs;
use super::pipeline::{self, PipelineRun};
use crate::output::Format;
use crate::store::{AnyRemediator, StoreArgs};

const AFTER_HELP: &str = "\
Reverts only under `--mode enforce` (or SGGUARD_MODE=enforce), and only what each event
added: rule ids from the record, never a re-scan of the group. Each event is recorded before
anything is done, so running the same files twice reverts nothing twice.

Examples:
  sgguard respond --dry-run --mode enforce --store dynamodb event.json
  sgguard respond --mode enforce --store dynamodb --aws-region eu-west-1 event.json
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 sgguard respond --mode enforce --store dynamodb events/";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RespondArgs {
    /// Files, directories, or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Judge against this allowlist file (TOML) instead of the stored allowlist.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Report what would be reverted without calling EC2.
    #[arg(long)]
    pub dry_run: bool,

    /// `table` for people (default on a terminal), `json` for one object per line.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub async fn respond(args: &RespondArgs, out: &mut dyn Write) -> anyhow::Result<PipelineRun> {
    let stores = args.store.open().await?;
    let allowlist = pipeline::select_allowlist(args.allowlist.as_deref(), stores.allowlist)?;
    let remediator = if args.dry_run {
        AnyRemediator::ReportOnly(ReportOnlyRemediator)
    } else {
        let sdk = match stores.sdk {
            Some(sdk) => sdk,
            None => args.store.sdk().await,
        };
        AnyRemediator::Ec2(Box::new(Ec2Remediator::new(sdk)))
    };
    let responder = Responder::new(stores.audit, allowlist, remediator, args.policy.policy());
    pipeline::run(
        &responder,
        &args.paths,
        pipeline::default_format(args.format),
        out,
    )
    .await
}
