//! How `sgguard allow check` prints its verdicts: a table for people, JSON for scripts.

use std::io::Write;

use anyhow::bail;
use chrono::Utc;
use sgguard_core::Direction;
use sgguard_core::time::format_time;

use crate::Exit;

use super::check::{CheckArgs, RuleVerdict, check_rules};
use super::render::relative;
use super::{AllowFormat, format_or_default};

fn describe_verdict(v: &RuleVerdict) -> String {
    let ports = if v.ports == "all" {
        String::new()
    } else {
        format!(" {}", v.ports)
    };
    let preposition = if v.direction.is_ingress() {
        "from"
    } else {
        "to"
    };
    let unknown = if v.direction == Direction::Unknown {
        " (direction unknown: judged as ingress)"
    } else {
        ""
    };
    // A rule given by flags is hypothetical: no "added".
    let kind = if v.origin.is_some() {
        format!("{} ", v.kind.as_str())
    } else {
        String::new()
    };
    format!(
        "{kind}{} {}{ports} {preposition} {}{unknown}",
        v.direction, v.protocol, v.source
    )
}

/// `sgguard allow check`: prints the verdicts; exit 2 when any rule is unapproved.
pub async fn check(args: &CheckArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    check_styled(args, out, false).await
}

pub(super) async fn check_styled(
    args: &CheckArgs,
    out: &mut dyn Write,
    color: bool,
) -> anyhow::Result<Exit> {
    let run = check_rules(args).await?;
    let paint = |text: String, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text
        }
    };
    match format_or_default(args.format) {
        AllowFormat::Json => {
            for v in &run.verdicts {
                serde_json::to_writer(&mut *out, v)?;
                writeln!(out)?;
            }
        }
        AllowFormat::Table => {
            let mut last_event: Option<(String, usize)> = None;
            for v in &run.verdicts {
                let key = v.origin.as_ref().map(|o| (o.file.clone(), o.index));
                if key.is_some() && key != last_event {
                    let by = v.actor.as_deref().unwrap_or("?");
                    writeln!(
                        out,
                        "{}: {} on {} by {} ({}, {})",
                        v.origin
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        v.event_name.as_deref().unwrap_or("?"),
                        v.group_id.as_deref().unwrap_or("(group by name)"),
                        by,
                        v.account.as_deref().unwrap_or("?"),
                        v.region.as_deref().unwrap_or("?"),
                    )?;
                    last_event = key;
                } else if key.is_none() {
                    let mut scope = Vec::new();
                    if let Some(g) = &v.group_id {
                        scope.push(format!("group {g}"));
                    }
                    if let Some(a) = &v.account {
                        scope.push(format!("account {a}"));
                    }
                    if let Some(r) = &v.region {
                        scope.push(format!("region {r}"));
                    }
                    if let Some(p) = &v.actor {
                        scope.push(format!("caller {p}"));
                    }
                    let scope = if scope.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", scope.join(", "))
                    };
                    writeln!(out, "rule given by flags{scope}:")?;
                }
                let reasons = if v.risk_reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.risk_reasons.join("; "))
                };
                writeln!(out, "  {}  [{}]{reasons}", describe_verdict(v), v.risk)?;
                match (&v.approved_by, &v.closest_entry) {
                    (Some(id), _) => {
                        let about = run
                            .allowlist
                            .get(id)
                            .map(|e| {
                                let expires = e
                                    .expires
                                    .map(|t| {
                                        format!(
                                            ", expires {}, {}",
                                            format_time(&t),
                                            relative(t - Utc::now())
                                        )
                                    })
                                    .unwrap_or_default();
                                format!(" (owner {}, reason \"{}\"{expires})", e.owner, e.reason)
                            })
                            .unwrap_or_default();
                        writeln!(out, "    {} {id}{about}", paint("approved by".into(), "32"))?;
                    }
                    (None, Some(id)) => {
                        writeln!(
                            out,
                            "    {}; closest entry {id} failed:",
                            paint("NOT APPROVED".into(), "31;1")
                        )?;
                        for f in &v.failures {
                            writeln!(out, "      {}: {}", f.criterion, f.detail)?;
                        }
                    }
                    (None, None) => writeln!(
                        out,
                        "    {}: the allowlist has no entries",
                        paint("NOT APPROVED".into(), "31;1")
                    )?,
                }
            }
            for note in &run.notes {
                writeln!(out, "{note}")?;
            }
            for bad in &run.invalid {
                writeln!(out, "{bad}")?;
            }
            let total = run.verdicts.len();
            let unapproved = run.unapproved();
            let rules = if total == 1 { "rule" } else { "rules" };
            writeln!(
                out,
                "\n{total} {rules} checked against {}: {} approved, {unapproved} not approved",
                run.judged_against,
                total - unapproved
            )?;
        }
    }
    if !run.invalid.is_empty() {
        bail!(
            "{} record(s) could not be read: {}",
            run.invalid.len(),
            run.invalid.join("; ")
        );
    }
    Ok(run.exit())
}
