//! The allowlist contract ([`AllowlistStore`]): `put` inserts and replaces, entries are
//! listed by id with every field intact (expired ones included), `remove` reports whether
//! there was anything, and `put_many` inserts and replaces several entries at once. One
//! function per clause; the tests are listed in
//! [`allowlist_conformance!`](crate::allowlist_conformance).
//!
//! Every clause leaves a shared store as it found it: its entries must approve nothing
//! elsewhere.

use sgguard_core::{AllowEntry, Direction, PortRange, Protocol};
use sgguard_responder::{AllowlistChange, AllowlistStore};

use super::fixtures::{ACCOUNT, REGION, allow_change, entry};

crate::__allowlist_clauses!(__every_clause!((AllowlistStore)));

/// Entry ids no other clause, and no other run of the same clause, uses: `conf-<suffix>-<name>`.
struct Ids {
    prefix: String,
}

impl Ids {
    fn new() -> Self {
        Self {
            prefix: format!("conf-{}-", crate::aws::unique("conf")),
        }
    }

    fn id(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The entries of this clause among all of `entries`, which must be sorted by id, each
    /// listed once.
    fn mine(&self, entries: Vec<AllowEntry>) -> Vec<AllowEntry> {
        let all: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "entries are sorted by id, each once: {all:?}"
        );
        entries
            .into_iter()
            .filter(|e| e.id.starts_with(&self.prefix))
            .collect()
    }

    /// The entries of this clause in `store`.
    async fn listed<S: AllowlistStore>(&self, store: &S) -> Vec<AllowEntry> {
        self.mine(store.entries().await.unwrap())
    }

    /// Removes `entries` (each must be there) and checks that none of this clause's is left.
    async fn clean_up<S: AllowlistStore>(&self, store: &S, entries: &[&AllowEntry]) {
        for e in entries {
            assert!(
                store
                    .remove(&e.id, &allow_change("remove", &e.id, "cleanup"))
                    .await
                    .unwrap()
            );
        }
        assert!(self.listed(store).await.is_empty());
    }
}

fn ids_of(entries: &[AllowEntry]) -> Vec<String> {
    entries.iter().map(|e| e.id.clone()).collect()
}

/// Three entries, sorted by id: one expired, one with every criterion set, a plain one.
struct Three {
    expired: AllowEntry,
    rich: AllowEntry,
    plain: AllowEntry,
}

fn three(ids: &Ids) -> Three {
    // Every criterion set, expiry included.
    let mut rich = AllowEntry::new(
        ids.id("b-rich"),
        "platform@example.com",
        "PLAT-77 public load balancers",
    );
    rich.expires = Some("2030-01-31T00:00:00Z".parse().unwrap());
    rich.direction = Direction::Egress;
    rich.protocol = Protocol::Udp;
    rich.ports = PortRange {
        from: 8000,
        to: 8100,
    };
    rich.cidrs = vec![
        "203.0.113.0/24".parse().unwrap(),
        "2001:db8::/32".parse().unwrap(),
    ];
    rich.prefix_lists = vec!["pl-0a1b2c3d4e5f60718".into()];
    rich.source_groups = vec!["sg-0123456789abcdef0".into(), "sg-0fedcba987654321f".into()];
    rich.groups = vec!["sg-0fedcba9876543210".into()];
    rich.accounts = vec![ACCOUNT.into(), "444455556666".into()];
    rich.regions = vec![REGION.into(), "us-east-1".into()];
    rich.principals = vec!["arn:aws:iam::*:role/terraform-*".into()];
    // Expired entries approve nothing but are still listed.
    let mut expired = entry(&ids.id("a-expired"), 22);
    expired.expires = Some("2020-01-01T00:00:00Z".parse().unwrap());
    let plain = entry(&ids.id("c-plain"), 443);
    Three {
        expired,
        rich,
        plain,
    }
}

/// Puts the three entries, out of id order, into a store that holds none of this clause's.
async fn put_three<S: AllowlistStore>(store: &S, ids: &Ids) -> Three {
    assert!(ids.listed(store).await.is_empty());
    let t = three(ids);
    for e in [&t.plain, &t.rich, &t.expired] {
        store
            .put(e, &allow_change("add", &e.id, "added"))
            .await
            .unwrap();
    }
    t
}

/// `put` adds entries, listed sorted by id with every field intact, expired ones included.
pub async fn put_entries_are_listed_by_id_with_every_field_intact<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    let t = put_three(store, &ids).await;
    let listed = ids.listed(store).await;
    assert_eq!(
        ids_of(&listed),
        [t.expired.id.clone(), t.rich.id.clone(), t.plain.id.clone()],
        "sorted by id"
    );
    assert_eq!(
        listed,
        vec![t.expired.clone(), t.rich.clone(), t.plain.clone()],
        "every field round-trips"
    );
    ids.clean_up(store, &[&t.expired, &t.rich, &t.plain]).await;
}

/// An expired entry approves nothing but is still listed.
pub async fn an_expired_entry_is_still_listed<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    assert!(ids.listed(store).await.is_empty());
    let expired = three(&ids).expired;
    store
        .put(&expired, &allow_change("add", &expired.id, "added"))
        .await
        .unwrap();
    assert_eq!(
        ids.listed(store).await,
        vec![expired.clone()],
        "an expired entry is listed"
    );
    ids.clean_up(store, &[&expired]).await;
}

/// `put` with an existing id replaces that entry in place: one entry per id.
pub async fn put_with_an_existing_id_replaces_in_place<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    let t = put_three(store, &ids).await;
    let mut replacement = entry(&t.plain.id, 8443);
    replacement.owner = "someone-else@example.com".into();
    replacement.reason = "NET-8443 replaced".into();
    store
        .put(&replacement, &allow_change("add", &t.plain.id, "replaced"))
        .await
        .unwrap();
    let listed = ids.listed(store).await;
    assert_eq!(
        listed,
        vec![t.expired.clone(), t.rich.clone(), replacement.clone()],
        "one entry per id, with the new content"
    );
    ids.clean_up(store, &[&t.expired, &t.rich, &replacement])
        .await;
}

/// `remove` answers whether the entry was there: `true` once, then `false`, `false` if never put.
pub async fn remove_reports_whether_there_was_an_entry<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    let t = put_three(store, &ids).await;
    let rich = &t.rich;
    assert!(
        store
            .remove(&rich.id, &allow_change("remove", &rich.id, "removed"))
            .await
            .unwrap(),
        "removing a present entry"
    );
    assert!(
        !store
            .remove(&rich.id, &allow_change("remove", &rich.id, "again"))
            .await
            .unwrap(),
        "removing it again"
    );
    let never = ids.id("never");
    assert!(
        !store
            .remove(&never, &allow_change("remove", &never, "nothing"))
            .await
            .unwrap()
    );
    assert_eq!(
        ids.listed(store).await,
        vec![t.expired.clone(), t.plain.clone()]
    );
    ids.clean_up(store, &[&t.expired, &t.plain]).await;
}

/// A removed entry put again is listed again, in its place.
pub async fn a_removed_entry_put_again_is_back_in_its_place<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    let t = put_three(store, &ids).await;
    let rich = &t.rich;
    assert!(
        store
            .remove(&rich.id, &allow_change("remove", &rich.id, "removed"))
            .await
            .unwrap(),
        "removing a present entry"
    );
    assert_eq!(
        ids.listed(store).await,
        vec![t.expired.clone(), t.plain.clone()]
    );
    store
        .put(rich, &allow_change("add", &rich.id, "added again"))
        .await
        .unwrap();
    assert_eq!(
        ids.listed(store).await,
        vec![t.expired.clone(), t.rich.clone(), t.plain.clone()]
    );
    ids.clean_up(store, &[&t.expired, &t.rich, &t.plain]).await;
}

/// `put_many` inserts new ids and replaces existing ones at once, each with its change record.
pub async fn put_many_inserts_new_ids_and_replaces_existing_ones<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    let t = put_three(store, &ids).await;
    let mut narrowed = t.rich.clone();
    narrowed.ports = PortRange::single(8080);
    let many = vec![
        entry(&ids.id("d-many"), 25),
        narrowed.clone(),
        entry(&ids.id("e-many"), 53),
    ];
    let changes: Vec<AllowlistChange> = many
        .iter()
        .map(|e| allow_change("import", &e.id, "imported"))
        .collect();
    store.put_many(&many, &changes).await.unwrap();
    assert_eq!(
        ids.listed(store).await,
        vec![
            t.expired.clone(),
            narrowed.clone(),
            t.plain.clone(),
            many[0].clone(),
            many[2].clone()
        ],
        "put_many inserts new ids and replaces existing ones"
    );
    ids.clean_up(
        store,
        &[&t.expired, &narrowed, &t.plain, &many[0], &many[2]],
    )
    .await;
}

/// `put_many` of nothing at all changes nothing.
pub async fn put_many_of_nothing_is_a_no_op<S: AllowlistStore>(store: &S) {
    let ids = Ids::new();
    let t = put_three(store, &ids).await;
    store.put_many(&[], &[]).await.unwrap();
    assert_eq!(ids.listed(store).await.len(), 3);
    assert_eq!(
        ids.listed(store).await,
        vec![t.expired.clone(), t.rich.clone(), t.plain.clone()],
        "nothing at all is a no-op"
    );
    ids.clean_up(store, &[&t.expired, &t.rich, &t.plain]).await;
}
