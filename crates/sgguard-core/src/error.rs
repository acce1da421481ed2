use std::fmt;

/// Everything that can go wrong in the pure core. Each variant names the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CloudTrail record that is a security-group call but cannot be understood.
    #[error("invalid event: field `{field}`: {message}")]
    InvalidEvent { field: String, message: String },

    /// A JSON document that holds no CloudTrail record shape we know.
    #[error("not a CloudTrail record: {message}")]
    UnknownShape { message: String },

    /// The allowlist TOML is not even well-formed.
    #[error("allowlist `{file}` is not valid TOML")]
    AllowlistSyntax {
        file: String,
        #[source]
        source: Box<toml::de::Error>,
    },

    /// The allowlist is well-formed but some entries are invalid; all of them are listed.
    #[error("allowlist `{file}` has {} invalid entr{}:\n{}", problems.len(), if problems.len() == 1 { "y" } else { "ies" }, ProblemList(problems))]
    InvalidAllowlist {
        file: String,
        problems: Vec<AllowlistProblem>,
    },

    /// The allowlist could not be written out as TOML.
    #[error("allowlist could not be serialized")]
    AllowlistExport {
        #[source]
        source: toml::ser::Error,
    },
}

impl Error {
    pub(crate) fn invalid_event(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::InvalidEvent {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// One invalid allowlist entry: which one (id, or index when the id itself is missing) and which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowlistProblem {
    pub entry: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for AllowlistProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {}: field `{}`: {}",
            self.entry, self.field, self.message
        )
    }
}

struct ProblemList<'a>(&'a [AllowlistProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {p}")?;
        }
        Ok(())
    }
}
