//! Every `SGGUARD_*` setting, defined once: its variable, its default and its parser. The
//! Lambda reads them with [`Settings::from_env`]; the CLI gives the same constants and
//! parsers to clap (`env`, `default_value`, `value_parser`), so a value means the same in
//! both front ends, and a value one accepts the other accepts too.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sgguard_core::{Mode, Policy, RiskLevel};

use crate::error::Error;

/// One environment variable and its default, as written (empty: unset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub default: &'static str,
}

pub const MODE: Var = Var {
    name: "SGGUARD_MODE",
    default: "audit",
};
pub const MIN_RISK: Var = Var {
    name: "SGGUARD_MIN_RISK",
    default: "high",
};
pub const REVERT_EGRESS: Var = Var {
    name: "SGGUARD_REVERT_EGRESS",
    default: "false",
};
pub const SELF_ARNS: Var = Var {
    name: "SGGUARD_SELF_ARNS",
    default: "",
};
pub const MEMBER_ROLE_NAME: Var = Var {
    name: "SGGUARD_MEMBER_ROLE_NAME",
    default: "",
};
pub const HISTORY_GRACE_SECS: Var = Var {
    name: "SGGUARD_HISTORY_GRACE_SECS",
    default: "180",
};
pub const AUDIT_TABLE: Var = Var {
    name: "SGGUARD_AUDIT_TABLE",
    default: "sgguard-audit",
};
pub const ALLOWLIST_TABLE: Var = Var {
    name: "SGGUARD_ALLOWLIST_TABLE",
    default: "sgguard-allowlist",
};
pub const RETENTION_DAYS: Var = Var {
    name: "SGGUARD_RETENTION_DAYS",
    default: "0",
};
/// Only the Lambda caches the allowlist (a CLI run is one short process).
pub const ALLOWLIST_CACHE_SECS: Var = Var {
    name: "SGGUARD_ALLOWLIST_CACHE_SECS",
    default: "30",
};

/// The settings both front ends read, in the order `sgguard config` prints them.
pub const SHARED: &[Var] = &[
    MODE,
    MIN_RISK,
    REVERT_EGRESS,
    SELF_ARNS,
    MEMBER_ROLE_NAME,
    HISTORY_GRACE_SECS,
    AUDIT_TABLE,
    ALLOWLIST_TABLE,
    RETENTION_DAYS,
];

/// The longest history grace: a day. Longer would keep a retryable event failing past any
/// retry policy.
pub const MAX_HISTORY_GRACE_SECS: u64 = 86_400;

/// A yes/no setting: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`, in any case.
pub fn switch(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "`{value}` is not a yes/no value (true, false, yes, no, on, off, 1, 0)"
        )),
    }
}

/// An exact principal ARN that is the responder itself. Wildcards are refused: they would
/// let any principal that matches pass for the responder.
pub fn responder_arn(value: &str) -> Result<String, String> {
    let arn = value.trim();
    if !arn.starts_with("arn:") {
        return Err(format!("`{arn}` is not an ARN"));
    }
    if arn.contains(['*', '?']) {
        return Err(format!(
            "`{arn}` has a wildcard; name each responder principal exactly (a role ARN covers its sessions)"
        ));
    }
    Ok(arn.to_owned())
}

/// A comma-separated list of [`responder_arn`]s; empty items are skipped (a template may
/// join an empty list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponderArns(pub Vec<String>);

impl FromStr for ResponderArns {
    type Err = String;
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .filter(|arn| !arn.trim().is_empty())
            .map(responder_arn)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// The member role's name, if one is set: empty is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberRole(pub Option<String>);

impl FromStr for MemberRole {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "" => Ok(Self(None)),
            name => role_name(name).map(|name| Self(Some(name))),
        }
    }
}

/// An IAM role name, optionally behind a path (`path/name`).
pub fn role_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    };
    if name.len() <= 64 + 512 && name.split('/').all(valid) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` is not an IAM role name (letters, digits and +=,.@_- with an optional path)"
        ))
    }
}

/// The longest retention: a hundred years. Far more would overflow the expiry time.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// The longest allowlist cache: an hour. A change of the allowlist must take effect.
pub const MAX_CACHE_SECS: u64 = 3_600;

/// The allowlist cache: seconds, up to [`MAX_CACHE_SECS`].
pub fn cache_seconds(value: &str) -> Result<Duration, String> {
    seconds(value)
        .ok()
        .filter(|secs| secs.as_secs() <= MAX_CACHE_SECS)
        .ok_or_else(|| format!("`{value}` is not a number of seconds up to {MAX_CACHE_SECS}"))
}

/// A whole number of seconds.
pub fn seconds(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("`{value}` is not a number of seconds"))
}

/// The history grace: seconds, up to [`MAX_HISTORY_GRACE_SECS`].
pub fn history_grace(value: &str) -> Result<Duration, String> {
    seconds(value)
        .ok()
        .filter(|grace| grace.as_secs() <= MAX_HISTORY_GRACE_SECS)
        .ok_or_else(|| {
            format!("`{value}` is not a number of seconds up to {MAX_HISTORY_GRACE_SECS}")
        })
}

/// A table name as DynamoDB accepts it (3-255 of letters, digits, `_`, `-`, `.`).
pub fn table_name(value: &str) -> Result<String, String> {
    let name = value.trim();
    let valid = (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` is not a DynamoDB table name (3-255 letters, digits, _ - .)"
        ))
    }
}

/// How long audit items are kept. `0` keeps them forever: it must never mean "expire at the
/// event time", which would let TTL delete the audit trail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Retention {
    #[default]
    Forever,
    Days(u32),
}

impl Retention {
    pub fn days(self) -> Option<u32> {
        match self {
            Self::Forever => None,
            Self::Days(days) => Some(days),
        }
    }
}

impl FromStr for Retention {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().parse::<u32>() {
            Ok(0) => Ok(Self::Forever),
            Ok(days) if days <= MAX_RETENTION_DAYS => Ok(Self::Days(days)),
            _ => Err(format!(
                "`{value}` is not a number of days up to {MAX_RETENTION_DAYS} (0 keeps items forever)"
            )),
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.days().unwrap_or(0))
    }
}

/// The settings the Lambda and the CLI share. See docs/configuration.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub min_risk: RiskLevel,
    pub revert_egress: bool,
    pub self_arns: Vec<String>,
    /// The role of this name in each member account, for events of other accounts.
    pub member_role: Option<String>,
    /// How long a modification of a rule with no history waits for its creation's record.
    pub history_grace: Duration,
    pub audit_table: String,
    pub allowlist_table: String,
    pub retention: Retention,
}

impl Default for Settings {
    /// The defaults of [`SHARED`], typed (a test checks that the two agree).
    fn default() -> Self {
        Self {
            mode: Mode::Audit,
            min_risk: RiskLevel::High,
            revert_egress: false,
            self_arns: Vec::new(),
            member_role: None,
            history_grace: crate::DEFAULT_HISTORY_GRACE,
            audit_table: AUDIT_TABLE.default.to_owned(),
            allowlist_table: ALLOWLIST_TABLE.default.to_owned(),
            retention: Retention::Forever,
        }
    }
}

impl Settings {
    /// Reads every shared setting through `var` (the process environment in the Lambda).
    /// Empty values count as unset; a bad value is an error that names its variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Ok(Self {
            mode: read(MODE, &var, Mode::from_str)?,
            min_risk: read(MIN_RISK, &var, RiskLevel::from_str)?,
            revert_egress: read(REVERT_EGRESS, &var, switch)?,
            self_arns: read(SELF_ARNS, &var, ResponderArns::from_str)?.0,
            member_role: read(MEMBER_ROLE_NAME, &var, MemberRole::from_str)?.0,
            history_grace: read(HISTORY_GRACE_SECS, &var, history_grace)?,
            audit_table: read(AUDIT_TABLE, &var, table_name)?,
            allowlist_table: read(ALLOWLIST_TABLE, &var, table_name)?,
            retention: read(RETENTION_DAYS, &var, Retention::from_str)?,
        })
    }

    /// The decision policy these settings describe.
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

    /// Each setting in its canonical form, as an environment file would set it; unset
    /// optional settings are empty. `sgguard config` prints this.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (MODE.name, self.mode.to_string()),
            (MIN_RISK.name, self.min_risk.to_string()),
            (REVERT_EGRESS.name, self.revert_egress.to_string()),
            (SELF_ARNS.name, self.self_arns.join(",")),
            (
                MEMBER_ROLE_NAME.name,
                self.member_role.clone().unwrap_or_default(),
            ),
            (
                HISTORY_GRACE_SECS.name,
                self.history_grace.as_secs().to_string(),
            ),
            (AUDIT_TABLE.name, self.audit_table.clone()),
            (ALLOWLIST_TABLE.name, self.allowlist_table.clone()),
            (RETENTION_DAYS.name, self.retention.to_string()),
        ]
    }
}

/// A setting's parser as both front ends run it: the value trimmed, and empty read as the
/// default (an unset variable is empty). Clap gets this as the `value_parser`, so a value
/// set in the environment is parsed by the very function the Lambda runs.
pub fn parser<T: 'static>(
    var: Var,
    parse: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |value: &str| match value.trim() {
        "" => parse(var.default),
        value => parse(value),
    }
}

/// Reads one setting through `lookup` (the process environment in the Lambda); a bad value
/// is an error that names the variable.
pub fn read<T: 'static>(
    var: Var,
    lookup: impl Fn(&str) -> Option<String>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, Error> {
    let value = lookup(var.name).unwrap_or_default();
    parser(var, parse)(&value).map_err(|message| Error::Setting {
        name: var.name,
        message,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_safe_and_each_default_is_a_valid_value() {
        let s = settings(&[]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.mode, Mode::Audit);
        assert_eq!(s.min_risk, RiskLevel::High);
        assert!(!s.revert_egress);
        assert!(s.self_arns.is_empty());
        assert_eq!(s.member_role, None);
        assert_eq!(s.history_grace, Duration::from_secs(180));
        assert_eq!(s.audit_table, "sgguard-audit");
        assert_eq!(s.allowlist_table, "sgguard-allowlist");
        assert_eq!(s.retention, Retention::Forever);
        // The same defaults as the library's own.
        assert_eq!(s.history_grace, crate::DEFAULT_HISTORY_GRACE);
        let policy = Policy::default();
        assert_eq!((s.mode, s.min_risk), (policy.mode, policy.min_risk));
        assert_eq!(s.revert_egress, policy.revert_egress);
        // The canonical form of the defaults is the defaults as written.
        for (name, value) in s.to_env() {
            let var = SHARED.iter().find(|v| v.name == name).unwrap();
            assert_eq!(value, var.default, "{name}");
        }
    }

    #[test]
    fn canonical_form_reads_back_to_the_same_settings() {
        let s = settings(&[
            ("SGGUARD_MODE", "enforce"),
            ("SGGUARD_MIN_RISK", "medium"),
            ("SGGUARD_REVERT_EGRESS", "ON"),
            (
                "SGGUARD_SELF_ARNS",
                " arn:aws:iam::1:role/a, ,arn:aws:iam::1:role/b ",
            ),
            ("SGGUARD_MEMBER_ROLE_NAME", "ops/sgguard-member"),
            ("SGGUARD_HISTORY_GRACE_SECS", "0"),
            ("SGGUARD_RETENTION_DAYS", "400"),
        ])
        .unwrap();
        assert!(s.revert_egress);
        assert_eq!(
            s.self_arns,
            ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]
        );
        assert_eq!(s.retention.days(), Some(400));
        let env = s.to_env();
        let again =
            Settings::from_env(|name| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
                .unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn every_yes_and_no_spelling_is_accepted() {
        for yes in ["1", "true", "yes", "on", "TRUE", " Yes "] {
            assert_eq!(switch(yes), Ok(true), "{yes}");
        }
        for no in ["0", "false", "no", "off", "Off"] {
            assert_eq!(switch(no), Ok(false), "{no}");
        }
        assert!(switch("maybe").unwrap_err().contains("maybe"));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        for (name, value) in [
            ("SGGUARD_MODE", "enforcing"),
            ("SGGUARD_MIN_RISK", "severe"),
            ("SGGUARD_REVERT_EGRESS", "maybe"),
            ("SGGUARD_SELF_ARNS", "responder"),
            ("SGGUARD_SELF_ARNS", "arn:*:iam::*:role/sgguard-member"),
            ("SGGUARD_MEMBER_ROLE_NAME", "arn:aws:iam::1:role/x"),
            ("SGGUARD_MEMBER_ROLE_NAME", "two words"),
            ("SGGUARD_HISTORY_GRACE_SECS", "soon"),
            ("SGGUARD_HISTORY_GRACE_SECS", "99999999"),
            ("SGGUARD_AUDIT_TABLE", "a b"),
            ("SGGUARD_ALLOWLIST_TABLE", "x"),
            ("SGGUARD_RETENTION_DAYS", "-1"),
            ("SGGUARD_RETENTION_DAYS", "4294967295"),
            ("SGGUARD_RETENTION_DAYS", "36501"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            let Error::Setting { name: named, .. } = &err else {
                panic!("{err}");
            };
            assert_eq!(*named, name);
            assert!(err.to_string().contains(value.trim()), "{err}");
        }
    }

    #[test]
    fn read_applies_the_default_and_names_the_variable() {
        let none = |_: &str| None::<String>;
        assert_eq!(
            read(ALLOWLIST_CACHE_SECS, none, cache_seconds).unwrap(),
            Duration::from_secs(30)
        );
        let too_long = read(
            ALLOWLIST_CACHE_SECS,
            |_: &str| Some("86400".into()),
            cache_seconds,
        );
        assert!(too_long.unwrap_err().to_string().contains("up to 3600"));
        let err = read(ALLOWLIST_CACHE_SECS, |_: &str| Some("soon".into()), seconds).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable `SGGUARD_ALLOWLIST_CACHE_SECS`: `soon` is not a number of seconds"
        );
    }
}
