//! `--store`: where the audit log and allowlist live.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// `sqlite:PATH` (the default, `sqlite:sgguard.db`) or `dynamodb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Sqlite(PathBuf),
    DynamoDb,
}

impl Default for StoreSpec {
    fn default() -> Self {
        Self::Sqlite(PathBuf::from("sgguard.db"))
    }
}

impl FromStr for StoreSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dynamodb" => Ok(Self::DynamoDb),
            "sqlite" => Ok(Self::default()),
            _ => match s.strip_prefix("sqlite:") {
                Some(path) if !path.is_empty() => Ok(Self::Sqlite(PathBuf::from(path))),
                _ => Err(format!("`{s}` is not a store: use `sqlite:PATH` or `dynamodb`")),
            },
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::DynamoDb => f.write_str("dynamodb"),
        }
    }
}
