//! `sgguard replay`: the whole pipeline over files, against the embedded store, with a
//! remediator that only reports. Safe for backfills and what-if runs of an allowlist.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sgguard_core::{Outcome, allowlist};
use sgguard_local::{ReportOnlyRemediator, SqliteStore};
use sgguard_responder::{AllowlistStore, EventReport, Responder, StaticAllowlist};

use super::PolicyArgs;
use crate::input::{expand_paths, read_file};
use crate::output::{Format, Summary, render_table, write_json};
use crate::store::StoreSpec;
use crate::Exit;

const AFTER_HELP: &str = "\
Input: EventBridge events, bare CloudTrail records, CloudTrail log files ({\"Records\": [...]}),
JSON Lines of any of these, each optionally gzip-compressed. Directories are read recursively
(*.json, *.jsonl, *.ndjson, and those with .gz). Records that are not security-group calls
are counted and skipped; failed calls (errorCode) are skipped.

Exit status: 0 when every record was processed, 3 when some were invalid (each has an
`invalid` line naming the file, record and field), 1 on an error.

Examples:
  sgguard replay examples/events --allowlist examples/allowlist.toml
  sgguard replay --format json --min-risk medium trail/ | jq 'select(.outcome == \"would_revert\")'
  sgguard replay --store sqlite:/tmp/whatif.db --allowlist proposed.toml last-week/";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReplayArgs {
    /// Files, directories, or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Where the audit log and allowlist live: `sqlite:PATH`.
    #[arg(long, default_value = "sqlite:sgguard.db", env = "SGGUARD_STORE")]
    pub store: StoreSpec,

    /// Judge against this allowlist file (TOML) instead of the stored allowlist.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// `table` for people (default on a terminal), `json` for one object per line.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplayRun {
    pub reports: Vec<EventReport>,
    pub summary: Summary,
}

impl ReplayRun {
    pub fn exit(&self) -> Exit {
        if self.summary.count(Outcome::Invalid) > 0 { Exit::InvalidInput } else { Exit::Success }
    }
}

/// Replays `args.paths` and writes the results to `out`.
pub async fn replay(args: &ReplayArgs, out: &mut dyn Write) -> anyhow::Result<ReplayRun> {
    let StoreSpec::Sqlite(path) = &args.store else {
        anyhow::bail!("`--store dynamodb` is not available in this build yet; use `sqlite:PATH`");
    };
    let store = SqliteStore::open(path)?;
    let policy = args.policy.policy();
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Json });
    let run = match &args.allowlist {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read allowlist `{}`", file.display()))?;
            let entries = allowlist::from_toml(&text, &file.display().to_string())?;
            let responder = Responder::new(&store, StaticAllowlist::new(entries), ReportOnlyRemediator, policy);
            process(&responder, &args.paths, format, out).await?
        }
        None => {
            let responder = Responder::new(&store, &store, ReportOnlyRemediator, policy);
            process(&responder, &args.paths, format, out).await?
        }
    };
    if format == Format::Table {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        writeln!(out, "{}", render_table(&run.reports, color))?;
        writeln!(out, "\n{}", run.summary.line())?;
    }
    Ok(run)
}

async fn process<L: AllowlistStore>(
    responder: &Responder<&SqliteStore, L, ReportOnlyRemediator>,
    paths: &[PathBuf],
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<ReplayRun> {
    let files = expand_paths(paths).context("cannot list the input paths")?;
    let mut records = Vec::new();
    for file in &files {
        records.extend(read_file(file).with_context(|| format!("cannot read `{}`", file.display()))?);
    }
    let progress = progress_bar(records.len());
    let mut run = ReplayRun::default();
    for input in records {
        let report = match input.record {
            Ok(record) => responder.handle(&record, Some(input.origin)).await,
            Err(bad) => responder.keep_invalid(bad.raw, Some(input.origin), bad.message).await,
        }
        .map_err(|e| anyhow::Error::new(e).context("the audit store failed; nothing after this record was processed"))?;
        progress.inc(1);
        run.summary.add(report.outcome);
        if format == Format::Json {
            write_json(out, &report)?;
        } else {
            run.reports.push(report);
        }
    }
    progress.finish_and_clear();
    Ok(run)
}

/// A progress bar on stderr for long inputs, only when a person is watching.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 500 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar
}
