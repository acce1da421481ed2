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
            sk: format!("CHANGE#{}#{}", change.at, change.action),
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
            return Err(Error::Allowlist(format!(
                "table `{}`: {}",
                self.table,
                problems.join("; ")
            )));
        }
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(entries)
    }

    async fn put_inner(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), Error> {
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
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.log_item(change)?,
        ];
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| Error::from_sdk("TransactWriteItems", e))?;
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
}
