//! One module per command.

pub mod allow;
pub mod audit;
pub mod init;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod respond;

use clap::Args;
use sgguard_core::{Mode, Policy, RiskLevel};

/// The decision options shared by `replay` and `respond`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// `audit` records and reports what enforcement would do; `enforce` reverts.
    #[arg(long, default_value = "audit", env = "SGGUARD_MODE", value_parser = parse_mode)]
    pub mode: Mode,

    /// Unapproved rules at or above this risk are reverted (or reported `would_revert`):
    /// none, low, medium, high, critical.
    #[arg(long, default_value = "high", env = "SGGUARD_MIN_RISK", value_parser = parse_risk)]
    pub min_risk: RiskLevel,

    /// Also revert unapproved egress rules (by default egress is only flagged).
    #[arg(long, env = "SGGUARD_REVERT_EGRESS")]
    pub revert_egress: bool,

    /// An exact principal ARN that is the responder itself (a role ARN covers its sessions):
    /// its revokes, and its modifications that match a restore it recorded, are `own_action`
    /// and never acted on; anything else it does is judged like anyone's call. Wildcards are
    /// refused: they would let other principals pass for the responder. Repeatable.
    #[arg(
        long = "self-arn",
        value_name = "ARN",
        env = "SGGUARD_SELF_ARNS",
        value_delimiter = ',',
        value_parser = parse_self_arn
    )]
    pub self_arns: Vec<String>,
}

impl Default for PolicyArgs {
    fn default() -> Self {
        Self {
            mode: Mode::Audit,
            min_risk: RiskLevel::High,
            revert_egress: false,
            self_arns: Vec::new(),
        }
    }
}

impl PolicyArgs {
    pub fn policy(&self) -> Policy {
        Policy {
            mode: self.mode,
            min_risk: self.min_risk,
            revert_egress: self.revert_egress,
            self_arns: self
                .self_arns
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
            ..Policy::default()
        }
    }
}

fn parse_self_arn(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !s.starts_with("arn:") {
        return Err(format!("`{s}` is not an ARN"));
    }
    if s.contains(['*', '?']) {
        return Err(format!(
            "`{s}` has a wildcard; name each responder principal exactly (a role ARN covers its sessions)"
        ));
    }
    Ok(s.to_owned())
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

fn parse_risk(s: &str) -> Result<RiskLevel, String> {
    s.parse()
}
