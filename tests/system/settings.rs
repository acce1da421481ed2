//! One configuration for both front ends: the same environment, given to the Lambda's
//! `Config::from_env` and to the `sgguard` binary (`sgguard config`), means the same
//! settings, and a value one refuses the other refuses.

use std::collections::BTreeMap;

use serde_json::Value;
use sgguard_responder::settings;

use crate::support::built;

/// The settings the CLI reads from `env` (and nothing else of the environment).
fn cli(env: &[(&str, &str)]) -> Result<BTreeMap<String, String>, String> {
    let mut command = std::process::Command::new(built("sgguard"));
    command.args(["config", "--format", "json"]);
    for var in std::env::vars().map(|(name, _)| name) {
        if var.starts_with("SGGUARD_") {
            command.env_remove(var);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    if !output.status.success() {
        assert_eq!(
            output.status.code(),
            Some(2),
            "a bad value is a usage error"
        );
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let parsed: BTreeMap<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    Ok(parsed
        .into_iter()
        .map(|(name, value)| (name, value.as_str().unwrap().to_owned()))
        .collect())
}

/// The settings the Lambda reads from `env`.
fn lambda(env: &[(&str, &str)]) -> Result<BTreeMap<String, String>, String> {
    let env: BTreeMap<&str, &str> = env.iter().copied().collect();
    sgguard_lambda::Config::from_env(|name| env.get(name).map(|v| (*v).to_owned()))
        .map(|config| {
            config
                .settings
                .to_env()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect()
        })
        .map_err(|err| err.to_string())
}

#[test]
fn the_same_environment_means_the_same_settings_to_the_lambda_and_the_cli() {
    let environments: &[&[(&str, &str)]] = &[
        &[],
        // Spellings the CLI once refused and the Lambda accepted.
        &[("SGGUARD_REVERT_EGRESS", "yes")],
        &[("SGGUARD_REVERT_EGRESS", "on")],
        &[("SGGUARD_REVERT_EGRESS", "1")],
        &[("SGGUARD_REVERT_EGRESS", "OFF")],
        // Empty values are unset, as a template writes them.
        &[
            ("SGGUARD_MODE", ""),
            ("SGGUARD_MEMBER_ROLE_NAME", ""),
            ("SGGUARD_SELF_ARNS", ""),
        ],
        // A joined list with spaces and an empty item.
        &[(
            "SGGUARD_SELF_ARNS",
            "arn:aws:iam::111122223333:role/sgguard, ,arn:aws:iam::111122223333:role/ops,",
        )],
        &[
            ("SGGUARD_MODE", " enforce "),
            ("SGGUARD_MIN_RISK", "medium"),
            ("SGGUARD_MEMBER_ROLE_NAME", "security/sgguard-member"),
            ("SGGUARD_HISTORY_GRACE_SECS", "600"),
            ("SGGUARD_AUDIT_TABLE", "prod-audit"),
            ("SGGUARD_ALLOWLIST_TABLE", "prod-allowlist"),
            ("SGGUARD_RETENTION_DAYS", "400"),
        ],
        &[("SGGUARD_RETENTION_DAYS", "0")],
    ];
    for env in environments {
        let from_lambda = lambda(env).unwrap();
        assert_eq!(cli(env).unwrap(), from_lambda, "{env:?}");
        let names: Vec<&str> = from_lambda.keys().map(String::as_str).collect();
        let mut shared: Vec<&str> = settings::SHARED.iter().map(|var| var.name).collect();
        shared.sort_unstable();
        assert_eq!(names, shared, "every shared setting is compared");
    }
}

#[test]
fn a_value_one_front_end_refuses_the_other_refuses() {
    for (name, value) in [
        ("SGGUARD_MODE", "enforcing"),
        ("SGGUARD_MIN_RISK", "severe"),
        ("SGGUARD_REVERT_EGRESS", "maybe"),
        ("SGGUARD_SELF_ARNS", "arn:aws:iam::*:role/sgguard"),
        ("SGGUARD_SELF_ARNS", "sgguard"),
        ("SGGUARD_MEMBER_ROLE_NAME", "arn:aws:iam::1:role/x"),
        ("SGGUARD_HISTORY_GRACE_SECS", "99999999"),
        ("SGGUARD_AUDIT_TABLE", "a b"),
        ("SGGUARD_RETENTION_DAYS", "-1"),
    ] {
        let env = [(name, value)];
        let from_lambda = lambda(&env).unwrap_err();
        assert!(
            from_lambda.contains(name) && from_lambda.contains(value),
            "{from_lambda}"
        );
        let from_cli = cli(&env).unwrap_err();
        assert!(from_cli.contains(value), "{from_cli}");
    }
}
