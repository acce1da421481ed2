//! `sgguard allow check`: which entry approves each rule of an event (or of one rule
//! given by flags), or which criteria failed for each entry.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use sgguard_core::allowlist::{Failure, RuleFacts};
use sgguard_core::event::RecordClass;
use sgguard_core::{
    Allowlist, Approval, ChangeKind, Direction, Identity, PortRange, Protocol, RiskLevel,
    RiskTable, RuleChange, RuleContent, Source, classify_record, normalize,
};
use sgguard_responder::{AllowlistStore, Origin};

use crate::Exit;
use crate::input::read_file;
use crate::store::{StoreArgs, Stores, file_allowlist};

use super::render::entries_word;
use super::{AllowFormat, store_label};

const CHECK_HELP: &str = "\
Give an event file (EventBridge event, CloudTrail record or log file, JSON Lines, gzip,
or `-` for stdin), or describe one rule with --source and --protocol (plus --ports,
--group, --direction, --account, --region, --principal as the entries you test need).
For each rule that adds or widens access, prints its risk and the entry that approves
it, or the closest entry and every criterion it failed. Judges against the stored
allowlist, or against --allowlist FILE (what-if, before importing it). The store's AWS
region is --aws-region (or AWS_REGION) here, since --region is the rule's region.

Exit status: 0 when every rule is approved, 2 when any is not, 1 on an error.

Examples:
  sgguard allow check --group sg-0123456789abcdef0 --protocol tcp --ports 22 --source 203.0.113.0/24
  sgguard allow check --protocol tcp --ports 443 --source 0.0.0.0/0 --group sg-0fedcba9876543210 \\
      --principal arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci
  sgguard allow check examples/events/03-envelope-authorize-ingress-ipv4-ipv6-and-office-ssh.json
  sgguard allow check --allowlist proposed.toml event.json && echo approved";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = CHECK_HELP)]
pub struct CheckArgs {
    /// An event file, or `-` for stdin. Leave it out to describe one rule with flags.
    #[arg(
        value_name = "EVENT_FILE",
        conflicts_with_all = ["group", "protocol", "ports", "source", "direction", "account", "rule_region", "principal"]
    )]
    pub event: Option<PathBuf>,

    /// The group the rule is added to (`sg-…`).
    #[arg(long, value_name = "SG_ID")]
    pub group: Option<String>,

    /// tcp, udp, icmp, icmpv6, all or a protocol number.
    #[arg(long)]
    pub protocol: Option<String>,

    /// `22`, `8000-8100` or `all` (default); for ICMP, the type.
    #[arg(long)]
    pub ports: Option<String>,

    /// The rule's source: a CIDR, a prefix list (`pl-…`) or a security group (`sg-…`).
    #[arg(long)]
    pub source: Option<String>,

    /// `ingress` (default) or `egress`.
    #[arg(long)]
    pub direction: Option<String>,

    /// The account of the group.
    #[arg(long)]
    pub account: Option<String>,

    /// The region of the group.
    #[arg(long = "region", value_name = "REGION")]
    pub rule_region: Option<String>,

    /// The caller's ARN (an assumed-role session ARN also matches its role).
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,

    /// Judge against this allowlist file (TOML) instead of the stored allowlist.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// `table` for people (default on a terminal), `json` for one object per rule.
    #[arg(long, value_enum)]
    pub format: Option<AllowFormat>,
}

/// What `check` found for one rule; `--format json` prints it as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVerdict {
    /// The input record (none for a rule given by flags).
    pub origin: Option<Origin>,
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub group_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub actor: Option<String>,
    pub principal: Option<String>,
    pub rule_id: Option<String>,
    pub direction: Direction,
    pub kind: ChangeKind,
    pub protocol: String,
    pub ports: String,
    pub source: String,
    pub risk: RiskLevel,
    pub risk_reasons: Vec<String>,
    pub approved: bool,
    pub approved_by: Option<String>,
    /// When not approved: the entry that failed the fewest criteria.
    pub closest_entry: Option<String>,
    /// The criteria the closest entry failed.
    pub failures: Vec<FailedCriterion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedCriterion {
    pub criterion: String,
    pub detail: String,
}

/// The result of `check`: every verdict, and the records that were not rules.
#[derive(Debug, Default)]
pub struct CheckRun {
    /// The allowlist judged against, e.g. `sqlite:sgguard.db (4 entries)`.
    pub judged_against: String,
    pub allowlist: Allowlist,
    pub verdicts: Vec<RuleVerdict>,
    /// Records and changes with nothing to approve, and why (skipped, removals).
    pub notes: Vec<String>,
    /// Records that could not be read.
    pub invalid: Vec<String>,
}

impl CheckRun {
    pub fn unapproved(&self) -> usize {
        self.verdicts.iter().filter(|v| !v.approved).count()
    }

    /// 2 when any rule is unapproved, else 0.
    pub fn exit(&self) -> Exit {
        if self.unapproved() > 0 {
            Exit::Unapproved
        } else {
            Exit::Success
        }
    }
}

/// What is known about the event a rule comes from.
struct RuleContext<'a> {
    origin: Option<Origin>,
    event_id: Option<&'a str>,
    event_name: Option<&'a str>,
    group_id: Option<&'a str>,
    account: &'a str,
    region: &'a str,
    identity: &'a Identity,
    /// For a rule given by flags: which of the scope flags were given.
    given: Option<[bool; 4]>,
}

const NOT_GIVEN: &str = "(not given)";

fn judge(
    change: &RuleChange,
    content: &RuleContent,
    ctx: &RuleContext<'_>,
    allowlist: &Allowlist,
    now: DateTime<Utc>,
) -> RuleVerdict {
    let risk = RiskTable::default().classify(change);
    let facts = RuleFacts {
        direction: change.direction,
        content,
        group_id: ctx.group_id,
        account: ctx.account,
        region: ctx.region,
        identity: ctx.identity,
    };
    let (approved_by, closest, failures) = match allowlist.evaluate(&facts, now) {
        Approval::Approved { entry_id } => (Some(entry_id), None, Vec::new()),
        Approval::NotApproved { closest } => match closest {
            Some((id, failures)) => (None, Some(id), hinted(failures, ctx.given)),
            None => (None, None, Vec::new()),
        },
    };
    let known = |s: &str| (s != NOT_GIVEN).then(|| s.to_owned());
    RuleVerdict {
        origin: ctx.origin.clone(),
        event_id: ctx.event_id.map(str::to_owned),
        event_name: ctx.event_name.map(str::to_owned),
        group_id: ctx.group_id.map(str::to_owned),
        account: known(ctx.account),
        region: known(ctx.region),
        actor: known(&ctx.identity.actor),
        principal: known(&ctx.identity.principal),
        rule_id: change.rule_id.clone(),
        direction: change.direction,
        kind: change.kind,
        protocol: content.protocol.to_string(),
        ports: content.port_range().to_string(),
        source: content.source.to_string(),
        risk: risk.level,
        risk_reasons: risk.reasons,
        approved: approved_by.is_some(),
        approved_by,
        closest_entry: closest,
        failures,
    }
}

/// For a rule given by flags, a scope criterion that failed because its flag was left out
/// says which flag to pass.
fn hinted(failures: Vec<Failure>, given: Option<[bool; 4]>) -> Vec<FailedCriterion> {
    failures
        .into_iter()
        .map(|f| {
            let flag = match f.criterion {
                "groups" => Some((0, "--group")),
                "accounts" => Some((1, "--account")),
                "regions" => Some((2, "--region")),
                "principals" => Some((3, "--principal")),
                _ => None,
            };
            let detail = match (flag, given) {
                (Some((i, flag)), Some(given)) if !given[i] => {
                    format!("{} (pass {flag} to check one)", f.detail)
                }
                _ => f.detail,
            };
            FailedCriterion {
                criterion: f.criterion.to_owned(),
                detail,
            }
        })
        .collect()
}

impl CheckArgs {
    /// The one rule the flags describe.
    fn rule(&self) -> anyhow::Result<(RuleChange, RuleContent)> {
        let Some(source) = &self.source else {
            bail!(
                "--source: give an EVENT_FILE, or describe a rule with --source and --protocol (see `sgguard allow check --help`)"
            );
        };
        let source = Source::parse(source).map_err(|e| anyhow!("--source: {e}"))?;
        let Some(protocol) = &self.protocol else {
            bail!("--protocol: required with --source (tcp, udp, icmp, icmpv6, all or a number)");
        };
        let protocol = Protocol::parse(protocol).ok_or_else(|| {
            anyhow!(
                "--protocol: `{protocol}` is not tcp, udp, icmp, icmpv6, all or a protocol number"
            )
        })?;
        let ports = match &self.ports {
            Some(text) => PortRange::parse(text).map_err(|e| anyhow!("--ports: {e}"))?,
            None => PortRange::ALL,
        };
        let (from_port, to_port) = match protocol {
            Protocol::Tcp | Protocol::Udp => {
                (Some(i32::from(ports.from)), Some(i32::from(ports.to)))
            }
            Protocol::Icmp | Protocol::Icmpv6 if ports.is_all() => (None, None),
            Protocol::Icmp | Protocol::Icmpv6 if ports.from == ports.to => {
                (Some(i32::from(ports.from)), None)
            }
            Protocol::Icmp | Protocol::Icmpv6 => {
                bail!("--ports: for ICMP give one type (e.g. 8) or `all`, not a range")
            }
            Protocol::All | Protocol::Number(_) if ports.is_all() => (None, None),
            Protocol::All | Protocol::Number(_) => {
                bail!("--ports: protocol {protocol} has no ports; leave --ports out")
            }
        };
        let direction = match self.direction.as_deref() {
            None | Some("ingress") => Direction::Ingress,
            Some("egress") => Direction::Egress,
            Some(other) => bail!("--direction: `{other}` is not `ingress` or `egress`"),
        };
        let content = RuleContent {
            protocol,
            from_port,
            to_port,
            source,
            description: None,
        };
        let change = RuleChange {
            rule_id: None,
            direction,
            kind: ChangeKind::Added,
            content: Some(content.clone()),
            note: None,
        };
        Ok((change, content))
    }
}

/// Judges what `args` describes against the allowlist it names; prints nothing.
pub async fn check_rules(args: &CheckArgs) -> anyhow::Result<CheckRun> {
    let (entries, judged_against) = match &args.allowlist {
        Some(file) => {
            let entries = file_allowlist(file)?.entries().await?;
            (entries, file.display().to_string())
        }
        None => {
            let stores: Stores = args.store.open().await?;
            let label = store_label(&args.store);
            let entries = stores
                .allowlist
                .entries()
                .await
                .with_context(|| format!("cannot read the allowlist from {label}"))?;
            (entries, label)
        }
    };
    let judged_against = format!("{judged_against} ({})", entries_word(entries.len()));
    let allowlist = Allowlist::new(entries);
    let now = Utc::now();
    let mut run = CheckRun {
        judged_against,
        ..CheckRun::default()
    };
    match &args.event {
        None => {
            let (change, content) = args.rule()?;
            let identity = match &args.principal {
                Some(arn) => Identity::from_arn(arn.trim()),
                None => Identity {
                    kind: "Unknown".into(),
                    actor: NOT_GIVEN.into(),
                    principal: NOT_GIVEN.into(),
                    invoked_by: None,
                },
            };
            let ctx = RuleContext {
                origin: None,
                event_id: None,
                event_name: None,
                group_id: args.group.as_deref(),
                account: args.account.as_deref().unwrap_or(NOT_GIVEN),
                region: args.rule_region.as_deref().unwrap_or(NOT_GIVEN),
                identity: &identity,
                given: Some([
                    args.group.is_some(),
                    args.account.is_some(),
                    args.rule_region.is_some(),
                    args.principal.is_some(),
                ]),
            };
            run.verdicts
                .push(judge(&change, &content, &ctx, &allowlist, now));
        }
        Some(path) => {
            let records =
                read_file(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            for input in records {
                let origin = input.origin;
                let record = match input.record {
                    Ok(delivery) => delivery.record,
                    Err(bad) => {
                        run.invalid.push(format!("{origin}: {}", bad.message));
                        continue;
                    }
                };
                match classify_record(&record) {
                    RecordClass::Unrelated { event_name } => {
                        let name = event_name.unwrap_or_else(|| "no eventName".into());
                        run.notes.push(format!(
                            "{origin}: skipped, not an EC2 security-group call ({name})"
                        ));
                        continue;
                    }
                    RecordClass::FailedCall {
                        event_name,
                        error_code,
                    } => {
                        run.notes.push(format!(
                            "{origin}: skipped, {event_name} failed with {error_code} and changed nothing"
                        ));
                        continue;
                    }
                    RecordClass::SecurityGroupCall { .. } => {}
                }
                let set = match normalize(&record) {
                    Ok(set) => set,
                    Err(err) => {
                        run.invalid.push(format!("{origin}: {err}"));
                        continue;
                    }
                };
                let ctx = RuleContext {
                    origin: Some(origin.clone()),
                    event_id: Some(&set.meta.event_id),
                    event_name: Some(&set.meta.event_name),
                    group_id: set.group_id.as_deref(),
                    account: &set.meta.account,
                    region: &set.meta.region,
                    identity: &set.meta.identity,
                    given: None,
                };
                let mut judged = 0;
                for change in &set.changes {
                    match change
                        .content
                        .as_ref()
                        .filter(|_| change.kind.opens_access())
                    {
                        Some(content) => {
                            judged += 1;
                            run.verdicts
                                .push(judge(change, content, &ctx, &allowlist, now));
                        }
                        None => {
                            let what = change
                                .rule_id
                                .clone()
                                .or_else(|| change.content.as_ref().map(describe_content))
                                .unwrap_or_else(|| "a rule".into());
                            run.notes.push(format!(
                                "{origin}: {} {} {what}: nothing to approve",
                                change.kind.as_str(),
                                change.direction
                            ));
                        }
                    }
                }
                if judged == 0 && set.changes.is_empty() {
                    run.notes.push(format!(
                        "{origin}: {} on {}: no rule added or widened",
                        set.meta.event_name,
                        set.group_label()
                    ));
                }
            }
        }
    }
    run.allowlist = allowlist;
    Ok(run)
}

fn describe_content(content: &RuleContent) -> String {
    let range = content.port_range();
    let ports = if range.is_all() {
        String::new()
    } else {
        format!(" {range}")
    };
    format!("{}{ports} {}", content.protocol, content.source)
}
