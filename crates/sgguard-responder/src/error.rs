use std::error::Error as StdError;

/// The failure of one port call, as an adapter reports it: whether trying again can help,
/// and the adapter's own error. It adds no text of its own, so a chain of causes prints each
/// cause once.
#[derive(Debug)]
pub struct PortError {
    retryable: bool,
    inner: Box<dyn StdError + Send + Sync>,
}

impl PortError {
    /// An outage, throttling or timeout: the same call may succeed later.
    pub fn retryable(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            retryable: true,
            inner: error.into(),
        }
    }

    /// A failure that repeating will not fix (access denied, bad data).
    pub fn permanent(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            retryable: false,
            inner: error.into(),
        }
    }

    /// A permanent failure told in words, with no underlying error.
    pub fn message(message: impl Into<String>) -> Self {
        Self::permanent(message.into())
    }

    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl StdError for PortError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source()
    }
}

/// What can stop the pipeline from finishing one event. The event is never lost: a
/// retryable error leaves it to the caller's retry, and the audit log resumes it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("audit log")]
    Audit(#[source] PortError),
    #[error("allowlist")]
    Allowlist(#[source] PortError),
    #[error("remediation")]
    Remediation(#[source] PortError),
    /// Not handled yet on purpose; a later delivery will be (e.g. a modification that
    /// arrived before the record of the rule's creation).
    #[error("deferred: {0}")]
    Deferred(String),
    /// Another worker holds the event's lease: acting now could act twice.
    #[error("event {event_id} is being handled by another worker (lease until {until})")]
    Busy { event_id: String, until: String },
    /// The invocation's time ran short before every step was taken: the steps taken are
    /// kept (EC2 holds them; the retry finds those rules settled) and the retry goes on.
    #[error(
        "out of time: {left} remediation step(s) not started with {remaining_ms} ms left; the retry resumes"
    )]
    OutOfTime { left: usize, remaining_ms: u128 },
    /// A setting (`SGGUARD_*`) with a value that means nothing.
    #[error("environment variable `{name}`: {message}")]
    Setting { name: &'static str, message: String },
}

impl Error {
    /// Whether delivering the same event again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Audit(e) | Self::Allowlist(e) | Self::Remediation(e) => e.is_retryable(),
            Self::Deferred(_) | Self::Busy { .. } | Self::OutOfTime { .. } => true,
            Self::Setting { .. } => false,
        }
    }
}

/// An error and its sources on one line (`outer: cause: root cause`), for messages that
/// are stored or logged as text and would otherwise lose the cause. A source whose text the
/// line already ends with (a library that repeats its cause in its own message) is not
/// printed again.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
