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
use crate::store::{AnyRemediator, StoreArgs, StoreSpec};

const AFTER_HELP: &str = "\
Input: EventBridge events, bare CloudTrail records, CloudTrail log files ({\"Records\": [...]}),
Lambda invocation records from the dead-letter queue (the event in requestPayload), JSON Lines
of any of these, each optionally gzip-compressed. Directories are read recursively
(*.json, *.jsonl, *.ndjson, and those with .gz). Records that are not security-group calls
are counted and skipped; failed calls (errorCode) are skipped.

Records written by replay are marked as such: a live responder that later receives the same
event acts on it as new. A what-if run (--allowlist) never writes into a store a responder
uses: against --store dynamodb it needs --what-if-store to name another place.

Exit status: 0 when every record was processed, 3 when some were invalid (each has an
`invalid` line naming the file, record and field), 1 on an error.

Examples:
  sgguard replay examples/events --allowlist examples/allowlist.toml
  sgguard replay --format json --min-risk medium trail/ | jq 'select(.outcome == \"would_revert\")'
  sgguard replay --store sqlite:/tmp/whatif.db --allowlist proposed.toml last-week/
  sgguard replay --store dynamodb --allowlist proposed.toml --what-if-store sqlite:/tmp/whatif.db trail/
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

    /// Where a what-if run (`--allowlist`) records its results (`sqlite:PATH`), instead of
    /// `--store`. Required when `--store` is `dynamodb`: what-if approvals must never enter
    /// the audit table the live responder reads.
    #[arg(long, value_name = "STORE", requires = "allowlist")]
    pub what_if_store: Option<StoreSpec>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// `table` for people (default on a terminal), `json` for one object per line.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// Replays `args.paths` and writes the results to `out`.
pub async fn replay(args: &ReplayArgs, out: &mut dyn Write) -> anyhow::Result<PipelineRun> {
    let stores = args.store.open().await?;
    let audit = match what_if_target(args)? {
        Some(target) => target.open().await?.audit,
        None => stores.audit,
    };
    let allowlist = pipeline::select_allowlist(args.allowlist.as_deref(), stores.allowlist)?;
    let remediator = AnyRemediator::ReportOnly(ReportOnlyRemediator);
    let settings = super::settings(&args.store, &args.policy, &GraceArgs::default());
    let responder = Responder::new(audit, allowlist, remediator, settings.policy());
    pipeline::run(
        &responder,
        &args.paths,
        pipeline::Trust::Any,
        pipeline::default_format(args.format),
        out,
    )
    .await
}

/// The store a what-if run records into, when not `--store`; an error when a what-if run
/// would write into the DynamoDB audit table.
fn what_if_target(args: &ReplayArgs) -> anyhow::Result<Option<StoreArgs>> {
    let Some(allowlist) = &args.allowlist else {
        return Ok(None);
    };
    match (&args.store.store, &args.what_if_store) {
        (_, Some(StoreSpec::DynamoDb)) => anyhow::bail!(
            "`--what-if-store dynamodb`: a what-if run must not write into a DynamoDB audit table a responder may read; name a SQLite file (`--what-if-store sqlite:whatif.db`)"
        ),
        (_, Some(spec)) => Ok(Some(StoreArgs {
            store: spec.clone(),
            ..args.store.clone()
        })),
        (StoreSpec::DynamoDb, None) => anyhow::bail!(
            "a what-if run (`--allowlist {}`) against `--store dynamodb` would write hypothetical approvals into the audit table the live responder reads; add `--what-if-store sqlite:PATH` to record them elsewhere",
            allowlist.display()
        ),
        (StoreSpec::Sqlite(_), None) => Ok(None),
    }
}
