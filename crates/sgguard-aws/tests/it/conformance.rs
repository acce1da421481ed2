//! The DynamoDB audit log and allowlist against the shared port conformance suites, one test
//! per contract clause (`<store>::<clause>`), on the local emulator (skipped without
//! `SGGUARD_TEST_AWS_ENDPOINT`). Each test creates tables of its own.

use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, TableNames, create_tables};
use sgguard_testkit::aws;
use sgguard_testkit::conformance::{self, AuditWithAllowlist};

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

async fn audit_log_table(test: &str) -> Option<DynamoAuditLog> {
    let (client, names) = tables(test).await?;
    Some(DynamoAuditLog::new(client, &names.audit))
}

async fn allowlist_table(test: &str) -> Option<DynamoAllowlist> {
    let (client, names) = tables(test).await?;
    Some(DynamoAllowlist::new(client, &names.allowlist, &names.audit))
}

/// The audit log and the allowlist on tables that already hold what the whole audit log
/// suite writes, to query beside it.
async fn with_audit_log(test: &str) -> Option<AuditWithAllowlist<DynamoAuditLog, DynamoAllowlist>> {
    let (client, names) = tables(test).await?;
    let log = DynamoAuditLog::new(client.clone(), &names.audit);
    conformance::audit_log::every_clause(&log).await;
    Some(AuditWithAllowlist {
        audit: log,
        allowlist: DynamoAllowlist::new(client, &names.allowlist, &names.audit),
    })
}

mod dynamo_audit_log {
    sgguard_testkit::audit_log_conformance!(|test| super::audit_log_table(test));
}

mod dynamo_audit_log_at_scale {
    sgguard_testkit::audit_log_scale_conformance!(|test| super::audit_log_table(test));
}

mod dynamo_audit_log_with_retention {
    sgguard_testkit::audit_log_conformance!(|test| async move {
        Some(
            super::audit_log_table(test)
                .await?
                .with_retention_days(Some(30)),
        )
    });
}

mod dynamo_allowlist {
    sgguard_testkit::allowlist_conformance!(|test| super::allowlist_table(test));
}

mod dynamo_queries {
    sgguard_testkit::audit_reader_conformance!(|test| async move {
        super::with_audit_log(test).await.map(|both| both.audit)
    });
    sgguard_testkit::allowlist_changes_conformance!(|test| super::with_audit_log(test));
}
