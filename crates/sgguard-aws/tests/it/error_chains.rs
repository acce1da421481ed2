//! The text an operator reads when a store cannot be reached: each cause once, outermost
//! first, as a Lambda `errorMessage`, a dead letter or a CLI error prints it.

use sgguard_core::testing::Authorize;
use sgguard_responder::{ReportOnlyRemediator, Responder, StaticAllowlist, error_chain};

#[tokio::test]
async fn a_refused_dynamodb_connection_prints_each_cause_once() {
    // Nothing listens on port 9 of the loopback: every connection is refused at once.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let audit =
        sgguard_aws::DynamoAuditLog::new(aws_sdk_dynamodb::Client::from_conf(config), "audit");
    let responder = Responder::new(
        audit,
        StaticAllowlist::default(),
        ReportOnlyRemediator,
        Default::default(),
    );
    let record = Authorize::new("e-refused", "sg-0123456789abcdef0")
        .tcp("sgr-0a", 22, "0.0.0.0/0")
        .build();
    let err = responder.handle(&record, None).await.unwrap_err();
    assert!(err.is_retryable(), "an unreachable store is worth a retry");
    let chain = error_chain(&err);
    // The operating system's own suffix (e.g. "(os error 111)") may follow.
    assert!(
        chain.starts_with(
            "audit log: TransactWriteItems failed: dispatch failure: io error: \
             client error (Connect): tcp connect error: Connection refused"
        ),
        "{chain}"
    );
    assert_eq!(chain.matches("Connection refused").count(), 1, "{chain}");
}
