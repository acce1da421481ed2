//! Configuration from the environment, parsed once at init into a typed struct. A bad
//! value fails the init with an error that names the variable.

use std::time::Duration;

use aws_config::SdkConfig;
use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, Ec2Remediator};
use sgguard_core::{Mode, Policy, RiskLevel};
use sgguard_responder::{CachedAllowlist, Responder};

/// Every environment variable the Lambda reads. `infra/template.yaml` sets exactly these
/// (a test in `tests/infra_template.rs` fails when the two drift).
pub const ENV_VARS: &[&str] = &[
    "SGGUARD_AUDIT_TABLE",
    "SGGUARD_ALLOWLIST_TABLE",
    "SGGUARD_MODE",
    "SGGUARD_MIN_RISK",
    "SGGUARD_REVERT_EGRESS",
    "SGGUARD_ALLOWLIST_CACHE_SECS",
    "SGGUARD_RETENTION_DAYS",
    "SGGUARD_SELF_ARNS",
    "SGGUARD_MEMBER_ROLE_NAME",
    "SGGUARD_HISTORY_GRACE_SECS",
];

/// The Lambda's settings. See README "Configuration" for each variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub audit_table: String,
    pub allowlist_table: String,
    pub mode: Mode,
    pub min_risk: RiskLevel,
    pub self_arns: Vec<String>,
    pub allowlist_cache: Duration,
    pub revert_egress: bool,
    pub retention_days: Option<u32>,
    /// The role of this name in each member account, for events of other accounts.
    pub member_role: Option<String>,
    /// How long a modification of a rule with no history waits for its creation's record.
    pub history_grace: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable `{name}`: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

/// The responder the Lambda runs: DynamoDB stores, a cached allowlist, EC2 remediation.
pub type LambdaResponder =
    Responder<DynamoAuditLog, CachedAllowlist<DynamoAllowlist>, Ec2Remediator>;

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let parse = |name: &'static str, default: &str| -> (String, &'static str) {
            (get(name).unwrap_or_else(|| default.to_owned()), name)
        };
        let fail = |name: &'static str, message: String| ConfigError { name, message };

        let (mode, name) = parse("SGGUARD_MODE", "audit");
        let mode = mode.parse::<Mode>().map_err(|m| fail(name, m))?;
        let (min_risk, name) = parse("SGGUARD_MIN_RISK", "high");
        let min_risk = min_risk.parse::<RiskLevel>().map_err(|m| fail(name, m))?;
        let (secs, name) = parse("SGGUARD_ALLOWLIST_CACHE_SECS", "30");
        let secs = secs
            .parse::<u64>()
            .map_err(|_| fail(name, format!("`{secs}` is not a number of seconds")))?;
        let (egress, name) = parse("SGGUARD_REVERT_EGRESS", "false");
        let revert_egress = match egress.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(fail(name, format!("`{egress}` is not true or false"))),
        };
        // 0 keeps items forever, like the template's RetentionDays: it must never mean
        // "expire at the event time", which would let TTL delete the audit trail.
        let retention_days = match get("SGGUARD_RETENTION_DAYS") {
            None => None,
            Some(days) => Some(days.parse::<u32>().map_err(|_| {
                fail(
                    "SGGUARD_RETENTION_DAYS",
                    format!("`{days}` is not a number of days"),
                )
            })?)
            .filter(|days| *days > 0),
        };
        let self_arns: Vec<String> = get("SGGUARD_SELF_ARNS")
            .map(|v| {
                v.split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = self_arns.iter().find(|a| !a.starts_with("arn:")) {
            return Err(fail("SGGUARD_SELF_ARNS", format!("`{bad}` is not an ARN")));
        }
        // A wildcard would let any principal that matches it pass for the responder.
        if let Some(bad) = self_arns.iter().find(|a| a.contains(['*', '?'])) {
            return Err(fail(
                "SGGUARD_SELF_ARNS",
                format!(
                    "`{bad}` has a wildcard; name each responder principal exactly (a role ARN covers its sessions)"
                ),
            ));
        }
        let (grace, name) = parse("SGGUARD_HISTORY_GRACE_SECS", "180");
        let grace = grace
            .parse::<u64>()
            .ok()
            .filter(|secs| *secs <= 86_400)
            .ok_or_else(|| {
                fail(
                    name,
                    format!("`{grace}` is not a number of seconds up to 86400"),
                )
            })?;
        let member_role = get("SGGUARD_MEMBER_ROLE_NAME");
        if let Some(role) = member_role.as_ref().filter(|role| !is_role_name(role)) {
            return Err(fail(
                "SGGUARD_MEMBER_ROLE_NAME",
                format!(
                    "`{role}` is not an IAM role name (letters, digits and +=,.@_- with an optional path)"
                ),
            ));
        }
        Ok(Self {
            audit_table: parse("SGGUARD_AUDIT_TABLE", "sgguard-audit").0,
            allowlist_table: parse("SGGUARD_ALLOWLIST_TABLE", "sgguard-allowlist").0,
            mode,
            min_risk,
            self_arns,
            allowlist_cache: Duration::from_secs(secs),
            revert_egress,
            retention_days,
            member_role,
            history_grace: Duration::from_secs(grace),
        })
    }

    pub fn policy(&self) -> Policy {
        Policy {
            mode: self.mode,
            min_risk: self.min_risk,
            revert_egress: self.revert_egress,
            self_arns: self.self_arns.clone(),
            member_role: self.member_role.clone(),
            ..Policy::default()
        }
    }

    /// Builds the responder; no network call is made here.
    pub fn responder(&self, sdk: &SdkConfig) -> LambdaResponder {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Responder::new(
            DynamoAuditLog::new(dynamo.clone(), &self.audit_table)
                .with_retention_days(self.retention_days),
            CachedAllowlist::new(
                DynamoAllowlist::new(dynamo, &self.allowlist_table, &self.audit_table),
                self.allowlist_cache,
            ),
            Ec2Remediator::new(sdk.clone()).with_member_role(self.member_role.clone()),
            self.policy(),
        )
        .with_history_grace(self.history_grace)
    }
}

/// Explicit limits for every AWS request the function sends. The SDK sets no read or
/// operation timeout by default, so one hung connection could use up the whole invocation;
/// with these a request fails within seconds and is retried by the SDK, and a revert's
/// handful of requests fits the function's 60 s timeout (`infra/template.yaml`). An event
/// cut short anyway stays `pending` and the asynchronous retry resumes it.
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// An IAM role name, optionally behind a path (`path/name`).
fn is_role_name(name: &str) -> bool {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    };
    name.len() <= 64 + 512 && name.split('/').all(valid)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = config(&[]).unwrap();
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.min_risk, RiskLevel::High);
        assert_eq!(c.audit_table, "sgguard-audit");
        assert_eq!(c.allowlist_table, "sgguard-allowlist");
        assert_eq!(c.allowlist_cache, Duration::from_secs(30));
        assert!(!c.revert_egress);
        assert!(c.self_arns.is_empty());
        assert_eq!(c.member_role, None);
        assert_eq!(c.history_grace, Duration::from_secs(180));
    }

    #[test]
    fn env_vars_lists_every_variable_read() {
        let read = std::sync::Mutex::new(Vec::new());
        Config::from_env(|name| {
            read.lock().unwrap().push(name.to_owned());
            None
        })
        .unwrap();
        let mut read = read.into_inner().unwrap();
        read.sort();
        read.dedup();
        let mut declared: Vec<String> = ENV_VARS.iter().map(|v| (*v).to_owned()).collect();
        declared.sort();
        assert_eq!(read, declared);
    }

    #[test]
    fn the_member_role_is_a_responder_only_in_the_events_account_and_session() {
        let c = config(&[
            (
                "SGGUARD_SELF_ARNS",
                "arn:aws:iam::111122223333:role/sgguard",
            ),
            ("SGGUARD_MEMBER_ROLE_NAME", "sgguard-member"),
        ])
        .unwrap();
        assert_eq!(c.member_role.as_deref(), Some("sgguard-member"));
        assert_eq!(c.self_arns, vec!["arn:aws:iam::111122223333:role/sgguard"]);
        let policy = c.policy();
        let responders = policy.responders();
        let ours = sgguard_core::Identity::from_arn(
            "arn:aws:sts::222233334444:assumed-role/sgguard-member/sgguard",
        );
        assert!(responders.principal_of(&ours, "222233334444").is_some());
        assert!(
            responders.principal_of(&ours, "999988887777").is_none(),
            "the same role in another account's event is not the responder"
        );
        let other_session = sgguard_core::Identity::from_arn(
            "arn:aws:sts::222233334444:assumed-role/sgguard-member/mallory",
        );
        assert!(
            responders
                .principal_of(&other_session, "222233334444")
                .is_none()
        );
    }

    #[test]
    fn values_are_parsed() {
        let c = config(&[
            ("SGGUARD_MODE", "enforce"),
            ("SGGUARD_MIN_RISK", "medium"),
            (
                "SGGUARD_SELF_ARNS",
                "arn:aws:iam::1:role/a, arn:aws:iam::1:role/b",
            ),
            ("SGGUARD_REVERT_EGRESS", "true"),
            ("SGGUARD_ALLOWLIST_CACHE_SECS", "5"),
            ("SGGUARD_RETENTION_DAYS", "400"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.min_risk, RiskLevel::Medium);
        assert_eq!(
            c.self_arns,
            vec!["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]
        );
        assert!(c.revert_egress);
        assert_eq!(c.retention_days, Some(400));
        let forever = config(&[("SGGUARD_RETENTION_DAYS", "0")]).unwrap();
        assert_eq!(forever.retention_days, None, "0 keeps items forever");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("SGGUARD_MODE", "enforcing"),
            ("SGGUARD_MIN_RISK", "severe"),
            ("SGGUARD_ALLOWLIST_CACHE_SECS", "soon"),
            ("SGGUARD_REVERT_EGRESS", "maybe"),
            ("SGGUARD_SELF_ARNS", "responder"),
            ("SGGUARD_MEMBER_ROLE_NAME", "arn:aws:iam::1:role/x"),
            ("SGGUARD_MEMBER_ROLE_NAME", "two words"),
            ("SGGUARD_SELF_ARNS", "arn:*:iam::*:role/sgguard-member"),
            ("SGGUARD_HISTORY_GRACE_SECS", "soon"),
            ("SGGUARD_HISTORY_GRACE_SECS", "99999999"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(value), "{err}");
        }
    }
}
