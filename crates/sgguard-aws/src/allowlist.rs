//! [`DynamoAllowlist`]: allowlist entries as DynamoDB items (one per entry, keyed by `id`,
//! attributes as in the TOML form), and each change logged in the audit table.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::Serialize;
use sgguard_core::AllowEntry;
use sgguard_core::allowlist::EntrySpec;
use sgguard_responder::{AllowlistChange, AllowlistStore, PortError};

use crate::error::Error;

/// Entries per `TransactWriteItems` call in [`AllowlistStore::put_many`]: each takes two
/// of the 100 items a transaction may hold (the entry, and its change-log item).
pub const MAX_ENTRIES_PER_TRANSACTION: usize = 50;

/// The allowlist table, and the audit table that records its changes.
#[derive(Debug, Clone)]
pub struct DynamoAllowlist {
    client: Client,
    table: String,
    audit_table: String,
}

/// The allowlist change as an audit-table item: queryable by day like any event.
#[derive(Debug, Serialize)]
struct ChangeLogItem<'a> {
    pk: String,
    sk: String,
    kind: &'static str,
    at: &'a str,
    by: &'a str,
    action: &'a str,
    entry_id: &'a str,
    detail: &'a str,
    actor_key: &'a str,
    outcome_day: String,
    day: String,
    ts: String,
}

/// A key part no other change-log item written by this process, or (with overwhelming
/// likelihood) any other, uses, sorting in the order the changes were made: the clock in
/// nanoseconds, then the process id and a counter.
fn change_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("{nanos:020}-{}-{n:010}", std::process::id())
}

impl DynamoAllowlist {
    pub fn new(client: Client, table: impl Into<String>, audit_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            audit_table: audit_table.into(),
        }
    }

    fn log_item(&self, change: &AllowlistChange) -> Result<TransactWriteItem, Error> {
        let day = change.at.get(..10).unwrap_or(&change.at).to_owned();
        let item = ChangeLogItem {
            pk: format!("ALLOWLIST#{}", change.entry_id),
            // `at` is whole seconds: the unique part keeps two changes of one entry in the
            // same second (an add and a quick fix, two imports) from overwriting each other,
            // and orders them as they were made.
            sk: format!("CHANGE#{}#{}#{}", change.at, change_suffix(), change.action),
            kind: "allowlist",
            at: &change.at,
            by: &change.by,
            action: &change.action,
            entry_id: &change.entry_id,
            detail: &change.detail,
            actor_key: &change.by,
            outcome_day: format!("allowlist#{day}"),
            ts: format!("{}#allowlist#{}", change.at, change.entry_id),
            day,
        };
        let item =
            serde_dynamo::aws_sdk_dynamodb_1::to_item(&item).map_err(|source| Error::Mapping {
                what: "allowlist change".into(),
                source,
            })?;
        let put = Put::builder()
            .table_name(&self.audit_table)
            .set_item(Some(item))
            .build()
            .map_err(Error::build)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn entries_inner(&self) -> Result<Vec<AllowEntry>, Error> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            // The allowlist is small and read whole (then cached); a Scan is the right call here.
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::from_sdk("Scan", e))?;
            for item in output.items.unwrap_or_default() {
                let id = item
                    .get("id")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let spec: EntrySpec =
                    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|source| {
                        Error::Mapping {
                            what: format!("allowlist entry `{id}`"),
                            source,
                        }
                    })?;
                match spec.validate(&format!("`{id}`")) {
                    Ok(entry) => entries.push(entry),
                    Err(found) => problems.extend(found.into_iter().map(|p| p.to_string())),
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        if !problems.is_empty() {
            // An invalid entry must never silently approve or condemn: refuse the whole list.
            // The first few, named: the text rides on every event's record and metric line.
            const NAMED: usize = 5;
            let more = problems.len().saturating_sub(NAMED);
            problems.truncate(NAMED);
            let mut text = problems.join("; ");
            if more > 0 {
                text.push_str(&format!("; and {more} more"));
            }
            return Err(Error::Allowlist(format!("table `{}`: {text}", self.table)));
        }
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(entries)
    }

    fn entry_item(&self, entry: &AllowEntry) -> Result<TransactWriteItem, Error> {
        let item = serde_dynamo::aws_sdk_dynamodb_1::to_item(EntrySpec::from(entry)).map_err(
            |source| Error::Mapping {
                what: format!("allowlist entry `{}`", entry.id),
                source,
            },
        )?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(Error::build)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn put_inner(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), Error> {
        let items = vec![self.entry_item(entry)?, self.log_item(change)?];
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| Error::from_sdk("TransactWriteItems", e))?;
        Ok(())
    }

    /// Writes entries with their change records in `TransactWriteItems` calls of at most
    /// [`MAX_ENTRIES_PER_TRANSACTION`] entries (two items each: the entry and its change-log
    /// item, within DynamoDB's limit of 100 items per transaction).
    ///
    /// Up to that many entries the write is atomic: all or nothing. Beyond one transaction
    /// DynamoDB offers no atomicity, so the entries are applied transaction by transaction,
    /// in order; every item is built (and the caller has validated every entry) before the
    /// first call, so only a service failure can stop it part-way, and then the error
    /// ([`Error::PartialWrite`]) says how many entries were written. Writing the same
    /// entries again is harmless: a put replaces the entry with the same content.
    async fn put_many_inner(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), Error> {
        if entries.len() != changes.len() {
            return Err(Error::Inconsistent(format!(
                "put_many needs one change record per entry ({} entries, {} changes)",
                entries.len(),
                changes.len()
            )));
        }
        let mut transactions = Vec::new();
        for (chunk, logs) in entries
            .chunks(MAX_ENTRIES_PER_TRANSACTION)
            .zip(changes.chunks(MAX_ENTRIES_PER_TRANSACTION))
        {
            let mut items = Vec::with_capacity(chunk.len() * 2);
            for (entry, change) in chunk.iter().zip(logs) {
                items.push(self.entry_item(entry)?);
                items.push(self.log_item(change)?);
            }
            transactions.push((chunk.len(), items));
        }
        let mut written = 0;
        for (count, items) in transactions {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
                .map_err(|e| Error::from_sdk("TransactWriteItems", e));
            match result {
                Ok(_) => written += count,
                Err(err) if written == 0 => return Err(err),
                Err(err) => {
                    return Err(Error::PartialWrite {
                        written,
                        total: entries.len(),
                        per_transaction: MAX_ENTRIES_PER_TRANSACTION,
                        source: Box::new(err),
                    });
                }
            }
        }
        Ok(())
    }

    async fn remove_inner(&self, id: &str, change: &AllowlistChange) -> Result<bool, Error> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_owned()))
            .condition_expression("attribute_exists(id)")
            .build()
            .map_err(Error::build)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.log_item(change)?,
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => {
                let absent = matches!(err.as_service_error(), Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t))
                    if t.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed"));
                if absent {
                    Ok(false)
                } else {
                    Err(Error::from_sdk("TransactWriteItems", err))
                }
            }
        }
    }
}

impl AllowlistStore for DynamoAllowlist {
    async fn entries(&self) -> Result<Vec<AllowEntry>, PortError> {
        Ok(self.entries_inner().await?)
    }

    async fn put(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), PortError> {
        Ok(self.put_inner(entry, change).await?)
    }

    async fn remove(&self, id: &str, change: &AllowlistChange) -> Result<bool, PortError> {
        Ok(self.remove_inner(id, change).await?)
    }

    /// Atomic up to [`MAX_ENTRIES_PER_TRANSACTION`] entries; beyond that, applied one
    /// transaction at a time (see `put_many_inner`).
    async fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), PortError> {
        Ok(self.put_many_inner(entries, changes).await?)
    }
}
