//! `sgguard replay`: the whole pipeline over files with a remediator that only reports.
//! Safe for backfills (into SQLite or DynamoDB) and what-if runs of an allowlist: it never
//! calls EC2.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use sgguard_responder::{ReportOnlyRemediator, Responder};

use super::pipeline::{self, PipelineRun};
use super::{GraceArgs, PolicyArgs};
use crate::output::Format;
use crate::store::{AnyRemediator, StoreArgs};

const AFTER_HELP: &str = "\
Input: EventBridge events, bare CloudTrail records, CloudTrail log files ({\"Records\": [...]}),
Lambda invocation records from the dead-letter queue (the event in requestPayload), JSON Lines
of any of these, each optionally gzip-compressed. Directories are read recursively
(*.json, *.jsonl, *.ndjson, and those with .gz). Records that are not security-group calls
are counted and skipped; failed calls (errorCode) are skipped.

Exit status: 0 when every record was processed, 3 when some were invalid (each has an
`invalid` line naming the file, record and field), 1 on an error.

Examples:
  sgguard replay examples/events --allowlist examples/allowlist.toml
  sgguard replay --format json --min-risk medium trail/ | jq 'select(.outcome == \"would_revert\")'
  sgguard replay --store sqlite:/tmp/whatif.db --allowlist proposed.toml last-week/
  sgguard replay --store dynamodb --aws-region eu-west-1 s3-export/   # backfill the audit table";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReplayArgs {
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

    /// `table` for people (default on a terminal), `json` for one object per line.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Replays `args.paths` and writes the results to `out`.
pub async fn replay(args: &ReplayArgs, out: &mut dyn Write) -> anyhow::Result<PipelineRun> {
    let stores = args.store.open().await?;
    let allowlist = pipeline::select_allowlist(args.allowlist.as_deref(), stores.allowlist)?;
    let remediator = AnyRemediator::ReportOnly(ReportOnlyRemediator);
    let settings = super::settings(&args.store, &args.policy, &GraceArgs::default());
    let responder = Responder::new(stores.audit, allowlist, remediator, settings.policy());
    pipeline::run(
        &responder,
        &args.paths,
        pipeline::Trust::Any,
        pipeline::default_format(args.format),
        out,
    )
    .await
}
