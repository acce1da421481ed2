//! [`AccountAccess`]: which credentials act in which account. The function's own
//! credentials act in its home account; in the multi-account layout (infra/README.md) the
//! events of member accounts are acted on through a role of one name in each member
//! account (`SGGUARD_MEMBER_ROLE_NAME`, deployed by `infra/member-role.yaml`). Without that
//! role, an event from another account is refused rather than "reverted" in the wrong
//! account, where the rule is not found and would look gone.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_ec2::config::SharedCredentialsProvider;
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use tokio::sync::OnceCell;

use crate::error::Error;

/// The session name the member role is assumed with; it appears in the member account's
/// CloudTrail as `assumed-role/<role>/sgguard`, which is how its calls are proven own.
pub const SESSION_NAME: &str = sgguard_core::MEMBER_SESSION_NAME;

/// How the responder reaches the account an event came from.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    /// The account the shared configuration's credentials belong to.
    Home,
    /// A member account, through the assumed member role.
    Member(SharedCredentialsProvider),
}

/// Resolves an event's account to the credentials that may act in it. Give it a
/// configuration loaded by `aws_config` (it carries the time source the assume-role
/// provider needs).
#[derive(Debug)]
pub struct AccountAccess {
    sdk: SdkConfig,
    member_role: Option<String>,
    home: OnceCell<String>,
    members: Mutex<HashMap<String, SharedCredentialsProvider>>,
}

impl AccountAccess {
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sdk,
            member_role: None,
            home: OnceCell::new(),
            members: Mutex::new(HashMap::new()),
        }
    }

    /// Acts in other accounts through the role of this name in each of them.
    pub fn with_member_role(mut self, role_name: Option<String>) -> Self {
        self.member_role = role_name.filter(|name| !name.is_empty());
        self
    }

    /// Sets the home account instead of asking STS for it (tests, or a caller that knows).
    pub fn with_home_account(self, account: impl Into<String>) -> Self {
        let _ = self.home.set(account.into());
        self
    }

    /// The account the shared credentials belong to: one `GetCallerIdentity` per process.
    pub async fn home_account(&self) -> Result<&str, Error> {
        self.home
            .get_or_try_init(|| async {
                let output = aws_sdk_sts::Client::new(&self.sdk)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| Error::from_sdk("GetCallerIdentity", e))?;
                output.account.ok_or_else(|| {
                    Error::Inconsistent("GetCallerIdentity returned no account".into())
                })
            })
            .await
            .map(String::as_str)
    }

    /// The access for `account`; an empty account (a record without one) is the home account.
    pub(crate) async fn access(&self, account: &str) -> Result<Access, Error> {
        if account.is_empty() {
            return Ok(Access::Home);
        }
        let home = self.home_account().await?;
        if account == home {
            return Ok(Access::Home);
        }
        let Some(role) = &self.member_role else {
            return Err(Error::ForeignAccount {
                account: account.to_owned(),
                home: home.to_owned(),
            });
        };
        // A sanitized or corrupt record ("...", "unknown") names no account to act in.
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidAccount(account.to_owned()));
        }
        if let Some(provider) = self.cached(account) {
            return Ok(Access::Member(provider));
        }
        let role_arn = member_role_arn(account, role, self.sdk.region().map(|r| r.as_ref()));
        let assume = AssumeRoleProvider::builder(role_arn.clone())
            .session_name(SESSION_NAME)
            .configure(&self.sdk)
            .build()
            .await;
        // Resolved now, once per account: a role that cannot be assumed fails here, named,
        // and classified, instead of as a dispatch failure of whatever call came first.
        let first = match assume.provide_credentials().await {
            Ok(credentials) => credentials,
            Err(source) => {
                return Err(Error::MemberAccess {
                    account: account.to_owned(),
                    retryable: is_transient(&source),
                    role_arn,
                    source,
                });
            }
        };
        let provider = SharedCredentialsProvider::new(Primed {
            first: Mutex::new(Some(first)),
            inner: assume,
        });
        if let Ok(mut members) = self.members.lock() {
            members.insert(account.to_owned(), provider.clone());
        }
        Ok(Access::Member(provider))
    }

    fn cached(&self, account: &str) -> Option<SharedCredentialsProvider> {
        self.members.lock().ok()?.get(account).cloned()
    }
}

/// A provider whose first answer is the credentials already resolved, so the eager check
/// costs no second `AssumeRole`; the client's identity cache asks again near their expiry.
#[derive(Debug)]
struct Primed<P> {
    first: Mutex<Option<Credentials>>,
    inner: P,
}

impl<P: ProvideCredentials> ProvideCredentials for Primed<P> {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().ok().and_then(|mut first| first.take()) {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => self.inner.provide_credentials(),
        }
    }
}

/// Whether assuming a role failed for a reason that passes: a timeout, a connection
/// failure, throttling or a server error. Anything else (access denied, no such role, a
/// malformed request) is a refusal that trying again will not change.
fn is_transient(err: &CredentialsError) -> bool {
    if matches!(err, CredentialsError::ProviderTimedOut(_)) {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(sdk) = cause.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return match sdk {
                SdkError::DispatchFailure(_)
                | SdkError::TimeoutError(_)
                | SdkError::ResponseError(_) => true,
                other => {
                    let server = other
                        .raw_response()
                        .is_some_and(|r| r.status().is_server_error());
                    let throttled = other.code().is_some_and(|code| {
                        matches!(
                            code,
                            "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
                        )
                    });
                    server || throttled
                }
            };
        }
        source = cause.source();
    }
    false
}

/// `arn:<partition>:iam::<account>:role/<name>`, the partition following the region.
pub fn member_role_arn(account: &str, role_name: &str, region: Option<&str>) -> String {
    let partition = match region.unwrap_or_default() {
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    };
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loaded configuration (it carries the time source the assume-role provider needs);
    /// nothing here makes a request.
    async fn access(member_role: Option<&str>) -> AccountAccess {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            // Nothing listens here: a request fails at once, never leaves the machine.
            .endpoint_url("http://127.0.0.1:9")
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .load()
            .await;
        AccountAccess::new(sdk)
            .with_home_account("111122223333")
            .with_member_role(member_role.map(str::to_owned))
    }

    #[tokio::test]
    async fn each_account_gets_the_right_access() {
        let central = access(Some("sgguard-member")).await;
        assert!(matches!(central.access("").await.unwrap(), Access::Home));
        assert!(matches!(
            central.access("111122223333").await.unwrap(),
            Access::Home
        ));
        // A member account's credentials are resolved at once: with STS unreachable, that
        // is a retryable failure naming the account and the role.
        match central.access("222233334444").await {
            Err(Error::MemberAccess {
                account,
                role_arn,
                retryable,
                ..
            }) => {
                assert_eq!(account, "222233334444");
                assert_eq!(role_arn, "arn:aws:iam::222233334444:role/sgguard-member");
                assert!(retryable, "an unreachable STS is an outage");
            }
            other => panic!("member access without STS: {other:?}"),
        }
        for bad in ["...", "unknown", "2222333344445", "22223333444a"] {
            match central.access(bad).await {
                Err(Error::InvalidAccount(account)) => assert_eq!(account, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let alone = access(None).await;
        match alone.access("222233334444").await {
            Err(err @ Error::ForeignAccount { .. }) => {
                let message = err.to_string();
                assert!(
                    message.contains("222233334444") && message.contains("111122223333"),
                    "{message}"
                );
                assert!(!err.is_retryable());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn role_arn_follows_the_partition() {
        assert_eq!(
            member_role_arn("222233334444", "sgguard-member", Some("eu-west-1")),
            "arn:aws:iam::222233334444:role/sgguard-member"
        );
        assert_eq!(
            member_role_arn("222233334444", "m", Some("cn-north-1")),
            "arn:aws-cn:iam::222233334444:role/m"
        );
        assert_eq!(
            member_role_arn("222233334444", "m", Some("us-gov-west-1")),
            "arn:aws-us-gov:iam::222233334444:role/m"
        );
    }
}
