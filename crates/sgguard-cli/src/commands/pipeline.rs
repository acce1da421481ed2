//! The pipeline over files, shared by `replay` and `respond`: read every record, hand it to
//! the responder, print each result (JSON Lines as they come, or a table at the end).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sgguard_core::Outcome;
use sgguard_core::input::{Delivery, authenticate};
use sgguard_responder::{AllowlistStore, AuditLog, EventReport, Remediator, Responder};

use crate::Exit;
use crate::input::{expand_paths, read_file};
use crate::output::{Format, Summary, render_table, write_json};
use crate::store::{AnyAllowlist, file_allowlist};

/// Which records may lead to an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Every record: the run never acts (`replay`, and dry runs).
    Any,
    /// Only authentic EventBridge envelopes, as the Lambda requires (`respond`); dead
    /// letters carry theirs. Anything else is kept as invalid.
    AuthenticEnvelopes,
    /// Also bare CloudTrail records (`respond --trust-bare-records`): the operator states
    /// that the files are CloudTrail's own. Envelopes must still be authentic.
    BareRecordsToo,
}

impl Trust {
    /// Why a delivery may not be acted on, if it may not.
    fn refusal(self, delivery: &Delivery) -> Option<String> {
        let problem = match self {
            Self::Any => return None,
            Self::BareRecordsToo if delivery.envelope.is_none() => return None,
            Self::AuthenticEnvelopes | Self::BareRecordsToo => authenticate(delivery).err()?,
        };
        let hint = if delivery.envelope.is_none() {
            " (if these files are CloudTrail's own, say so with --trust-bare-records)"
        } else {
            ""
        };
        Some(format!(
            "not an authentic event, nothing done: {problem}{hint}"
        ))
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct PipelineRun {
    /// Kept for the table (JSON lines are written as they come).
    pub reports: Vec<EventReport>,
    pub summary: Summary,
}

impl PipelineRun {
    /// 0, or 3 when some records were invalid (each has an `invalid` line) or incomplete,
    /// or a revert failed (`revert_failed`).
    pub fn exit(&self) -> Exit {
        let incomplete = [Outcome::Invalid, Outcome::Incomplete, Outcome::RevertFailed];
        if incomplete.iter().any(|o| self.summary.count(*o) > 0) {
            Exit::Incomplete
        } else {
            Exit::Success
        }
    }
}

/// `table` on a terminal, `json` when piped.
pub fn default_format(format: Option<Format>) -> Format {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

/// The allowlist to judge against: the `--allowlist` file when one is given (a what-if run),
/// otherwise the store's own.
pub fn select_allowlist(file: Option<&Path>, stored: AnyAllowlist) -> anyhow::Result<AnyAllowlist> {
    match file {
        Some(file) => file_allowlist(file),
        None => Ok(stored),
    }
}

pub async fn run<A: AuditLog, L: AllowlistStore, R: Remediator>(
    responder: &Responder<A, L, R>,
    paths: &[PathBuf],
    trust: Trust,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<PipelineRun> {
    let files = expand_paths(paths).context("cannot list the input paths")?;
    let mut records = Vec::new();
    for file in &files {
        records
            .extend(read_file(file).with_context(|| format!("cannot read `{}`", file.display()))?);
    }
    let progress = progress_bar(records.len());
    let mut run = PipelineRun::default();
    for input in records {
        let origin = input.origin.clone();
        let report = match input.record {
            Ok(delivery) => match trust.refusal(&delivery) {
                None => responder.handle(&delivery.record, Some(input.origin)).await,
                Some(refusal) => {
                    responder
                        .keep_invalid(delivery.record, Some(input.origin), refusal)
                        .await
                }
            },
            Err(bad) => {
                responder
                    .keep_invalid(bad.raw, Some(input.origin), bad.message)
                    .await
            }
        }
        .map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "{origin}: the event could not be finished; records after it were not processed"
            ))
        })?;
        progress.inc(1);
        run.summary.add(report.outcome);
        if format == Format::Json {
            write_json(out, &report)?;
        } else {
            run.reports.push(report);
        }
    }
    progress.finish_and_clear();
    if format == Format::Table {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        writeln!(out, "{}", render_table(&run.reports, color))?;
        writeln!(out, "\n{}", run.summary.line())?;
    }
    Ok(run)
}

/// A progress bar on stderr for long inputs, only when a person is watching.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 500 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}
