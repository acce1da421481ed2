//! sgguard on AWS: the DynamoDB audit log and allowlist, and the EC2 remediator that
//! reverts exactly the rules an event added (by rule id) and confirms the result.
//!
//! Adapters speak the responder's domain types; the SDK error is always kept as the source.

mod accounts;
mod allowlist;
mod audit;
mod ec2;
mod error;
pub mod permissions;
pub mod schema;

pub use accounts::{AccountAccess, SESSION_NAME as MEMBER_SESSION_NAME, member_role_arn};
pub use allowlist::{DynamoAllowlist, MAX_ENTRIES_PER_TRANSACTION};
pub use audit::{AccessPath as AuditAccessPath, DEFAULT_QUERY_DAYS, DynamoAuditLog};
pub use ec2::Ec2Remediator;
pub use error::Error;
pub use schema::{TableNames, create_tables};

/// Loads the shared AWS configuration. Honours `AWS_REGION`, `AWS_ENDPOINT_URL` and the
/// usual credential chain; the arguments override the endpoint (a local emulator) and
/// region. Makes no network call: credentials are resolved on first use.
pub async fn load_config(
    endpoint_url: Option<&str>,
    region: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}
