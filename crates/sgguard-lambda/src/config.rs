//! Configuration from the environment, parsed once at init by the settings the CLI shares
//! ([`sgguard_responder::settings`]). A bad value fails the init with an error that names
//! the variable.

use std::time::Duration;

use aws_config::SdkConfig;
use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, Ec2Remediator};
use sgguard_responder::settings::{self, ALLOWLIST_CACHE_SECS, Settings};
use sgguard_responder::{CachedAllowlist, Responder};

/// Every environment variable the Lambda reads. `infra/template.yaml` sets exactly these
/// (a system test fails when the two drift).
pub fn env_vars() -> Vec<&'static str> {
    settings::SHARED
        .iter()
        .chain([&ALLOWLIST_CACHE_SECS])
        .map(|var| var.name)
        .collect()
}

/// The Lambda's settings: the shared ones, and how long it caches the allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub settings: Settings,
    pub allowlist_cache: Duration,
}

/// The responder the Lambda runs: DynamoDB stores, a cached allowlist, EC2 remediation.
pub type LambdaResponder =
    Responder<DynamoAuditLog, CachedAllowlist<DynamoAllowlist>, Ec2Remediator>;

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, sgguard_responder::Error> {
        Ok(Self {
            settings: Settings::from_env(&var)?,
            allowlist_cache: settings::read(ALLOWLIST_CACHE_SECS, &var, settings::cache_seconds)?,
        })
    }

    /// Builds the responder; no network call is made here.
    pub fn responder(&self, sdk: &SdkConfig) -> LambdaResponder {
        let settings = &self.settings;
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        Responder::new(
            DynamoAuditLog::new(dynamo.clone(), &settings.audit_table)
                .with_retention_days(settings.retention.days()),
            CachedAllowlist::new(
                DynamoAllowlist::new(dynamo, &settings.allowlist_table, &settings.audit_table),
                self.allowlist_cache,
            ),
            Ec2Remediator::new(sdk.clone()).with_member_role(settings.member_role.clone()),
            settings.policy(),
        )
        .with_history_grace(settings.history_grace)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use sgguard_core::{Mode, RiskLevel};

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, sgguard_responder::Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe() {
        let c = config(&[]).unwrap();
        assert_eq!(c.settings.mode, Mode::Audit);
        assert_eq!(c.settings.min_risk, RiskLevel::High);
        assert_eq!(c.allowlist_cache, Duration::from_secs(30));
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
        let mut declared: Vec<String> = env_vars().iter().map(|v| (*v).to_owned()).collect();
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
        let policy = c.settings.policy();
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
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("SGGUARD_MODE", "enforcing"),
            ("SGGUARD_ALLOWLIST_CACHE_SECS", "soon"),
            ("SGGUARD_SELF_ARNS", "arn:*:iam::*:role/sgguard-member"),
        ] {
            let err = config(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }
}
