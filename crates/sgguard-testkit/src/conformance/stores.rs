//! Stores that the conformance tests run against when a store alone does not fit: one that
//! needs something kept alive beside it, and two ports joined into one.

use std::future::Future;

use serde_json::Value;
use sgguard_core::{AllowEntry, Outcome};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditFilter, AuditLog, AuditReader, Begin, EventReport,
    InvalidRecord, Lease, PortError, RuleSnapshot,
};

/// A store with what must outlive it, such as the temporary directory of an on-disk
/// database: the ports of `store`, with `guard` dropped after it.
#[derive(Debug)]
pub struct Guarded<S, G> {
    // Fields drop in order: the store before what it lives in.
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S: AuditLog, G: Send + Sync> AuditLog for Guarded<S, G> {
    fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> impl Future<Output = Result<Begin, PortError>> + Send {
        self.store.begin(report, raw, lease, take_over)
    }
    fn complete(
        &self,
        report: &EventReport,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.store.complete(report, lease)
    }
    fn release(
        &self,
        event_id: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.store.release(event_id, lease)
    }
    fn record_invalid(
        &self,
        record: &InvalidRecord,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.store.record_invalid(record)
    }
    fn rule_history(
        &self,
        rule_id: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        self.store.rule_history(rule_id)
    }
    fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> impl Future<Output = Result<Vec<RuleSnapshot>, PortError>> + Send {
        self.store.changes_after(group_id, event_time)
    }
    fn event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<EventReport>, PortError>> + Send {
        self.store.event(event_id)
    }
}

impl<S: AuditReader, G: Send + Sync> AuditReader for Guarded<S, G> {
    fn query(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<EventReport>, PortError>> + Send {
        self.store.query(filter)
    }
    fn raw_event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<Value>, PortError>> + Send {
        self.store.raw_event(event_id)
    }
    fn allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<AllowlistChange>, PortError>> + Send {
        self.store.allowlist_changes(filter)
    }
}

impl<S: AllowlistStore, G: Send + Sync> AllowlistStore for Guarded<S, G> {
    fn entries(&self) -> impl Future<Output = Result<Vec<AllowEntry>, PortError>> + Send {
        self.store.entries()
    }
    fn put(
        &self,
        entry: &AllowEntry,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.store.put(entry, change)
    }
    fn remove(
        &self,
        id: &str,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        self.store.remove(id, change)
    }
    fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.store.put_many(entries, changes)
    }
}

/// An audit reader and an allowlist store that records its changes where that reader reads
/// them, joined: the allowlist change clauses need both ports, and not every store is both.
#[derive(Debug)]
pub struct AuditWithAllowlist<R, A> {
    pub audit: R,
    pub allowlist: A,
}

impl<R: AuditReader, A: Send + Sync> AuditReader for AuditWithAllowlist<R, A> {
    fn query(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<EventReport>, PortError>> + Send {
        self.audit.query(filter)
    }
    fn raw_event(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<Value>, PortError>> + Send {
        self.audit.raw_event(event_id)
    }
    fn allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<AllowlistChange>, PortError>> + Send {
        self.audit.allowlist_changes(filter)
    }
}

impl<R: Send + Sync, A: AllowlistStore> AllowlistStore for AuditWithAllowlist<R, A> {
    fn entries(&self) -> impl Future<Output = Result<Vec<AllowEntry>, PortError>> + Send {
        self.allowlist.entries()
    }
    fn put(
        &self,
        entry: &AllowEntry,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.allowlist.put(entry, change)
    }
    fn remove(
        &self,
        id: &str,
        change: &AllowlistChange,
    ) -> impl Future<Output = Result<bool, PortError>> + Send {
        self.allowlist.remove(id, change)
    }
    fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        self.allowlist.put_many(entries, changes)
    }
}
