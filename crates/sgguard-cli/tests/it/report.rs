//! `sgguard report` end to end: replay the example events into a fresh SQLite store, write
//! the HTML report for their window with the command function, then load the page in
//! headless Chromium and read the counts back from the rendered DOM.
//!
//! Chromium is Debian's `chromium` (installed by `scripts/test`). Without it the browser part
//! is skipped with a notice, unless `CI` is set, where it fails. Set
//! `SGGUARD_REPORT_SCREENSHOT=/path/report.png` to also save a screenshot of the page.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sgguard_cli::commands::report::{ReportArgs, report};
use sgguard_cli::output::Format;
use sgguard_cli::report::{OPEN_OUTCOMES, REVERT_OUTCOMES, TOP, is_unapproved};
use sgguard_cli::store::{StoreArgs, StoreSpec};
use sgguard_cli::{PolicyArgs, ReplayArgs, replay};
use sgguard_core::Outcome;
use sgguard_core::time::parse_event_time;
use sgguard_responder::EventReport;
use sgguard_responder::settings::ResponderArns;

const SELF_ARN: &str = "arn:aws:iam::111122223333:role/sgguard-responder";
const CHROMIUM: &str = "/usr/bin/chromium";
const SINCE: &str = "2026-11-19T00:00:00Z";
const UNTIL: &str = "2026-11-22T23:59:59Z";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn store_args(db: &Path) -> StoreArgs {
    StoreArgs {
        store: StoreSpec::Sqlite(db.to_path_buf()),
        ..StoreArgs::default()
    }
}

/// Replays the examples into `db` and returns the reports it printed.
async fn replay_examples(db: &Path) -> Vec<EventReport> {
    let args = ReplayArgs {
        paths: vec![examples().join("events")],
        store: store_args(db),
        allowlist: Some(examples().join("allowlist.toml")),
        what_if_store: None,
        policy: PolicyArgs {
            self_arns: vec![ResponderArns(vec![SELF_ARN.to_owned()])],
            ..PolicyArgs::default()
        },
        format: Some(Format::Json),
    };
    let mut out = Vec::new();
    replay(&args, &mut out).await.unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a report ({e}): {l}")))
        .collect()
}

/// What the store keeps as event records: everything but skipped calls, redeliveries and
/// invalid records (kept apart), inside the window.
fn stored_in_window(reports: &[EventReport]) -> Vec<&EventReport> {
    let since = parse_event_time(SINCE).unwrap();
    let until = parse_event_time(UNTIL).unwrap();
    reports
        .iter()
        .filter(|r| {
            !matches!(
                r.outcome,
                Outcome::SkippedFailedCall
                    | Outcome::SkippedUnrelated
                    | Outcome::Duplicate
                    | Outcome::Invalid
            )
        })
        .filter(|r| {
            r.event_time
                .as_deref()
                .and_then(parse_event_time)
                .is_some_and(|t| t >= since && t <= until)
        })
        .collect()
}

/// The attributes of the first start tag whose attributes contain `needle`.
fn tag_with<'a>(html: &'a str, needle: &str) -> Option<&'a str> {
    let at = html.find(needle)?;
    let start = html[..=at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    Some(&html[start..end])
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(&tag[at..at + len])
}

/// The `data-count` of the element with this id.
fn count(html: &str, id: &str) -> usize {
    let tag = tag_with(html, &format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element with id `{id}`"));
    attr(tag, "data-count")
        .unwrap_or_else(|| panic!("`{id}` has no data-count: {tag}"))
        .parse()
        .unwrap()
}

/// The values of `data-count` on elements with this class.
fn counts_of_class(html: &str, class: &str) -> Vec<usize> {
    let needle = format!("class=\"{class}\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let start = html[..at].rfind('<').unwrap();
            let end = at + html[at..].find('>').unwrap();
            let tag = &html[start..end];
            attr(tag, "data-count")
                .unwrap_or_else(|| panic!("no data-count: {tag}"))
                .parse()
                .unwrap()
        })
        .collect()
}

/// Every count the page must show, computed from the replay's reports.
fn check_counts(html: &str, events: &[&EventReport], what: &str) {
    let mut by_outcome: BTreeMap<Outcome, usize> = BTreeMap::new();
    for e in events {
        *by_outcome.entry(e.outcome).or_default() += 1;
    }
    let n = |o: Outcome| by_outcome.get(&o).copied().unwrap_or(0);
    let groups: BTreeSet<String> = events
        .iter()
        .map(|e| {
            e.group_id
                .clone()
                .or_else(|| e.group_name.clone())
                .unwrap_or_default()
        })
        .collect();
    let actors: BTreeSet<&str> = events.iter().filter_map(|e| e.actor.as_deref()).collect();
    let unapproved = events.iter().filter(|e| is_unapproved(e.outcome)).count();

    assert_eq!(count(html, "count-events"), events.len(), "{what}: events");
    assert_eq!(
        count(html, "count-changes"),
        events.iter().map(|e| e.changes.len()).sum::<usize>(),
        "{what}: changes"
    );
    for outcome in [
        Outcome::WouldRevert,
        Outcome::Flagged,
        Outcome::Approved,
        Outcome::Recorded,
        Outcome::OwnAction,
        Outcome::Reverted,
        Outcome::Restored,
        Outcome::RevertFailed,
        Outcome::Pending,
    ] {
        assert_eq!(
            count(html, &format!("count-outcome-{}", outcome.as_str())),
            n(outcome),
            "{what}: {outcome}"
        );
    }
    let open: usize = OPEN_OUTCOMES.iter().map(|o| n(*o)).sum();
    let reverts: usize = REVERT_OUTCOMES.iter().map(|o| n(*o)).sum();
    assert_eq!(count(html, "count-open"), open, "{what}: open findings");
    assert_eq!(count(html, "count-unapproved-open"), open, "{what}");
    assert_eq!(count(html, "count-reverts"), reverts, "{what}: reverts");
    assert_eq!(
        count(html, "count-approved"),
        n(Outcome::Approved),
        "{what}"
    );
    assert_eq!(count(html, "count-groups"), groups.len(), "{what}: groups");
    assert_eq!(count(html, "count-actors"), actors.len(), "{what}: actors");
    assert_eq!(
        html.matches("class=\"group-row\"").count(),
        groups.len().min(TOP),
        "{what}: group rows shown"
    );
    assert_eq!(
        html.matches("class=\"actor-row\"").count(),
        actors.len().min(TOP),
        "{what}: actor rows shown"
    );
    // The actors' unapproved counts add up when every actor is shown.
    if actors.len() <= TOP {
        let rows: usize = html
            .split("class=\"actor-row\"")
            .skip(1)
            .map(|row| {
                let row = &row[..row.find("</tr>").unwrap()];
                let counts: Vec<usize> = row
                    .split("data-count=\"")
                    .skip(1)
                    .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
                    .collect();
                counts[1]
            })
            .sum();
        assert_eq!(rows, unapproved, "{what}: unapproved per actor");
    }
    // One open finding per open event, each named by its event id.
    let finding_events: BTreeSet<&str> = html
        .split("data-event-id=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    for e in events.iter().filter(|e| OPEN_OUTCOMES.contains(&e.outcome)) {
        assert!(
            finding_events.contains(e.event_id.as_deref().unwrap()),
            "{what}: finding {:?} missing",
            e.event_id
        );
    }
    // The timeline holds every event, per day and per outcome.
    let days: usize = counts_of_class(html, "day").iter().sum();
    let segments: usize = counts_of_class(html, "seg").iter().sum();
    assert_eq!(days, events.len(), "{what}: timeline days");
    assert_eq!(segments, events.len(), "{what}: timeline segments");
}

/// Runs Chromium with the flags this machine needs (no background networking: the network
/// is closed, and refused connections are errors) and a fresh profile.
fn chromium(page: &Path, extra: &[String], stdout: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(stdout).unwrap())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing, and CI is set: scripts/test installs Debian's `chromium`"
    );
    eprintln!(
        "SKIPPED the headless browser part: {CHROMIUM} is missing (scripts/test installs Debian's `chromium`)"
    );
    false
}

#[tokio::test]
async fn report_of_the_replayed_examples_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let reports = replay_examples(&db).await;
    let expected = stored_in_window(&reports);
    assert!(expected.len() > 10, "the examples should fill the window");
    assert!(
        expected.iter().any(|e| e.outcome == Outcome::WouldRevert)
            && expected.iter().any(|e| e.outcome == Outcome::Flagged)
            && expected.iter().any(|e| e.outcome == Outcome::Approved),
        "the examples cover the main outcomes"
    );

    let page = dir.path().join("report.html");
    let args = ReportArgs {
        since: parse_event_time(SINCE),
        until: parse_event_time(UNTIL),
        html: page.clone(),
        store: store_args(&db),
    };
    let mut out = Vec::new();
    let run = report(&args, &mut out).await.unwrap();
    let line = String::from_utf8(out).unwrap();
    assert_eq!(run.events, expected.len());
    assert_eq!(run.path, page);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(&format!(
            "wrote {}: {} events from {SINCE} to {UNTIL}",
            page.display(),
            expected.len()
        )),
        "{line}"
    );

    // The file as written.
    let html = std::fs::read_to_string(&page).unwrap();
    check_counts(&html, &expected, "written page");

    // The page as a browser renders it.
    if !chromium_available() {
        return;
    }
    let dom_file = dir.path().join("dom.html");
    chromium(&page, &["--dump-dom".to_owned()], &dom_file);
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    let body = tag_with(&dom, "<body").expect("no <body> in the DOM");
    assert_eq!(
        attr(body, "data-rendered"),
        Some("ok"),
        "the page's last script did not run: {body}"
    );
    assert_eq!(attr(body, "data-errors"), None, "script errors: {body}");
    check_counts(&dom, &expected, "rendered DOM");
    // The chart is drawn: one bar slot per day of the window (19th to 22nd).
    assert_eq!(dom.matches("class=\"day\"").count(), 4);
    assert!(dom.contains("<svg"), "no chart");

    if let Some(shot) = std::env::var_os("SGGUARD_REPORT_SCREENSHOT") {
        let shot = PathBuf::from(shot);
        chromium(
            &page,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1280,2000".to_owned(),
                "--hide-scrollbars".to_owned(),
            ],
            &dir.path().join("screenshot.log"),
        );
        eprintln!("screenshot: {}", shot.display());
    }
}

#[tokio::test]
async fn an_empty_window_writes_a_friendly_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    replay_examples(&db).await;
    let page = dir.path().join("empty.html");
    let args = ReportArgs {
        since: parse_event_time("2020-01-01T00:00:00Z"),
        until: parse_event_time("2020-01-31T00:00:00Z"),
        html: page.clone(),
        store: store_args(&db),
    };
    let mut out = Vec::new();
    let run = report(&args, &mut out).await.unwrap();
    assert_eq!(run.events, 0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("No changes in this window"));
    assert_eq!(count(&html, "count-events"), 0);
}

#[tokio::test]
async fn errors_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let missing = ReportArgs {
        html: dir.path().join("r.html"),
        store: store_args(&dir.path().join("nothing-here.db")),
        ..ReportArgs::default()
    };
    let err = report(&missing, &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("--store"), "{err:#}");
    assert!(
        !dir.path().join("nothing-here.db").exists(),
        "created a store"
    );

    let backwards = ReportArgs {
        since: parse_event_time("2026-11-22T00:00:00Z"),
        until: parse_event_time("2026-11-19T00:00:00Z"),
        ..missing
    };
    let err = report(&backwards, &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("--since"), "{err:#}");
}
