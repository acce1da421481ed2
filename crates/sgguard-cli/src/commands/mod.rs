//! One module per command.

pub mod allow;
pub mod audit;
pub mod config;
pub mod init;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod respond;

use std::str::FromStr;
use std::time::Duration;

use clap::{ArgAction, Args};
use sgguard_core::{Mode, RiskLevel};
use sgguard_responder::Settings;
use sgguard_responder::settings::{self, MemberRole, ResponderArns};

use crate::store::StoreArgs;

/// The decision options shared by `replay`, `respond` and `config`. Each reads the Lambda's
/// variable, with the Lambda's default and parser ([`sgguard_responder::settings`]).
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// `audit` records and reports what enforcement would do; `enforce` reverts.
    #[arg(
        long,
        env = settings::MODE.name,
        default_value = settings::MODE.default,
        value_parser = settings::parser(settings::MODE, Mode::from_str)
    )]
    pub mode: Mode,

    /// Unapproved rules at or above this risk are reverted (or reported `would_revert`):
    /// none, low, medium, high, critical.
    #[arg(
        long,
        env = settings::MIN_RISK.name,
        default_value = settings::MIN_RISK.default,
        value_parser = settings::parser(settings::MIN_RISK, RiskLevel::from_str)
    )]
    pub min_risk: RiskLevel,

    /// Also revert unapproved egress rules (by default egress is only flagged). From the
    /// environment: true/false, yes/no, on/off, 1/0.
    #[arg(
        long,
        env = settings::REVERT_EGRESS.name,
        action = ArgAction::SetTrue,
        value_parser = settings::parser(settings::REVERT_EGRESS, settings::switch)
    )]
    pub revert_egress: bool,

    /// An exact principal ARN that is the responder itself (a role ARN covers its sessions):
    /// its revokes, and its modifications that match a restore it recorded, are `own_action`
    /// and never acted on; anything else it does is judged like anyone's call. Wildcards are
    /// refused: they would let other principals pass for the responder. Repeatable, or
    /// comma-separated.
    #[arg(
        long = "self-arn",
        value_name = "ARN",
        env = settings::SELF_ARNS.name,
        action = ArgAction::Append,
        value_parser = settings::parser(settings::SELF_ARNS, ResponderArns::from_str)
    )]
    pub self_arns: Vec<ResponderArns>,

    /// The role of this name in each member account (infra/member-role.yaml): `respond` acts
    /// on events of other accounts through it, and its sessions count as the responder
    /// itself. Without it, the revert of an event from another account than the
    /// credentials' fails and is recorded as `revert_failed`, never tried in the wrong
    /// account.
    #[arg(
        long,
        value_name = "ROLE_NAME",
        env = settings::MEMBER_ROLE_NAME.name,
        default_value = settings::MEMBER_ROLE_NAME.default,
        hide_default_value = true,
        value_parser = settings::parser(settings::MEMBER_ROLE_NAME, MemberRole::from_str)
    )]
    pub member_role: MemberRole,
}

/// When a modification of a rule with no recorded history may be judged (`respond`).
#[derive(Debug, Clone, Args)]
pub struct GraceArgs {
    /// Under enforce, a modification of a rule with no recorded history waits this long after
    /// its event (failing retryably) for the record of the rule's creation. Up to 86400.
    #[arg(
        long = "history-grace-secs",
        value_name = "SECS",
        env = settings::HISTORY_GRACE_SECS.name,
        default_value = settings::HISTORY_GRACE_SECS.default,
        value_parser = settings::parser(settings::HISTORY_GRACE_SECS, settings::history_grace)
    )]
    pub history_grace: Duration,
}

impl Default for PolicyArgs {
    fn default() -> Self {
        let defaults = Settings::default();
        Self {
            mode: defaults.mode,
            min_risk: defaults.min_risk,
            revert_egress: defaults.revert_egress,
            self_arns: Vec::new(),
            member_role: MemberRole::default(),
        }
    }
}

impl Default for GraceArgs {
    fn default() -> Self {
        Self {
            history_grace: Settings::default().history_grace,
        }
    }
}

/// The settings a command's flags and environment describe, as the Lambda would read them.
pub fn settings(store: &StoreArgs, policy: &PolicyArgs, grace: &GraceArgs) -> Settings {
    Settings {
        mode: policy.mode,
        min_risk: policy.min_risk,
        revert_egress: policy.revert_egress,
        self_arns: policy
            .self_arns
            .iter()
            .flat_map(|list| list.0.iter().cloned())
            .collect(),
        member_role: policy.member_role.0.clone(),
        history_grace: grace.history_grace,
        audit_table: store.audit_table.clone(),
        allowlist_table: store.allowlist_table.clone(),
        retention: store.retention_days,
    }
}
