//! The embedded store against the shared port conformance suites, one test per contract
//! clause (the DynamoDB store runs the same ones in `sgguard-aws`): `<store>::<clause>`.

use sgguard_local::SqliteStore;
use sgguard_testkit::conformance::{Guarded, audit_log};
use tempfile::TempDir;

/// A store in a file of its own temporary directory, removed when the test ends.
fn on_disk() -> Guarded<SqliteStore, TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    Guarded::new(store, dir)
}

/// An on-disk store that already holds what the whole audit log suite writes, to query
/// beside it.
async fn on_disk_with_audit_log() -> Guarded<SqliteStore, TempDir> {
    let store = on_disk();
    audit_log::every_clause(&store).await;
    store
}

mod in_memory {
    use super::*;

    sgguard_testkit::audit_log_conformance!(async { Some(SqliteStore::open_in_memory().unwrap()) });
    sgguard_testkit::allowlist_conformance!(async { Some(SqliteStore::open_in_memory().unwrap()) });
    sgguard_testkit::audit_reader_conformance!(async {
        Some(SqliteStore::open_in_memory().unwrap())
    });
    // One store is both the audit reader and the allowlist.
    sgguard_testkit::allowlist_changes_conformance!(async {
        Some(SqliteStore::open_in_memory().unwrap())
    });
}

mod on_disk {
    use super::*;

    sgguard_testkit::audit_log_conformance!(async { Some(on_disk()) });
    sgguard_testkit::audit_log_scale_conformance!(async { Some(on_disk()) });
    sgguard_testkit::allowlist_conformance!(async { Some(on_disk()) });
    sgguard_testkit::audit_reader_conformance!(async { Some(on_disk_with_audit_log().await) });
    sgguard_testkit::allowlist_changes_conformance!(async { Some(on_disk_with_audit_log().await) });
}
