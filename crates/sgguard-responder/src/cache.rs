//! A TTL cache over an allowlist store: the Lambda reads its table at most once per
//! `SGGUARD_ALLOWLIST_CACHE_SECS`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sgguard_core::AllowEntry;

use crate::error::PortError;
use crate::ports::{AllowlistChange, AllowlistStore};

/// Caches another store's entries for `ttl`; writes go through and clear the cache.
#[derive(Debug)]
pub struct CachedAllowlist<S> {
    inner: S,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Vec<AllowEntry>)>>,
}

impl<S> CachedAllowlist<S> {
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            cached: Mutex::new(None),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn fresh(&self) -> Option<Vec<AllowEntry>> {
        let guard = self.cached.lock().ok()?;
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, entries)| entries.clone())
    }

    fn store(&self, entries: Option<Vec<AllowEntry>>) {
        if let Ok(mut guard) = self.cached.lock() {
            *guard = entries.map(|e| (Instant::now(), e));
        }
    }
}

impl<S: AllowlistStore> AllowlistStore for CachedAllowlist<S> {
    async fn entries(&self) -> Result<Vec<AllowEntry>, PortError> {
        if let Some(entries) = self.fresh() {
            return Ok(entries);
        }
        let entries = self.inner.entries().await?;
        self.store(Some(entries.clone()));
        Ok(entries)
    }

    async fn put(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), PortError> {
        self.store(None);
        self.inner.put(entry, change).await
    }

    async fn remove(&self, id: &str, change: &AllowlistChange) -> Result<bool, PortError> {
        self.store(None);
        self.inner.remove(id, change).await
    }

    async fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), PortError> {
        self.store(None);
        self.inner.put_many(entries, changes).await
    }
}
