//! Allowlist changes as audit records: written through an [`AllowlistStore`], read back
//! through an [`AuditReader`], newest first, by who and when. A store that is both (SQLite),
//! or an [`AuditWithAllowlist`](super::AuditWithAllowlist) joining two (DynamoDB), runs
//! these clauses; the tests are listed in
//! [`allowlist_changes_conformance!`](crate::allowlist_changes_conformance).

use chrono::Utc;
use sgguard_core::AllowEntry;
use sgguard_core::time::format_time;
use sgguard_responder::{AllowlistChange, AllowlistStore, AuditFilter, AuditReader};

use super::fixtures::{at, days_ago};

crate::__allowlist_changes_clauses!(__every_clause!((AuditReader + AllowlistStore)));

fn allowlist_change(at: &str, by: &str, action: &str, entry_id: &str) -> AllowlistChange {
    AllowlistChange {
        at: at.to_owned(),
        by: by.to_owned(),
        action: action.to_owned(),
        entry_id: entry_id.to_owned(),
        detail: format!("{action} {entry_id}"),
    }
}

/// Four changes of one clause by two people over two days: alice adds `a`, bob adds `b`,
/// alice removes `a` and bob replaces `b` at the same second (the entry id breaks the tie,
/// descending). Entry `b` is left in the store until [`Written::clean_up`].
struct Written {
    suffix: String,
    b: String,
    alice: String,
    bob: String,
    add_a: AllowlistChange,
    add_b: AllowlistChange,
    remove_a: AllowlistChange,
    replace_b: AllowlistChange,
}

impl Written {
    async fn write<S: AllowlistStore>(store: &S) -> Self {
        let suffix = crate::aws::unique("qa");
        let (a, b) = (format!("qa-{suffix}-a"), format!("qa-{suffix}-b"));
        let alice = format!("alice-{suffix}@example.com");
        let bob = format!("bob-{suffix}@example.com");
        let entry = |id: &str| AllowEntry::new(id, "netops@example.com", "NET-1 the audit suite");

        let add_a = allowlist_change(&days_ago(2, "10:00:00"), &alice, "add", &a);
        let add_b = allowlist_change(&days_ago(1, "09:00:00"), &bob, "add", &b);
        let remove_a = allowlist_change(&days_ago(1, "10:00:00"), &alice, "remove", &a);
        let replace_b = allowlist_change(&days_ago(1, "10:00:00"), &bob, "replace", &b);
        store.put(&entry(&a), &add_a).await.unwrap();
        store.put(&entry(&b), &add_b).await.unwrap();
        assert!(store.remove(&a, &remove_a).await.unwrap());
        store.put(&entry(&b), &replace_b).await.unwrap();
        Self {
            suffix,
            b,
            alice,
            bob,
            add_a,
            add_b,
            remove_a,
            replace_b,
        }
    }

    /// A glob matching both people of this clause, and no one else.
    fn everyone(&self) -> String {
        format!("*-{}@example.com", self.suffix)
    }

    /// Checks that `filter` finds exactly `expected`, in that order.
    async fn check<R: AuditReader>(
        &self,
        reader: &R,
        what: &str,
        filter: AuditFilter,
        expected: &[&AllowlistChange],
    ) {
        let found = reader
            .allowlist_changes(&filter)
            .await
            .unwrap_or_else(|e| panic!("{what}: allowlist_changes failed: {e}"));
        let want: Vec<AllowlistChange> = expected.iter().map(|c| (*c).clone()).collect();
        assert_eq!(found, want, "{what}: {filter:?}");
    }

    /// Leaves a shared store as it was found.
    async fn clean_up<S: AllowlistStore>(&self, store: &S) {
        let cleanup = allowlist_change(&format_time(&Utc::now()), &self.bob, "remove", &self.b);
        assert!(store.remove(&self.b, &cleanup).await.unwrap());
    }
}

fn who(pattern: &str) -> AuditFilter {
    AuditFilter {
        actor: Some(pattern.to_owned()),
        ..AuditFilter::default()
    }
}

/// Allowlist changes are listed newest first, the entry id (descending) breaking ties.
pub async fn allowlist_changes_are_listed_newest_first<S: AuditReader + AllowlistStore>(store: &S) {
    let w = Written::write(store).await;
    w.check(
        store,
        "glob over who",
        who(&w.everyone()),
        &[&w.replace_b, &w.remove_a, &w.add_b, &w.add_a],
    )
    .await;
    w.clean_up(store).await;
}

/// Allowlist changes by an exact who are that person's only.
pub async fn allowlist_changes_by_an_exact_who_are_theirs_only<S: AuditReader + AllowlistStore>(
    store: &S,
) {
    let w = Written::write(store).await;
    w.check(store, "exact who", who(&w.alice), &[&w.remove_a, &w.add_a])
        .await;
    w.clean_up(store).await;
}

/// Allowlist changes by someone who changed nothing are none.
pub async fn allowlist_changes_by_someone_who_changed_nothing_are_none<
    S: AuditReader + AllowlistStore,
>(
    store: &S,
) {
    let w = Written::write(store).await;
    w.check(
        store,
        "nobody",
        who(&format!("carol-{}@example.com", w.suffix)),
        &[],
    )
    .await;
    w.clean_up(store).await;
}

/// A limit keeps the newest allowlist changes.
pub async fn allowlist_changes_limit_keeps_the_newest<S: AuditReader + AllowlistStore>(store: &S) {
    let w = Written::write(store).await;
    w.check(
        store,
        "limit",
        AuditFilter {
            limit: Some(2),
            ..who(&w.everyone())
        },
        &[&w.replace_b, &w.remove_a],
    )
    .await;
    w.clean_up(store).await;
}

/// Allowlist changes are bounded by `since` and `until`.
pub async fn allowlist_changes_are_bounded_by_since_and_until<S: AuditReader + AllowlistStore>(
    store: &S,
) {
    let w = Written::write(store).await;
    w.check(
        store,
        "since",
        AuditFilter {
            since: Some(at(&days_ago(1, "00:00:00"))),
            ..who(&w.everyone())
        },
        &[&w.replace_b, &w.remove_a, &w.add_b],
    )
    .await;
    w.check(
        store,
        "until",
        AuditFilter {
            until: Some(at(&days_ago(1, "09:30:00"))),
            ..who(&w.everyone())
        },
        &[&w.add_b, &w.add_a],
    )
    .await;
    w.clean_up(store).await;
}
