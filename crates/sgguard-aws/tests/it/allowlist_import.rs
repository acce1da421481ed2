//! `DynamoAllowlist::put_many` beyond one transaction, on the local emulator (skipped
//! without `SGGUARD_TEST_AWS_ENDPOINT`).

use sgguard_aws::{DynamoAllowlist, MAX_ENTRIES_PER_TRANSACTION, TableNames, create_tables};
use sgguard_core::{AllowEntry, PortRange, Protocol};
use sgguard_responder::{AllowlistChange, AllowlistStore};
use sgguard_testkit::aws;

async fn tables(test: &str) -> Option<(aws_sdk_dynamodb::Client, TableNames)> {
    let endpoint = aws::endpoint(test)?;
    let config = aws::config(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let names = TableNames {
        audit: aws::unique("import-audit"),
        allowlist: aws::unique("import-allow"),
    };
    create_tables(&client, &names).await.unwrap();
    Some((client, names))
}

fn entries(n: usize) -> (Vec<AllowEntry>, Vec<AllowlistChange>) {
    let at = sgguard_core::time::format_time(&chrono::Utc::now());
    (0..n)
        .map(|i| {
            let mut e = AllowEntry::new(format!("bulk-{i:03}"), "netops@example.com", "NET-1");
            e.protocol = Protocol::Tcp;
            e.ports = PortRange::single(u16::try_from(1000 + i).unwrap());
            let change = AllowlistChange {
                at: at.clone(),
                by: "arn:aws:iam::111122223333:user/alice".into(),
                action: "import".into(),
                entry_id: e.id.clone(),
                detail: "imported".into(),
            };
            (e, change)
        })
        .unzip()
}

#[tokio::test]
async fn put_many_beyond_one_transaction_writes_every_entry_and_change() {
    let Some((client, names)) =
        tables("put_many_beyond_one_transaction_writes_every_entry_and_change").await
    else {
        return;
    };
    let store = DynamoAllowlist::new(client.clone(), &names.allowlist, &names.audit);
    let n = 2 * MAX_ENTRIES_PER_TRANSACTION + 7;
    let (entries, changes) = entries(n);
    store.put_many(&entries, &changes).await.unwrap();
    assert_eq!(store.entries().await.unwrap(), entries);
    let logged = client
        .scan()
        .table_name(&names.audit)
        .send()
        .await
        .unwrap()
        .items()
        .len();
    assert_eq!(logged, n, "one change-log item per entry");
}

#[tokio::test]
async fn put_many_that_fails_in_its_first_transaction_writes_nothing() {
    let Some((client, names)) =
        tables("put_many_that_fails_in_its_first_transaction_writes_nothing").await
    else {
        return;
    };
    // The change log goes to a table that does not exist: the transaction is refused whole.
    let store = DynamoAllowlist::new(client, &names.allowlist, "no-such-audit-table");
    let (entries, changes) = entries(3);
    assert!(store.put_many(&entries, &changes).await.is_err());
    assert!(store.entries().await.unwrap().is_empty());

    // Entries and changes must pair up.
    let err = store
        .put_many(&entries, &changes[..2])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("one change record per entry"), "{err}");
}
