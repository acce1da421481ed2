//! `sgguard report`: one self-contained HTML page over a window of the audit log, for people
//! who would rather look than read JSON. The page itself is rendered by [`crate::report`].

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use sgguard_core::time::{format_time, parse_time_or_duration};
use sgguard_responder::{AuditFilter, AuditReader};

use crate::Exit;
use crate::report::{ReportMeta, render_html};
use crate::store::{StoreArgs, StoreSpec};

const AFTER_HELP: &str = "\
The page needs nothing from the network (inline CSS and SVG, a few lines of inline script),
so it can be mailed, attached to a ticket or archived. It shows counts by outcome, a timeline
of changes per day stacked by outcome, the top actors and groups, the riskiest open findings
(would_revert, flagged, revert_failed, pending) with their evidence, and every revert.

--since and --until take an RFC 3339 time (2026-11-20T09:00:00Z), a date (2026-11-20, midnight
UTC) or a duration back from now (30d, 12h, 90m).

Examples:
  sgguard report
  sgguard report --since 7d --html weekly.html
  sgguard report --since 2026-11-01 --until 2026-12-01 --html november.html
  sgguard report --store dynamodb --aws-region eu-west-1 --since 30d --html report.html";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReportArgs {
    /// Start of the window: RFC 3339, a date, or a duration back from now.
    // `None` (from callers that build the arguments) means 30 days before --until.
    #[arg(long, value_name = "WHEN", default_value = "30d", value_parser = parse_when)]
    pub since: Option<DateTime<Utc>>,

    /// End of the window: RFC 3339, a date, or a duration back from now [default: now].
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<DateTime<Utc>>,

    /// Where to write the page.
    #[arg(long, value_name = "FILE", default_value = "sgguard-report.html")]
    pub html: PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl Default for ReportArgs {
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            html: PathBuf::from("sgguard-report.html"),
            store: StoreArgs::default(),
        }
    }
}

/// What one run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRun {
    pub path: PathBuf,
    pub events: usize,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// `--since`/`--until`: clap names the flag in the error.
fn parse_when(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time_or_duration(text, Utc::now(), true).ok_or_else(|| {
        format!(
            "`{text}` is not a time: use RFC 3339 (2026-11-20T09:00:00Z), a date (2026-11-20) \
             or a duration back from now (30d, 12h)"
        )
    })
}

/// Reads the window from the audit log, writes the page to `args.html`, and prints one line
/// saying where and how many events.
pub async fn report(args: &ReportArgs, out: &mut dyn Write) -> anyhow::Result<ReportRun> {
    let now = Utc::now();
    let until = args.until.unwrap_or(now);
    let since = args.since.unwrap_or(until - Duration::days(30));
    if since > until {
        anyhow::bail!(
            "--since {} is after --until {}: the window is empty",
            format_time(&since),
            format_time(&until)
        );
    }
    if let StoreSpec::Sqlite(path) = &args.store.store
        && !path.exists()
    {
        anyhow::bail!(
            "--store: there is no audit store at `{}`; record events with `sgguard replay` \
             first, or point --store at the store to report on",
            path.display()
        );
    }
    let stores = args.store.open().await?;
    let filter = AuditFilter {
        since: Some(since),
        until: Some(until),
        limit: None,
        ..AuditFilter::default()
    };
    let events = stores
        .audit
        .query(&filter)
        .await
        .with_context(|| format!("cannot read the audit log in {}", args.store.store))?;
    let meta = ReportMeta {
        since,
        until,
        store: args.store.store.to_string(),
        generated_at: now,
    };
    let html = render_html(&meta, &events);
    std::fs::write(&args.html, html)
        .with_context(|| format!("--html: cannot write `{}`", args.html.display()))?;
    writeln!(
        out,
        "wrote {}: {} event{} from {} to {} ({})",
        args.html.display(),
        events.len(),
        if events.len() == 1 { "" } else { "s" },
        format_time(&since),
        format_time(&until),
        args.store.store
    )?;
    Ok(ReportRun {
        path: args.html.clone(),
        events: events.len(),
        since,
        until,
    })
}

/// For `main`: the exit status of a run.
pub async fn run(args: &ReportArgs) -> anyhow::Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    report(args, &mut stdout).await?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReportArgs,
    }

    #[test]
    fn times_dates_and_durations_parse() {
        let cli = Cli::try_parse_from([
            "report",
            "--since",
            "2026-11-19",
            "--until",
            "2026-11-22T23:59:59Z",
        ])
        .unwrap();
        assert_eq!(
            cli.args.since.map(|t| format_time(&t)).as_deref(),
            Some("2026-11-19T00:00:00Z")
        );
        assert_eq!(
            cli.args.until.map(|t| format_time(&t)).as_deref(),
            Some("2026-11-22T23:59:59Z")
        );
        assert_eq!(cli.args.html, PathBuf::from("sgguard-report.html"));

        let cli = Cli::try_parse_from(["report"]).unwrap();
        let since = cli.args.since.unwrap();
        let age = Utc::now() - since;
        assert!((age - Duration::days(30)).num_seconds().abs() < 60, "{age}");
        assert_eq!(cli.args.until, None);
    }

    #[test]
    fn a_bad_time_is_a_usage_error_naming_the_flag() {
        let err = Cli::try_parse_from(["report", "--since", "last tuesday"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let text = err.to_string();
        assert!(text.contains("--since"), "{text}");
        assert!(text.contains("last tuesday"), "{text}");
        let err = Cli::try_parse_from(["report", "--until", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--until"), "{err}");
    }
}
