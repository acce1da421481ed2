//! The embedded store against the shared port conformance suites (the DynamoDB store runs
//! the same ones in `sgguard-aws`).

use sgguard_local::SqliteStore;
use sgguard_testkit::conformance;

#[tokio::test]
async fn sqlite_store_conforms_to_the_audit_log_contract() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Twice on one store: the suite must not depend on an empty store.
    conformance::audit_log(&store).await;
    conformance::audit_log(&store).await;
}

#[tokio::test]
async fn sqlite_store_conforms_to_the_allowlist_contract() {
    let store = SqliteStore::open_in_memory().unwrap();
    conformance::allowlist_store(&store).await;
    conformance::allowlist_store(&store).await;
}

#[tokio::test]
async fn an_on_disk_store_conforms_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    conformance::audit_log(&store).await;
    conformance::allowlist_store(&store).await;
}

#[tokio::test]
async fn sqlite_store_conforms_to_the_audit_query_contract() {
    let store = SqliteStore::open_in_memory().unwrap();
    conformance::audit_reader(&store).await;
    conformance::audit_reader(&store).await;
    conformance::allowlist_changes(&store, &store).await;
    conformance::allowlist_changes(&store, &store).await;
}

#[tokio::test]
async fn an_on_disk_store_answers_queries_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    conformance::audit_log(&store).await;
    conformance::audit_reader(&store).await;
    conformance::allowlist_changes(&store, &store).await;
}
