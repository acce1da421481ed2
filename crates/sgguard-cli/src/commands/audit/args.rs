//! The arguments of `audit` (list filters) and of its `show` and `rule` subcommands, and
//! the parsing of `--since` and `--until`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use sgguard_core::time::parse_time_or_duration;
use sgguard_core::{Outcome, RiskLevel};
use sgguard_responder::AuditFilter;

use crate::store::StoreArgs;

use super::{AuditFormat, AuditKind};

/// The filters and output of the list. `--region` filters events; the region of the
/// DynamoDB tables is `--aws-region` (or `AWS_REGION`).
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Events of this security group (its id, or its name when the call named only the name).
    #[arg(long, value_name = "SG")]
    pub group: Option<String>,

    /// Events by this caller: an exact ARN (a role ARN also matches its sessions) or a glob.
    #[arg(long, value_name = "ARN|GLOB")]
    pub actor: Option<String>,

    /// Events that changed this rule.
    #[arg(long, value_name = "SGR")]
    pub rule: Option<String>,

    /// The event with this CloudTrail eventID.
    #[arg(long, value_name = "ID")]
    pub event_id: Option<String>,

    /// Events with this outcome; repeat for any of several.
    #[arg(long, value_name = "OUTCOME", value_parser = outcome_parser())]
    pub outcome: Vec<Outcome>,

    /// Events with a change at or above this risk.
    #[arg(long, value_name = "LEVEL", value_parser = risk_parser())]
    pub min_risk: Option<RiskLevel>,

    /// Events in this AWS account.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,

    /// Events in this AWS region (the region of the DynamoDB tables is --aws-region).
    #[arg(id = "event_region", long = "region", value_name = "REGION")]
    pub region: Option<String>,

    /// Events at or after this time: RFC 3339, a date, or a duration back from now (7d, 12h).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,

    /// Events at or before this time: RFC 3339, a date (its end), or a duration back from now.
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<DateTime<Utc>>,

    /// At most this many results, newest first; 0 for all.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,

    /// `events`, or `allowlist` for the changes to the allowlist.
    #[arg(long, value_enum, default_value_t = AuditKind::Events)]
    pub kind: AuditKind,

    /// `table` (default on a terminal), `json` (default when piped) or `csv`.
    #[arg(long, value_enum)]
    pub format: Option<AuditFormat>,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl Default for ListArgs {
    fn default() -> Self {
        Self {
            group: None,
            actor: None,
            rule: None,
            event_id: None,
            outcome: Vec::new(),
            min_risk: None,
            account: None,
            region: None,
            since: None,
            until: None,
            limit: 50,
            kind: AuditKind::Events,
            format: None,
            store: StoreArgs::default(),
        }
    }
}

impl ListArgs {
    /// The store query these flags describe.
    pub fn filter(&self) -> AuditFilter {
        AuditFilter {
            group_id: self.group.clone(),
            actor: self.actor.clone(),
            rule_id: self.rule.clone(),
            event_id: self.event_id.clone(),
            outcomes: self.outcome.clone(),
            min_risk: self.min_risk,
            account: self.account.clone(),
            region: self.region.clone(),
            since: self.since,
            until: self.until,
            limit: (self.limit > 0).then_some(self.limit),
        }
    }

    /// The filters given (store, format and the defaults of --limit and --kind aside).
    pub(super) fn filter_flags(&self) -> Vec<&'static str> {
        let mut flags = self.event_only_flags();
        for (flag, given) in [
            ("--actor", self.actor.is_some()),
            ("--since", self.since.is_some()),
            ("--until", self.until.is_some()),
            ("--limit", self.limit != 50),
            ("--kind", self.kind != AuditKind::Events),
        ] {
            if given {
                flags.push(flag);
            }
        }
        flags
    }

    /// The flags that describe events, which `--kind allowlist` cannot honour.
    pub(super) fn event_only_flags(&self) -> Vec<&'static str> {
        [
            ("--group", self.group.is_some()),
            ("--rule", self.rule.is_some()),
            ("--event-id", self.event_id.is_some()),
            ("--outcome", !self.outcome.is_empty()),
            ("--min-risk", self.min_risk.is_some()),
            ("--account", self.account.is_some()),
            ("--region", self.region.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// `sgguard audit show EVENT_ID`. The store and format flags are the list's (global to `audit`).
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The CloudTrail eventID.
    #[arg(value_name = "EVENT_ID")]
    pub event_id: String,

    /// `table` (default on a terminal), `json` (default when piped) or `csv` (the changes).
    #[arg(skip)]
    pub format: Option<AuditFormat>,

    #[arg(skip)]
    pub store: StoreArgs,
}

/// `sgguard audit rule SGR`. The store and format flags are the list's (global to `audit`).
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// The security-group rule id (`sgr-…`).
    #[arg(value_name = "SGR")]
    pub rule_id: String,

    /// `table` (default on a terminal), `json` (default when piped) or `csv`.
    #[arg(skip)]
    pub format: Option<AuditFormat>,

    #[arg(skip)]
    pub store: StoreArgs,
}

fn outcome_parser() -> impl TypedValueParser<Value = Outcome> {
    PossibleValuesParser::new(Outcome::ALL.map(Outcome::as_str)).try_map(|s| s.parse::<Outcome>())
}

fn risk_parser() -> impl TypedValueParser<Value = RiskLevel> {
    PossibleValuesParser::new(RiskLevel::ALL.map(RiskLevel::as_str))
        .try_map(|s| s.parse::<RiskLevel>())
}

fn bad_time(text: &str) -> String {
    format!(
        "`{text}` is not a time: use RFC 3339 (2026-11-20T09:00:00Z), a date (2026-11-20) or a duration back from now (7d, 12h, 30m)"
    )
}

/// `--since`: a time, a date (its start) or a duration back from now.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time_or_duration(text, Utc::now(), true).ok_or_else(|| bad_time(text))
}

/// `--until`: a time, a date (its end, so `--until 2026-11-20` includes that day) or a
/// duration back from now.
pub fn parse_until(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let end = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
        return Ok(day.and_time(end).and_utc());
    }
    parse_since(text)
}
