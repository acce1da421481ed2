//! Who is changing the allowlist, for its change log: on AWS the caller's ARN from STS
//! `GetCallerIdentity`, locally the OS user.

use anyhow::Context;

use crate::store::Stores;

/// The identity recorded as `by` in an allowlist change: the STS caller ARN when the
/// store is DynamoDB, otherwise `local:<user>` from `$USER`, then `$USERNAME`, else
/// `local:unknown`.
pub async fn caller(stores: &Stores) -> anyhow::Result<String> {
    match &stores.sdk {
        Some(sdk) => aws_caller(sdk).await,
        None => Ok(local_caller()),
    }
}

/// The caller's ARN, from STS `GetCallerIdentity` (which needs no permission).
pub async fn aws_caller(sdk: &aws_config::SdkConfig) -> anyhow::Result<String> {
    let output = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(aws_sdk_sts::Error::from)
        .context(
            "cannot identify the caller for the allowlist change log (STS GetCallerIdentity)",
        )?;
    output
        .arn
        .filter(|arn| !arn.is_empty())
        .context("STS GetCallerIdentity returned no ARN")
}

/// `local:<user>` from the environment.
pub fn local_caller() -> String {
    let user = ["USER", "USERNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("local:{user}")
}
