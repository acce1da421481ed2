//! The local AWS emulator (moto server) that `scripts/test` starts on 127.0.0.1 and names
//! in `SGGUARD_TEST_AWS_ENDPOINT`.
// Test support: an emulator call that fails is a broken test setup, so it panics.
#![expect(
    clippy::expect_used,
    reason = "test support: an emulator call that fails is a broken test setup"
)]

use std::sync::atomic::{AtomicU32, Ordering};

/// The emulator's endpoint. Without it a test prints why it is skipped, except under CI,
/// where the test script always starts the emulator and its absence is a failure.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var("SGGUARD_TEST_AWS_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            #[expect(
                clippy::panic,
                reason = "a missing emulator under CI must fail, not skip"
            )]
            {
                panic!(
                    "{test}: SGGUARD_TEST_AWS_ENDPOINT is not set under CI; run the tests with scripts/test"
                )
            }
        }
        _ => {
            eprintln!(
                "skipping {test}: SGGUARD_TEST_AWS_ENDPOINT is not set (scripts/test starts the local AWS emulator)"
            );
            None
        }
    }
}

/// An SDK configuration for the emulator, with test credentials and a fixed region.
pub async fn config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sgguard-tests",
        ))
        .load()
        .await
}

/// A name no other test in this run uses (tables and groups on the shared emulator).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = chrono::Utc::now().timestamp_subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// An EC2 client acting in another account through a role there, assumed with the
/// emulator's STS. moto attributes requests made with assumed-role credentials to the
/// role's account, so that account's EC2 is a world of its own.
pub async fn ec2_in_account(endpoint: &str, account: &str, role: &str) -> aws_sdk_ec2::Client {
    let config = config(endpoint).await;
    let credentials = aws_sdk_sts::Client::new(&config)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name("test-setup")
        .send()
        .await
        .expect("assume the role on the emulator")
        .credentials
        .expect("assumed-role credentials");
    let credentials = aws_sdk_ec2::config::Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        None,
        "other-account",
    );
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config)
            .credentials_provider(credentials)
            .build(),
    )
}
