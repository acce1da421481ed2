//! `sgguard respond`: the Lambda's pipeline from the command line, for events in files:
//! the same code, stores and EC2 remediator. `--dry-run` reports instead of acting.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use sgguard_aws::Ec2Remediator;
use sgguard_responder::{ReportOnlyRemediator, Responder};

use super::pipeline::{self, PipelineRun};
use super::{GraceArgs, PolicyArgs};
use crate::output::Format;
use crate::store::{AnyRemediator, StoreArgs};

const AFTER_HELP: &str = "\
Reverts only under `--mode enforce` (or SGGUARD_MODE=enforce), and only what each event
added: rule ids from the record, never a re-scan of the group. Each event is recorded before
anything is done, so running the same files twice reverts nothing twice. Reads what `replay`
reads, including the dead-letter queue's messages: redrive them with this command.

Only authentic EventBridge envelopes are acted on (source aws.ec2, a CloudTrail API call,
the envelope's account equal to the record's), as in the Lambda; the dead-letter queue's
messages carry theirs. Bare CloudTrail records (log files, exports) are kept as invalid unless
--trust-bare-records states that they are CloudTrail's own.

Events of other accounts than the credentials' are reverted only with --member-role, through
that role in the event's account; without it their revert fails and is recorded. A failed
revert is final for its event (running it again reports a duplicate) until --retry-failed
asks for another attempt, judged against the current allowlist.

Exit status: 0 when every record was processed, 3 when some were invalid or a revert failed
(`revert_failed`), 1 on an error.

Examples:
  sgguard respond --dry-run --mode enforce --store dynamodb event.json
  sgguard respond --mode enforce --store dynamodb --member-role sgguard-member dead-letters.jsonl
  sgguard respond --mode enforce --store dynamodb --member-role sgguard-member --retry-failed events/
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

    /// Act again on events recorded as `revert_failed` (after fixing the cause: permissions,
    /// a member role), instead of reporting them as duplicates. Each is judged afresh
    /// against the current allowlist. Needs `--mode enforce`.
    #[arg(long, conflicts_with = "dry_run")]
    pub retry_failed: bool,

    /// Act on bare CloudTrail records too (log files, exports), not only on EventBridge
    /// envelopes: an operator's statement that the files are CloudTrail's own, since a bare
    /// record carries nothing that proves where it came from.
    #[arg(long)]
    pub trust_bare_records: bool,

    #[command(flatten)]
    pub grace: GraceArgs,

    /// `table` for people (default on a terminal), `json` for one object per line.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub async fn respond(args: &RespondArgs, out: &mut dyn Write) -> anyhow::Result<PipelineRun> {
    if args.retry_failed && args.policy.mode != sgguard_core::Mode::Enforce {
        anyhow::bail!("--retry-failed acts on events, so it needs --mode enforce");
    }
    let stores = args.store.open().await?;
    let allowlist = pipeline::select_allowlist(args.allowlist.as_deref(), stores.allowlist)?;
    let settings = super::settings(&args.store, &args.policy, &args.grace);
    let remediator = if args.dry_run {
        AnyRemediator::ReportOnly(ReportOnlyRemediator)
    } else {
        let sdk = match stores.sdk {
            Some(sdk) => sdk,
            None => args.store.sdk().await,
        };
        AnyRemediator::Ec2(Box::new(
            Ec2Remediator::new(sdk).with_member_role(settings.member_role.clone()),
        ))
    };
    let responder = Responder::new(stores.audit, allowlist, remediator, settings.policy())
        .retrying_failed(args.retry_failed)
        .with_history_grace(settings.history_grace);
    let trust = if args.trust_bare_records {
        pipeline::Trust::BareRecordsToo
    } else {
        pipeline::Trust::AuthenticEnvelopes
    };
    pipeline::run(
        &responder,
        &args.paths,
        trust,
        pipeline::default_format(args.format),
        out,
    )
    .await
}
