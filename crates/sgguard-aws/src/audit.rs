//! [`DynamoAuditLog`]: the audit log in DynamoDB. One conditional transaction records an
//! event and its changes, so a duplicate delivery is detected by the table itself.
//!
//! Every item stays well under DynamoDB's 400 KB, whatever the rule count: each change is
//! its own item (written in transactions of 100, each checked against the event's lease),
//! the event item holds its report with the change list only while that is small (else the
//! head, `changes_apart`), and the raw record as text, gzip, or digest ([`raw`]). An event
//! whose changes span transactions is marked `changes_pending` until the last one lands, so
//! a retry after a crash between them takes the record over and writes them again.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sgguard_core::Outcome;
use sgguard_core::time::{format_time, parse_event_time};
use sgguard_responder::{
    AuditLog, Begin, ChangeReport, EventReport, InvalidRecord, Lease, PortError, RuleSnapshot,
};

use crate::error::Error;

mod raw;
mod reader;
use raw::StoredRaw;
pub use reader::{AccessPath, DEFAULT_QUERY_DAYS};

/// DynamoDB allows 100 items in one transaction; one is the event item (or the check of
/// its lease).
const MAX_CHANGES_PER_TRANSACTION: usize = 99;

/// A report whose JSON is larger than this keeps its changes in their own items only: the
/// event item (copied into every index that projects `report`) holds the head.
const INLINE_REPORT_MAX: usize = 64 * 1024;

type Item = HashMap<String, AttributeValue>;

fn is_false(value: &bool) -> bool {
    !*value
}

/// The report as stored on the event item, and whether its changes were left to the change
/// items (too many to inline).
fn stored_report(report: &EventReport) -> Result<(String, bool), Error> {
    let json = |report: &EventReport| {
        report.stored_json().map_err(|source| Error::Json {
            what: "report".into(),
            source,
        })
    };
    let full = json(report)?;
    if full.len() <= INLINE_REPORT_MAX {
        return Ok((full, false));
    }
    let head = EventReport {
        changes: Vec::new(),
        ..report.clone()
    };
    Ok((json(&head)?, true))
}

/// The audit table, with optional retention.
#[derive(Debug, Clone)]
pub struct DynamoAuditLog {
    client: Client,
    table: String,
    retention_days: Option<u32>,
}

/// The event item. `report` is the full [`EventReport`] as JSON; the flat attributes beside
/// it are the index keys and what people read in the console.
#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    event_id: String,
    event_name: String,
    event_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    outcome: String,
    reason: String,
    max_risk: String,
    recorded_at: String,
    report: String,
    /// The change list is only in the change items (`report` holds the head).
    #[serde(default, skip_serializing_if = "is_false")]
    changes_apart: bool,
    /// Some change items of a first delivery are not written yet: a retry takes over.
    #[serde(default, skip_serializing_if = "is_false")]
    changes_pending: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_key: Option<String>,
    outcome_day: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope_day: Option<String>,
    day: String,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    /// The attempt that may act on the event, and until when (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<i64>,
    /// Written by a live responder (not `replay` or a dry run).
    #[serde(default)]
    live: bool,
}

/// One rule change, indexed by rule id for its history.
#[derive(Debug, Serialize, Deserialize)]
struct ChangeItem {
    pk: String,
    sk: String,
    event_id: String,
    event_name: String,
    event_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
    outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_key: Option<String>,
    ts: String,
    direction: String,
    kind: String,
    risk: String,
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_by: Option<String>,
    change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    /// Written by a live responder: only such records carry the responder's intents.
    #[serde(default)]
    live: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct InvalidItem {
    pk: String,
    sk: String,
    key: String,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    received_at: String,
    outcome_day: String,
    day: String,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

fn event_pk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

fn day_of(time: &str) -> String {
    time.get(..10).unwrap_or(time).to_owned()
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

impl DynamoAuditLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention_days: None,
        }
    }

    /// Items expire (DynamoDB TTL) this many days after their event; `None` or 0 keeps
    /// them forever.
    pub fn with_retention_days(mut self, days: Option<u32>) -> Self {
        self.retention_days = days.filter(|days| *days > 0);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn expires_at(&self, event_time: &str) -> Option<i64> {
        let days = self.retention_days?;
        let time = parse_event_time(event_time).unwrap_or_else(Utc::now);
        // Checked: an absurd event time must not take the writer down.
        let keep = chrono::TimeDelta::try_days(i64::from(days))?;
        Some(time.checked_add_signed(keep)?.timestamp())
    }

    /// The event item of a first delivery, with its raw record; `changes_pending` when its
    /// change items take more than the first transaction.
    fn event_item(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        changes_pending: bool,
    ) -> Result<Item, Error> {
        let event_id = report.event_id.clone().unwrap_or_default();
        let event_time = report.event_time.clone().unwrap_or_default();
        let day = day_of(&event_time);
        let (report_json, changes_apart) = stored_report(report)?;
        let item = EventItem {
            pk: event_pk(&event_id),
            sk: "EVENT".into(),
            event_name: report.event_name.clone().unwrap_or_default(),
            account: non_empty(&report.account),
            region: non_empty(&report.region),
            group_id: non_empty(&report.group_id).or_else(|| non_empty(&report.group_name)),
            actor: non_empty(&report.actor),
            outcome: report.outcome.as_str().into(),
            reason: report.reason.clone(),
            max_risk: report.max_risk().as_str().into(),
            recorded_at: format_time(&Utc::now()),
            report: report_json,
            changes_apart,
            changes_pending,
            group_key: non_empty(&report.group_id).or_else(|| non_empty(&report.group_name)),
            actor_key: non_empty(&report.actor),
            outcome_day: format!("{}#{day}", report.outcome.as_str()),
            scope_day: match (non_empty(&report.account), non_empty(&report.region)) {
                (Some(a), Some(r)) => Some(format!("{a}#{r}#{day}")),
                _ => None,
            },
            ts: format!("{event_time}#{event_id}"),
            day,
            expires_at: self.expires_at(&event_time),
            event_id,
            event_time,
            lease_owner: Some(lease.owner.clone()),
            lease_until: Some(lease.until),
            live: lease.live,
        };
        let mut item = to_item(&item)?;
        StoredRaw::keep_in(&mut item, raw)?;
        Ok(item)
    }

    fn change_items(&self, report: &EventReport, live: bool) -> Result<Vec<ChangeItem>, Error> {
        let event_id = report.event_id.clone().unwrap_or_default();
        let event_time = report.event_time.clone().unwrap_or_default();
        report
            .changes
            .iter()
            .enumerate()
            .map(|(i, change)| {
                Ok(ChangeItem {
                    pk: event_pk(&event_id),
                    sk: format!("CHANGE#{i:05}"),
                    event_id: event_id.clone(),
                    event_name: report.event_name.clone().unwrap_or_default(),
                    event_time: event_time.clone(),
                    group_id: non_empty(&report.group_id),
                    actor: non_empty(&report.actor),
                    outcome: report.outcome.as_str().into(),
                    rule_key: non_empty(&change.rule_id),
                    ts: format!("{event_time}#{event_id}#{i:05}"),
                    direction: change.direction.as_str().into(),
                    kind: change.kind.as_str().into(),
                    risk: change.risk.as_str().into(),
                    action: change.action.as_str().into(),
                    approved_by: change.approved_by.clone(),
                    change: to_json("change", change)?,
                    expires_at: self.expires_at(&event_time),
                    live,
                })
            })
            .collect()
    }

    fn put<T: Serialize>(
        &self,
        item: &T,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, Error> {
        self.put_item(to_item(item)?, condition)
    }

    fn put_item(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(Error::build)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A check, within a transaction, that `lease` still holds the event record.
    fn lease_check(&self, event_id: &str, lease: &Lease) -> Result<TransactWriteItem, Error> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(event_pk(event_id)))
            .key("sk", AttributeValue::S("EVENT".into()))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .build()
            .map_err(Error::build)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Writes `changes` in transactions of [`MAX_CHANGES_PER_TRANSACTION`], each checked
    /// against `lease`, with `last` (an update of the event item under the same lease) in the
    /// final one: `last` lands only when every change has.
    async fn write_changes(
        &self,
        event_id: &str,
        changes: &[ChangeItem],
        lease: &Lease,
        last: TransactWriteItem,
    ) -> Result<(), Error> {
        let mut chunks: Vec<&[ChangeItem]> = changes.chunks(MAX_CHANGES_PER_TRANSACTION).collect();
        let final_chunk = chunks.pop().unwrap_or_default();
        for chunk in chunks {
            let mut items = vec![self.lease_check(event_id, lease)?];
            for change in chunk {
                items.push(self.put(change, None)?);
            }
            self.send_transaction(event_id, items).await?;
        }
        let mut items = vec![last];
        for change in final_chunk {
            items.push(self.put(change, None)?);
        }
        self.send_transaction(event_id, items).await
    }

    /// One transaction under a lease: a failed condition means the lease was lost (or the
    /// event never begun).
    async fn send_transaction(
        &self,
        event_id: &str,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), Error> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| Error::from_sdk("TransactWriteItems", e));
        match result {
            Err(err)
                if err.code() == Some("TransactionCanceledException")
                    && err
                        .service_message()
                        .is_some_and(|m| m.contains("ConditionalCheckFailed")) =>
            {
                match self.event_item_stored(event_id).await? {
                    Some(_) => Err(Error::LeaseLost {
                        event_id: event_id.to_owned(),
                    }),
                    None => Err(Error::Inconsistent(format!(
                        "no event {event_id} to complete: it was never begun"
                    ))),
                }
            }
            Err(err) => Err(err),
            Ok(_) => Ok(()),
        }
    }

    async fn begin_inner(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, Error> {
        let event_id = report.event_id.clone().unwrap_or_default();
        let changes = self.change_items(report, lease.live)?;
        let first = changes.len().min(MAX_CHANGES_PER_TRANSACTION);
        let (first, rest) = changes.split_at(first);
        let event = self.put_item(
            self.event_item(report, raw, lease, !rest.is_empty())?,
            Some("attribute_not_exists(pk)"),
        )?;
        let mut items = vec![event];
        for change in first {
            items.push(self.put(change, None)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        if let Err(err) = result {
            let duplicate = err.as_service_error().is_some_and(|e| {
                e.is_transaction_canceled_exception()
                    && matches!(e, aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t)
                        if t.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed"))
            });
            if !duplicate {
                return Err(Error::from_sdk("TransactWriteItems", err));
            }
            return self.take_over(&event_id, lease, take_over).await;
        }
        if !rest.is_empty() {
            let done = Update::builder()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(event_pk(&event_id)))
                .key("sk", AttributeValue::S("EVENT".into()))
                .update_expression("REMOVE changes_pending")
                .condition_expression("lease_owner = :owner")
                .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
                .build()
                .map_err(Error::build)?;
            let done = TransactWriteItem::builder().update(done).build();
            self.write_changes(&event_id, rest, lease, done).await?;
        }
        Ok(Begin::Inserted)
    }

    /// An existing record: settled, busy, or (when its outcome is one to take over and its
    /// lease has expired) ours now, by a conditional update that only one worker can win.
    async fn take_over(
        &self,
        event_id: &str,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, Error> {
        let Some(item) = self.event_item_stored(event_id).await? else {
            return Err(Error::Inconsistent(
                "the event vanished between the conditional write and the read".into(),
            ));
        };
        let stored = self.report_of(&item).await?;
        // A run that never acts never takes over what a live responder is doing: it would
        // rewrite the record without the live attempt's intents.
        if !lease.live && item.live && !item.changes_pending {
            return Ok(Begin::Existing(Box::new(stored)));
        }
        let reported_only = lease.live && !item.live;
        // A first delivery that stopped between its transactions is finished by the retry.
        let unfinished = item.changes_pending;
        if !reported_only && !unfinished && !take_over.iter().any(|o| o.as_str() == item.outcome) {
            return Ok(Begin::Existing(Box::new(stored)));
        }
        let now = Utc::now().timestamp();
        let busy = |until: i64| Begin::Busy {
            until: chrono::DateTime::from_timestamp(until, 0)
                .map(|t| format_time(&t))
                .unwrap_or_else(|| until.to_string()),
        };
        if let Some(until) = item.lease_until.filter(|until| *until > now) {
            return Ok(busy(until));
        }
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(event_pk(event_id)))
            .key("sk", AttributeValue::S("EVENT".into()))
            .update_expression("SET lease_owner = :owner, lease_until = :until, live = :live")
            .condition_expression(
                "outcome = :outcome AND (attribute_not_exists(lease_until) OR lease_until <= :now) AND (attribute_not_exists(live) OR live = :was_live)",
            )
            .expression_attribute_values(":live", AttributeValue::Bool(lease.live))
            .expression_attribute_values(":was_live", AttributeValue::Bool(item.live))
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(":until", AttributeValue::N(lease.until.to_string()))
            .expression_attribute_values(":outcome", AttributeValue::S(item.outcome.clone()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(Begin::Resumed {
                stored: Box::new(stored),
                was_live: item.live,
            }),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Another worker took it between the read and the update, or this one did:
                // an update applied whose answer was lost (an attempt timeout) and that the
                // SDK sent again fails its own condition. The lease then is ours.
                let ours = self
                    .event_item_stored(event_id)
                    .await?
                    .is_some_and(|now| now.lease_owner.as_deref() == Some(lease.owner.as_str()));
                if ours {
                    return Ok(Begin::Resumed {
                        stored: Box::new(stored),
                        was_live: item.live,
                    });
                }
                Ok(busy(lease.until))
            }
            Err(err) => Err(Error::from_sdk("UpdateItem", err)),
        }
    }

    async fn complete_inner(&self, report: &EventReport, lease: &Lease) -> Result<(), Error> {
        let event_id = report.event_id.clone().unwrap_or_default();
        let day = day_of(report.event_time.as_deref().unwrap_or_default());
        let (report_json, changes_apart) = stored_report(report)?;
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(event_pk(&event_id)))
            .key("sk", AttributeValue::S("EVENT".into()))
            .update_expression("SET outcome = :outcome, reason = :reason, report = :report, changes_apart = :apart, outcome_day = :outcome_day, live = :live REMOVE lease_owner, lease_until, changes_pending")
            .expression_attribute_values(":live", AttributeValue::Bool(lease.live))
            .condition_expression("attribute_exists(pk) AND lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(":outcome", AttributeValue::S(report.outcome.as_str().into()))
            .expression_attribute_values(":reason", AttributeValue::S(report.reason.clone()))
            .expression_attribute_values(":report", AttributeValue::S(report_json))
            .expression_attribute_values(":apart", AttributeValue::Bool(changes_apart))
            .expression_attribute_values(":outcome_day", AttributeValue::S(format!("{}#{day}", report.outcome.as_str())))
            .build()
            .map_err(Error::build)?;
        let update = TransactWriteItem::builder().update(update).build();
        let changes = self.change_items(report, lease.live)?;
        self.write_changes(&event_id, &changes, lease, update).await
    }

    /// The stored report of an event item, its change list read from the change items when
    /// it was too long to inline.
    async fn report_of(&self, item: &EventItem) -> Result<EventReport, Error> {
        let mut report: EventReport =
            serde_json::from_str(&item.report).map_err(|source| Error::Json {
                what: format!("event {}", item.event_id),
                source,
            })?;
        if item.changes_apart {
            report.changes = self.stored_changes(&item.event_id).await?;
        }
        Ok(report)
    }

    /// The change items of one event, in order (one `Query`, paginated).
    async fn stored_changes(&self, event_id: &str) -> Result<Vec<ChangeReport>, Error> {
        let mut changes = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :change)")
                .expression_attribute_values(":pk", AttributeValue::S(event_pk(event_id)))
                .expression_attribute_values(":change", AttributeValue::S("CHANGE#".into()))
                .projection_expression("#change")
                .expression_attribute_names("#change", "change")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::from_sdk("Query", e))?;
            for item in output.items.unwrap_or_default() {
                let Some(AttributeValue::S(text)) = item.get("change") else {
                    return Err(Error::Inconsistent(format!(
                        "a change item of event {event_id} has no change"
                    )));
                };
                changes.push(serde_json::from_str(text).map_err(|source| Error::Json {
                    what: format!("a change of event {event_id}"),
                    source,
                })?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(changes);
            }
        }
    }

    async fn event_item_stored(&self, event_id: &str) -> Result<Option<EventItem>, Error> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(event_pk(event_id)))
            .key("sk", AttributeValue::S("EVENT".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::from_sdk("GetItem", e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|source| Error::Mapping {
                    what: format!("event {event_id}"),
                    source,
                })
            })
            .transpose()
    }

    async fn event_inner(&self, event_id: &str) -> Result<Option<EventReport>, Error> {
        match self.event_item_stored(event_id).await? {
            Some(item) => self.report_of(&item).await.map(Some),
            None => Ok(None),
        }
    }

    /// The raw CloudTrail record of one stored event (or, for a record too large to keep,
    /// its digest and size).
    pub async fn raw_event(&self, event_id: &str) -> Result<Option<Value>, Error> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(event_pk(event_id)))
            .key("sk", AttributeValue::S("EVENT".into()));
        // RAW is a reserved word in DynamoDB expressions: every name goes by placeholder.
        let mut names = Vec::new();
        for (i, attribute) in StoredRaw::ATTRIBUTES.iter().enumerate() {
            let name = format!("#r{i}");
            request = request.expression_attribute_names(&name, *attribute);
            names.push(name);
        }
        let output = request
            .projection_expression(names.join(", "))
            .send()
            .await
            .map_err(|e| Error::from_sdk("GetItem", e))?;
        match output.item {
            Some(item) => StoredRaw::decode(&item, event_id),
            None => Ok(None),
        }
    }

    async fn rule_history_inner(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, Error> {
        let items = self
            .query_index("by-rule", "rule_key", rule_id, None, None, true, None)
            .await?;
        Self::snapshots_of(rule_id, items)
    }

    /// One page of a rule's history, newest first (see [`AuditLog::rule_history_page`]):
    /// one `Query` on `by-rule` whose sort key (`<eventTime>#<eventID>#n`) orders it.
    async fn rule_history_page_inner(
        &self,
        rule_id: &str,
        until: &str,
        before: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<RuleSnapshot>, Error> {
        // Every change of an event sorts above `<time>#<id>` and below `<time>#<id>\u{10ffff}`.
        let upper = match before {
            Some((time, id)) => format!("{time}#{id}"),
            None => format!("{until}#\u{10ffff}"),
        };
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("by-rule")
            .key_condition_expression("rule_key = :k AND ts < :upper")
            .expression_attribute_values(":k", AttributeValue::S(rule_id.to_owned()))
            .expression_attribute_values(":upper", AttributeValue::S(upper))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| Error::from_sdk("Query", e))?;
        Self::snapshots_of(rule_id, output.items.unwrap_or_default())
    }

    /// Change items as history snapshots, in the order given.
    fn snapshots_of(rule_id: &str, items: Vec<Item>) -> Result<Vec<RuleSnapshot>, Error> {
        items
            .into_iter()
            .map(|item| {
                let item: ChangeItem =
                    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|source| {
                        Error::Mapping {
                            what: format!("rule {rule_id}"),
                            source,
                        }
                    })?;
                let change: ChangeReport =
                    serde_json::from_str(&item.change).map_err(|source| Error::Json {
                        what: format!("rule {rule_id}"),
                        source,
                    })?;
                Ok(RuleSnapshot {
                    event_id: item.event_id,
                    event_time: item.event_time,
                    event_name: item.event_name,
                    group_id: item.group_id,
                    actor: item.actor,
                    outcome: item
                        .outcome
                        .parse()
                        .unwrap_or(sgguard_core::Outcome::Recorded),
                    change,
                    live: item.live,
                })
            })
            .collect()
    }

    /// The group's events later than `event_time` (the `by-group` index, one Query), as the
    /// rule changes they recorded.
    async fn changes_after_inner(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, Error> {
        // `ts` is `<eventTime>#<eventID>`: everything after every id at `event_time`.
        let since = format!("{event_time}#\u{10ffff}");
        let items = self
            .query_index(
                "by-group",
                "group_key",
                group_id,
                Some(&since),
                None,
                true,
                None,
            )
            .await?;
        let mut snapshots = Vec::new();
        for item in items {
            let item: EventItem =
                serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|source| {
                    Error::Mapping {
                        what: format!("group {group_id}"),
                        source,
                    }
                })?;
            let report = self.report_of(&item).await?;
            for change in report.changes.into_iter().filter(|c| c.rule_id.is_some()) {
                snapshots.push(RuleSnapshot {
                    event_id: item.event_id.clone(),
                    event_time: item.event_time.clone(),
                    event_name: item.event_name.clone(),
                    group_id: item.group_id.clone(),
                    actor: item.actor.clone(),
                    outcome: report.outcome,
                    change,
                    live: item.live,
                });
            }
        }
        Ok(snapshots)
    }

    /// Queries one index over a time range, following pagination up to `limit` items.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is one field of the record; a builder would only rename them"
    )]
    async fn query_index(
        &self,
        index: &str,
        key_name: &str,
        key_value: &str,
        since: Option<&str>,
        until: Option<&str>,
        ascending: bool,
        limit: Option<usize>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let mut condition = "#k = :k".to_owned();
        let mut values =
            HashMap::from([(":k".to_owned(), AttributeValue::S(key_value.to_owned()))]);
        match (since, until) {
            (Some(s), Some(u)) => {
                condition.push_str(" AND ts BETWEEN :since AND :until");
                values.insert(":since".into(), AttributeValue::S(s.to_owned()));
                values.insert(":until".into(), AttributeValue::S(format!("{u}\u{10ffff}")));
            }
            (Some(s), None) => {
                condition.push_str(" AND ts >= :since");
                values.insert(":since".into(), AttributeValue::S(s.to_owned()));
            }
            (None, Some(u)) => {
                condition.push_str(" AND ts <= :until");
                values.insert(":until".into(), AttributeValue::S(format!("{u}\u{10ffff}")));
            }
            (None, None) => {}
        }
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&condition)
                .expression_attribute_names("#k", key_name)
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(ascending)
                .set_limit(limit.and_then(|l| i32::try_from(l).ok()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::from_sdk("Query", e))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() || limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        if let Some(limit) = limit {
            items.truncate(limit);
        }
        Ok(items)
    }
}

fn to_item<T: Serialize>(item: &T) -> Result<Item, Error> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(item).map_err(|source| Error::Mapping {
        what: "item".into(),
        source,
    })
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|source| Error::Json {
        what: what.to_owned(),
        source,
    })
}

impl AuditLog for DynamoAuditLog {
    async fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, PortError> {
        Ok(self.begin_inner(report, raw, lease, take_over).await?)
    }

    async fn complete(&self, report: &EventReport, lease: &Lease) -> Result<(), PortError> {
        Ok(self.complete_inner(report, lease).await?)
    }

    async fn release(&self, event_id: &str, lease: &Lease) -> Result<(), PortError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(event_pk(event_id)))
            .key("sk", AttributeValue::S("EVENT".into()))
            .update_expression("REMOVE lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            // Not ours any more (or never stored): nothing to release.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(Error::from_sdk("UpdateItem", err).into()),
        }
    }

    async fn record_invalid(&self, record: &InvalidRecord) -> Result<(), PortError> {
        let day = day_of(&record.received_at);
        let item = InvalidItem {
            pk: format!("INVALID#{}", record.key),
            sk: "INVALID".into(),
            key: record.key.clone(),
            error: record.error.clone(),
            origin: record.origin.as_ref().map(|o| o.to_string()),
            received_at: record.received_at.clone(),
            outcome_day: format!("invalid#{day}"),
            ts: format!("{}#{}", record.received_at, record.key),
            day,
            expires_at: self.expires_at(&record.received_at),
        };
        // Kept as an event's raw record is (text, gzip or digest): an invalid payload can be
        // larger than an item.
        let mut item = to_item(&item)?;
        StoredRaw::keep_in(&mut item, &record.raw)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::from_sdk("PutItem", e))?;
        Ok(())
    }

    async fn rule_history_page(
        &self,
        rule_id: &str,
        until: &str,
        before: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        Ok(self
            .rule_history_page_inner(rule_id, until, before, limit)
            .await?)
    }

    async fn rule_history(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, PortError> {
        Ok(self.rule_history_inner(rule_id).await?)
    }

    async fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        Ok(self.changes_after_inner(group_id, event_time).await?)
    }

    async fn event(&self, event_id: &str) -> Result<Option<EventReport>, PortError> {
        Ok(self.event_inner(event_id).await?)
    }
}
