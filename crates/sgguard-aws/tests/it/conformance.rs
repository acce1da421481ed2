//! The DynamoDB audit log and allowlist against the shared port conformance suites, on the
//! local emulator (skipped without `SGGUARD_TEST_AWS_ENDPOINT`).

use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, TableNames, create_tables};
use sgguard_testkit::{aws, conformance};

async fn tables(test: &str) -> Option<(aws_sdk_dynamodb::Client, TableNames)> {
    let endpoint = aws::endpoint(test)?;
    let config = aws::config(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let names = TableNames {
        audit: aws::unique("conf-audit"),
        allowlist: aws::unique("conf-allow"),
    };
    create_tables(&client, &names).await.unwrap();
    Some((client, names))
}

#[tokio::test]
async fn dynamo_audit_log_conforms_to_the_audit_log_contract() {
    let Some((client, names)) = tables("dynamo_audit_log_conforms_to_the_audit_log_contract").await
    else {
        return;
    };
    let log = DynamoAuditLog::new(client, &names.audit);
    // Twice on one table: the suite must not depend on an empty store.
    conformance::audit_log(&log).await;
    conformance::audit_log(&log).await;
}

#[tokio::test]
async fn dynamo_audit_log_with_retention_conforms_too() {
    let Some((client, names)) = tables("dynamo_audit_log_with_retention_conforms_too").await else {
        return;
    };
    conformance::audit_log(
        &DynamoAuditLog::new(client, &names.audit).with_retention_days(Some(30)),
    )
    .await;
}

#[tokio::test]
async fn dynamo_allowlist_conforms_to_the_allowlist_contract() {
    let Some((client, names)) = tables("dynamo_allowlist_conforms_to_the_allowlist_contract").await
    else {
        return;
    };
    let store = DynamoAllowlist::new(client, &names.allowlist, &names.audit);
    conformance::allowlist_store(&store).await;
    conformance::allowlist_store(&store).await;
}

#[tokio::test]
async fn dynamo_audit_log_conforms_to_the_audit_query_contract() {
    let Some((client, names)) =
        tables("dynamo_audit_log_conforms_to_the_audit_query_contract").await
    else {
        return;
    };
    let log = DynamoAuditLog::new(client.clone(), &names.audit);
    // On a table that also holds the audit log suite's events, twice.
    conformance::audit_log(&log).await;
    conformance::audit_reader(&log).await;
    conformance::audit_reader(&log).await;
    let allowlist = DynamoAllowlist::new(client, &names.allowlist, &names.audit);
    conformance::allowlist_changes(&log, &allowlist).await;
    conformance::allowlist_changes(&log, &allowlist).await;
}
