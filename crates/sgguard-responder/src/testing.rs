//! Test support (feature `test-util`): one fault-injecting wrapper for every port, in the
//! manner of mountpoint-s3's failure client. Wrapped around a real adapter (the SQLite store,
//! the DynamoDB log, the EC2 remediator), it fails the calls a test names, the way an outage,
//! throttling or a refusal would, and delegates the rest.
//!
//! ```
//! use sgguard_responder::testing::{Fault, Faulty};
//! use sgguard_responder::{AllowlistStore, StaticAllowlist};
//!
//! # tokio_test_block_on(async {
//! let allowlist = Faulty::new(StaticAllowlist::default()).fail("entries", Fault::Retryable, 1);
//! assert!(allowlist.entries().await.unwrap_err().is_retryable());
//! assert!(allowlist.entries().await.is_ok(), "only the first call fails");
//! assert_eq!(allowlist.calls("entries"), 2);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     futures_executor_block_on(f)
//! # }
//! # fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let waker = std::task::Waker::noop();
//! #     let mut cx = std::task::Context::from_waker(waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
//! #             return v;
//! #         }
//! #     }
//! # }
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use sgguard_core::{AllowEntry, ObservedRule, Outcome, PrefixList, Reference};

use crate::error::PortError;
use crate::plan::{RemediationStep, StepResult};
use crate::ports::{
    AllowlistChange, AllowlistStore, AuditLog, Begin, InvalidRecord, Lease, Remediator,
    RuleSnapshot, Scope,
};
use crate::report::EventReport;

/// How an injected failure looks to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An outage or throttling: retrying can help.
    Retryable,
    /// A refusal (access denied, bad data): retrying cannot help.
    Permanent,
}

impl Fault {
    fn error(self, method: &str) -> PortError {
        let cause = std::io::Error::other(format!("{method} failed (injected)"));
        match self {
            Self::Retryable => PortError::retryable(cause),
            Self::Permanent => PortError::permanent(cause),
        }
    }
}

/// A port whose named calls fail a given number of times before they delegate.
#[derive(Debug)]
pub struct Faulty<T> {
    inner: T,
    plan: Mutex<Vec<(&'static str, Fault, usize)>>,
    calls: Mutex<HashMap<&'static str, usize>>,
}

impl<T> Faulty<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            plan: Mutex::new(Vec::new()),
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// Fails the next `times` calls of `method` (the port method's name) with `fault`.
    pub fn fail(self, method: &'static str, fault: Fault, times: usize) -> Self {
        if let Ok(mut plan) = self.plan.lock() {
            plan.push((method, fault, times));
        }
        self
    }

    /// How many times `method` was called, failed or not.
    pub fn calls(&self, method: &str) -> usize {
        self.calls
            .lock()
            .ok()
            .and_then(|c| c.get(method).copied())
            .unwrap_or(0)
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Counts the call, and fails it if the plan says so.
    fn check(&self, method: &'static str) -> Result<(), PortError> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(method).or_default() += 1;
        }
        let Ok(mut plan) = self.plan.lock() else {
            return Ok(());
        };
        match plan
            .iter_mut()
            .find(|(m, _, left)| *m == method && *left > 0)
        {
            Some((_, fault, left)) => {
                *left -= 1;
                Err(fault.error(method))
            }
            None => Ok(()),
        }
    }
}

impl<T: AuditLog> AuditLog for Faulty<T> {
    async fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, PortError> {
        self.check("begin")?;
        self.inner.begin(report, raw, lease, take_over).await
    }

    async fn complete(&self, report: &EventReport, lease: &Lease) -> Result<(), PortError> {
        self.check("complete")?;
        self.inner.complete(report, lease).await
    }

    async fn release(&self, event_id: &str, lease: &Lease) -> Result<(), PortError> {
        self.check("release")?;
        self.inner.release(event_id, lease).await
    }

    async fn record_invalid(&self, record: &InvalidRecord) -> Result<(), PortError> {
        self.check("record_invalid")?;
        self.inner.record_invalid(record).await
    }

    async fn rule_history(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, PortError> {
        self.check("rule_history")?;
        self.inner.rule_history(rule_id).await
    }

    async fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        self.check("changes_after")?;
        self.inner.changes_after(group_id, event_time).await
    }

    async fn event(&self, event_id: &str) -> Result<Option<EventReport>, PortError> {
        self.check("event")?;
        self.inner.event(event_id).await
    }
}

impl<T: AllowlistStore> AllowlistStore for Faulty<T> {
    async fn entries(&self) -> Result<Vec<AllowEntry>, PortError> {
        self.check("entries")?;
        self.inner.entries().await
    }

    async fn put(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), PortError> {
        self.check("put")?;
        self.inner.put(entry, change).await
    }

    async fn remove(&self, id: &str, change: &AllowlistChange) -> Result<bool, PortError> {
        self.check("remove")?;
        self.inner.remove(id, change).await
    }

    async fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), PortError> {
        self.check("put_many")?;
        self.inner.put_many(entries, changes).await
    }
}

impl<T: Remediator> Remediator for Faulty<T> {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        self.check("execute")?;
        self.inner.execute(step).await
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    async fn describe_rules(
        &self,
        scope: &Scope,
        rule_ids: &[String],
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        self.check("describe_rules")?;
        self.inner.describe_rules(scope, rule_ids).await
    }

    async fn describe_group(
        &self,
        scope: &Scope,
        group_id: &str,
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        self.check("describe_group")?;
        self.inner.describe_group(scope, group_id).await
    }

    async fn prefix_list(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
        version: Option<i64>,
    ) -> Result<Option<PrefixList>, PortError> {
        self.check("prefix_list")?;
        self.inner.prefix_list(scope, prefix_list_id, version).await
    }

    async fn prefix_list_references(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
    ) -> Result<Option<Vec<Reference>>, PortError> {
        self.check("prefix_list_references")?;
        self.inner
            .prefix_list_references(scope, prefix_list_id)
            .await
    }
}
