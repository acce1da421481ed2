use std::error::Error as StdError;

/// The failure of one port call, as an adapter reports it: whether trying again can help,
/// a message for people, and the underlying error kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    retryable: bool,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl PortError {
    /// An outage, throttling or timeout: the same call may succeed later.
    pub fn retryable(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A failure that repeating will not fix (access denied, bad data).
    pub fn permanent(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A permanent failure with no underlying error.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            source: None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// What can stop the pipeline from finishing one event. The event is never lost: a
/// retryable error leaves it to the caller's retry, and the audit log resumes it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("audit log: {0}")]
    Audit(#[source] PortError),
    #[error("allowlist: {0}")]
    Allowlist(#[source] PortError),
    #[error("remediation: {0}")]
    Remediation(#[source] PortError),
    /// Not handled yet on purpose; a later delivery will be (e.g. a modification that
    /// arrived before the record of the rule's creation).
    #[error("deferred: {0}")]
    Deferred(String),
    /// Another worker holds the event's lease: acting now could act twice.
    #[error("event {event_id} is being handled by another worker (lease until {until})")]
    Busy { event_id: String, until: String },
}

impl Error {
    /// Whether delivering the same event again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Audit(e) | Self::Allowlist(e) | Self::Remediation(e) => e.is_retryable(),
            Self::Deferred(_) | Self::Busy { .. } => true,
        }
    }
}

/// An error and its sources on one line (`outer: cause: root cause`), for messages that
/// are stored or logged as text and would otherwise lose the cause.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
