use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use sgguard_responder::{PortError, error_chain};

/// Failures of the AWS adapters. The SDK error is kept as the source, and each message adds
/// only its context, so a chain of causes prints each cause once.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `code` and `message` are the service's, also in the source (the SDK error).
    #[error("{operation} failed")]
    Service {
        operation: &'static str,
        code: String,
        message: String,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("item mapping failed for {what}")]
    Mapping {
        what: String,
        #[source]
        source: serde_dynamo::Error,
    },
    #[error("stored JSON is invalid in {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot compress or decompress {what}")]
    Compression {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stored allowlist entry is invalid: {0}")]
    Allowlist(String),
    #[error("cannot build a DynamoDB request")]
    Build(#[source] aws_sdk_dynamodb::error::BuildError),
    #[error("the table is inconsistent: {0}")]
    Inconsistent(String),
    /// An event from another account, and no member role to act there.
    #[error(
        "the event is from account {account}, but these credentials belong to account {home}; to act in member accounts set SGGUARD_MEMBER_ROLE_NAME (sgguard respond: --member-role) to a role deployed there by infra/member-role.yaml"
    )]
    ForeignAccount { account: String, home: String },
    #[error("`{0}` is not an AWS account id (12 digits): no member account to act in")]
    InvalidAccount(String),
    /// The member role could not be assumed. A refusal (no such role, a trust policy that
    /// does not name the function's role) is final; throttling and outages are retried.
    #[error("cannot assume {role_arn} to act in account {account}")]
    MemberAccess {
        account: String,
        role_arn: String,
        retryable: bool,
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
    },
    /// EC2 refused a change because the resource changed meanwhile: a retry reads it again.
    #[error("{what}")]
    Concurrent {
        what: String,
        #[source]
        source: Box<Error>,
    },
    /// Another worker took the event over (its lease had expired): its outcome wins.
    #[error("lost the lease on event {event_id}: another worker took it over")]
    LeaseLost { event_id: String },
    /// An import larger than one transaction failed part-way: the first `written` entries
    /// (whole transactions) are stored, the rest are not.
    #[error(
        "{written} of {total} entries were already written (one DynamoDB transaction holds at most {per_transaction}); importing the same file again finishes the job"
    )]
    PartialWrite {
        written: usize,
        total: usize,
        per_transaction: usize,
        #[source]
        source: Box<Error>,
    },
}

/// Error codes that say "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "Unavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
];

impl Error {
    pub(crate) fn build(err: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self::Build(err)
    }

    /// Classifies an SDK error: transport failures, timeouts, throttling and 5xx are retryable.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transport = matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        );
        let code = err
            .code()
            .unwrap_or(if transport {
                "TransportError"
            } else {
                "Unknown"
            })
            .to_owned();
        let message = err
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| error_chain(&err));
        let server_error = err
            .raw_response()
            .is_some_and(|r| r.status().is_server_error());
        // A cancelled transaction is retryable when a conflict or throttling cancelled it
        // (a failed condition is not: that is how duplicates are detected).
        let cancelled_by_load = code == "TransactionCanceledException"
            && [
                "TransactionConflict",
                "ThrottlingError",
                "ProvisionedThroughputExceeded",
            ]
            .iter()
            .any(|r| message.contains(r));
        let retryable = transport
            || server_error
            || cancelled_by_load
            || RETRYABLE_CODES.contains(&code.as_str());
        Self::Service {
            operation,
            code,
            message,
            retryable,
            source: Box::new(err),
        }
    }

    /// The service's own message, for a service error.
    pub fn service_message(&self) -> Option<&str> {
        match self {
            Self::Service { message, .. } => Some(message),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Service {
                retryable: true,
                ..
            } | Self::MemberAccess {
                retryable: true,
                ..
            } | Self::LeaseLost { .. }
                | Self::Concurrent { .. }
        )
    }
}

impl From<Error> for PortError {
    fn from(err: Error) -> Self {
        if err.is_retryable() {
            PortError::retryable(err)
        } else {
            PortError::permanent(err)
        }
    }
}
