//! [`AuditReader`] for [`DynamoAuditLog`]: every filter combination is answered by `GetItem`
//! or by `Query` on one index over a time range, never by a `Scan`. [`AccessPath`] picks the
//! most selective index the filter names:
//!
//! | filter given (first that applies)        | requests |
//! |------------------------------------------|----------|
//! | event id                                 | `GetItem` of the event item |
//! | rule id                                  | `Query` `by-rule` (its change items), then `BatchGetItem` of their events |
//! | group                                    | `Query` `by-group` |
//! | exact actor ARN (not an IAM role ARN)    | `Query` `by-actor` |
//! | outcomes                                 | `Query` `by-outcome-day`, per outcome, per day of the range |
//! | account and region                       | `Query` `by-scope-day`, per day |
//! | anything else (glob actor, role ARN, …)  | `Query` `by-day`, per day |
//!
//! An IAM role ARN matches the role's sessions, which are recorded under their session ARNs,
//! so it cannot be a `by-actor` key. The day-partitioned indexes are walked newest day first
//! and stop at the limit; without `since` they cover the last [`DEFAULT_QUERY_DAYS`] days.
//! Pagination is followed to the limit, and every event found passes
//! [`AuditFilter::matches`], the check every store applies.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sgguard_core::time::format_time;
use sgguard_core::{Outcome, RiskLevel};
use sgguard_responder::{AllowlistChange, AuditFilter, AuditReader, EventReport, PortError};

use super::{DynamoAuditLog, event_pk};
use crate::error::Error;

/// Without `since`, the day-partitioned indexes (`by-outcome-day`, `by-scope-day`, `by-day`)
/// are searched over this many days back from `until` (or now).
pub const DEFAULT_QUERY_DAYS: i64 = 30;

/// `BatchGetItem` takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;

/// How often unprocessed `BatchGetItem` keys (throttling) are asked for again.
const BATCH_GET_ATTEMPTS: u32 = 8;

type Item = HashMap<String, AttributeValue>;

/// How one [`AuditFilter`] is read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessPath {
    /// `GetItem` of the event item.
    EventId(String),
    /// `Query` on `by-rule` (the rule's change items), then `BatchGetItem` of their events.
    Rule(String),
    /// `Query` on `by-group` (the group id, or the name when the call named only the name).
    Group(String),
    /// `Query` on `by-actor` with an exact actor ARN.
    Actor(String),
    /// `Query` on `by-outcome-day`, one per outcome per day.
    OutcomeDays(Vec<Outcome>),
    /// `Query` on `by-scope-day`, one per day.
    ScopeDays { account: String, region: String },
    /// `Query` on `by-day`, one per day.
    Days,
}

/// Whether `arn` names an IAM role: its sessions carry their own ARNs
/// (`arn:aws:sts::…:assumed-role/NAME/SESSION`) and the role only as the principal.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", _, _, resource] if resource.starts_with("role/"))
}

impl AccessPath {
    /// The most selective path for `filter`.
    pub fn for_filter(filter: &AuditFilter) -> Self {
        if let Some(id) = &filter.event_id {
            return Self::EventId(id.clone());
        }
        if let Some(rule) = &filter.rule_id {
            return Self::Rule(rule.clone());
        }
        if let Some(group) = &filter.group_id {
            return Self::Group(group.clone());
        }
        if let Some(actor) = filter
            .actor
            .as_ref()
            .filter(|a| !filter.actor_is_glob() && !is_role_arn(a))
        {
            return Self::Actor(actor.clone());
        }
        if !filter.outcomes.is_empty() {
            let mut outcomes = filter.outcomes.clone();
            outcomes.sort_unstable();
            outcomes.dedup();
            return Self::OutcomeDays(outcomes);
        }
        if let (Some(account), Some(region)) = (&filter.account, &filter.region) {
            return Self::ScopeDays {
                account: account.clone(),
                region: region.clone(),
            };
        }
        Self::Days
    }

    /// The index queried; `None` for a `GetItem`.
    pub fn index(&self) -> Option<&'static str> {
        match self {
            Self::EventId(_) => None,
            Self::Rule(_) => Some("by-rule"),
            Self::Group(_) => Some("by-group"),
            Self::Actor(_) => Some("by-actor"),
            Self::OutcomeDays(_) => Some("by-outcome-day"),
            Self::ScopeDays { .. } => Some("by-scope-day"),
            Self::Days => Some("by-day"),
        }
    }

    /// Whether the index is partitioned by day, so a range of days is walked.
    pub fn is_day_partitioned(&self) -> bool {
        matches!(
            self,
            Self::OutcomeDays(_) | Self::ScopeDays { .. } | Self::Days
        )
    }
}

/// One `Query`: an index, its partition key, and a range of `ts` (`<time>#<id>…`).
#[derive(Debug)]
struct IndexQuery<'a> {
    index: &'static str,
    key: &'static str,
    value: String,
    since: Option<&'a str>,
    until: Option<&'a str>,
}

/// The days a day-partitioned walk covers: `until` (or now) back to `since` (or
/// [`DEFAULT_QUERY_DAYS`] before `until`).
fn window(filter: &AuditFilter, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let until = filter.until.unwrap_or(now);
    let since = filter
        .since
        .unwrap_or(until - Duration::days(DEFAULT_QUERY_DAYS));
    (since, until)
}

fn text_attr(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// An event read from an index: its report, whose change list is still to be read when it
/// was stored apart (too long to inline).
struct IndexedEvent {
    report: EventReport,
    changes_apart: bool,
}

/// The event in an index item, when it is an event item (`sk` = `EVENT`: invalid records
/// and allowlist changes share the day indexes, change items the rule index) that passes
/// the filter. A head stored without its changes is judged on its `max_risk`; the rule
/// filter never reaches here (it has its own index).
fn event_of(item: &Item, filter: &AuditFilter) -> Result<Option<IndexedEvent>, Error> {
    if text_attr(item, "sk").as_deref() != Some("EVENT") {
        return Ok(None);
    }
    let pk = text_attr(item, "pk").unwrap_or_default();
    let Some(text) = text_attr(item, "report") else {
        return Err(Error::Inconsistent(format!(
            "the event item `{pk}` has no report"
        )));
    };
    let report: EventReport = serde_json::from_str(&text).map_err(|source| Error::Json {
        what: format!("event item `{pk}`"),
        source,
    })?;
    let changes_apart = matches!(item.get("changes_apart"), Some(AttributeValue::Bool(true)));
    let matches = if changes_apart {
        let risk_ok = filter.min_risk.is_none_or(|min| {
            text_attr(item, "max_risk")
                .and_then(|risk| risk.parse::<RiskLevel>().ok())
                .is_some_and(|risk| risk >= min)
        });
        let head_filter = AuditFilter {
            min_risk: None,
            rule_id: None,
            ..filter.clone()
        };
        risk_ok && head_filter.matches(&report)
    } else {
        filter.matches(&report)
    };
    Ok(matches.then_some(IndexedEvent {
        report,
        changes_apart,
    }))
}

/// An allowlist change item (`ALLOWLIST#<id>` / `CHANGE#…`) that passes the filter.
fn change_of(item: &Item, filter: &AuditFilter) -> Option<AllowlistChange> {
    if !text_attr(item, "pk").is_some_and(|pk| pk.starts_with("ALLOWLIST#")) {
        return None;
    }
    let change = AllowlistChange {
        at: text_attr(item, "at")?,
        by: text_attr(item, "by").unwrap_or_default(),
        action: text_attr(item, "action").unwrap_or_default(),
        entry_id: text_attr(item, "entry_id").unwrap_or_default(),
        detail: text_attr(item, "detail").unwrap_or_default(),
    };
    filter.matches_change(&change).then_some(change)
}

/// Newest first: event time, then event id, both descending.
fn sort_newest_first(reports: &mut [EventReport]) {
    reports.sort_by(|a, b| (&b.event_time, &b.event_id).cmp(&(&a.event_time, &a.event_id)));
}

fn sort_changes_newest_first(changes: &mut [AllowlistChange]) {
    changes.sort_by(|a, b| (&b.at, &b.entry_id).cmp(&(&a.at, &a.entry_id)));
}

/// Each day from `until` back to `since`, newest first, as `YYYY-MM-DD`.
fn days(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
    let first = since.date_naive();
    let mut day = until.date_naive();
    let mut out = Vec::new();
    while day >= first {
        out.push(day.format("%Y-%m-%d").to_string());
        let Some(previous) = day.pred_opt() else {
            break;
        };
        day = previous;
    }
    out
}

impl DynamoAuditLog {
    /// One index `Query`, newest first, following pagination until `want` items passed
    /// `keep` or the range is exhausted. Only the `projection` attributes are read.
    async fn read_index<T>(
        &self,
        query: &IndexQuery<'_>,
        projection: &[&str],
        want: usize,
        mut keep: impl FnMut(&Item) -> Result<Option<T>, Error> + Send,
    ) -> Result<Vec<T>, Error> {
        let mut found = Vec::new();
        if want == 0 {
            return Ok(found);
        }
        let mut condition = "#k = :k".to_owned();
        let mut values = HashMap::from([(":k".to_owned(), AttributeValue::S(query.value.clone()))]);
        // `until` is inclusive: every `ts` of that second (`<time>#<id>…`) sorts below it.
        let upper = |u: &str| AttributeValue::S(format!("{u}\u{10ffff}"));
        match (query.since, query.until) {
            (Some(s), Some(u)) => {
                condition.push_str(" AND #ts BETWEEN :since AND :until");
                values.insert(":since".into(), AttributeValue::S(s.to_owned()));
                values.insert(":until".into(), upper(u));
            }
            (Some(s), None) => {
                condition.push_str(" AND #ts >= :since");
                values.insert(":since".into(), AttributeValue::S(s.to_owned()));
            }
            (None, Some(u)) => {
                condition.push_str(" AND #ts <= :until");
                values.insert(":until".into(), upper(u));
            }
            (None, None) => {}
        }
        let mut names = HashMap::from([("#k".to_owned(), query.key.to_owned())]);
        if query.since.is_some() || query.until.is_some() {
            names.insert("#ts".to_owned(), "ts".to_owned());
        }
        let mut projected = Vec::new();
        for (i, attribute) in projection.iter().enumerate() {
            let name = format!("#p{i}");
            names.insert(name.clone(), (*attribute).to_owned());
            projected.push(name);
        }
        let page = i32::try_from(want.clamp(25, 1000)).unwrap_or(1000);
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(query.index)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .projection_expression(projected.join(", "))
                .scan_index_forward(false)
                .limit(page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::from_sdk("Query", e))?;
            for item in output.items.unwrap_or_default() {
                if let Some(kept) = keep(&item)? {
                    found.push(kept);
                    if found.len() >= want {
                        return Ok(found);
                    }
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Event items of one index partition that pass `filter`, newest first.
    async fn events_in(
        &self,
        query: &IndexQuery<'_>,
        filter: &AuditFilter,
        want: usize,
    ) -> Result<Vec<EventReport>, Error> {
        let found = self
            .read_index(
                query,
                &["pk", "sk", "report", "changes_apart", "max_risk"],
                want,
                |item| event_of(item, filter),
            )
            .await?;
        let mut reports = Vec::with_capacity(found.len());
        for event in found {
            reports.push(self.with_changes(event).await?);
        }
        Ok(reports)
    }

    /// The full report of an indexed event, its changes read when stored apart.
    async fn with_changes(&self, event: IndexedEvent) -> Result<EventReport, Error> {
        let mut report = event.report;
        if event.changes_apart {
            let event_id = report.event_id.clone().unwrap_or_default();
            report.changes = self.stored_changes(&event_id).await?;
        }
        Ok(report)
    }

    /// The stored reports of these events (`BatchGetItem`, 100 keys per request, retrying
    /// unprocessed keys), by event id.
    async fn reports_of(
        &self,
        event_ids: &[String],
    ) -> Result<HashMap<String, EventReport>, Error> {
        let mut reports = HashMap::new();
        for chunk in event_ids.chunks(BATCH_GET_MAX) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        ("pk".to_owned(), AttributeValue::S(event_pk(id))),
                        ("sk".to_owned(), AttributeValue::S("EVENT".into())),
                    ])
                })
                .collect();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("#pk, #sk, #report, #apart")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_names("#report", "report")
                .expression_attribute_names("#apart", "changes_apart")
                .build()
                .map_err(Error::build)?;
            let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
            let mut attempt = 0;
            while let Some(items) = pending.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| Error::from_sdk("BatchGetItem", e))?;
                let found = output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                for item in &found {
                    if let Some(event) = event_of(item, &AuditFilter::default())? {
                        let report = self.with_changes(event).await?;
                        reports.insert(report.event_id.clone().unwrap_or_default(), report);
                    }
                }
                if let Some(unprocessed) = output.unprocessed_keys.filter(|u| !u.is_empty()) {
                    attempt += 1;
                    if attempt >= BATCH_GET_ATTEMPTS {
                        return Err(Error::Inconsistent(format!(
                            "BatchGetItem left keys unprocessed after {attempt} attempts (throttled?)"
                        )));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                    pending = Some(unprocessed);
                }
            }
        }
        Ok(reports)
    }

    /// Events matching `filter`, newest first, at most `filter.limit` (see the module docs
    /// for the requests each filter makes).
    pub async fn query_events(&self, filter: &AuditFilter) -> Result<Vec<EventReport>, Error> {
        let want = filter.limit.unwrap_or(usize::MAX);
        if want == 0 || matches!((filter.since, filter.until), (Some(s), Some(u)) if s > u) {
            return Ok(Vec::new());
        }
        let since = filter.since.map(|t| format_time(&t));
        let until = filter.until.map(|t| format_time(&t));
        let path = AccessPath::for_filter(filter);
        let mut found = match &path {
            AccessPath::EventId(id) => self
                .event_inner(id)
                .await?
                .filter(|r| filter.matches(r))
                .into_iter()
                .collect(),
            AccessPath::Rule(rule) => {
                let query = IndexQuery {
                    index: "by-rule",
                    key: "rule_key",
                    value: rule.clone(),
                    since: since.as_deref(),
                    until: until.as_deref(),
                };
                let mut seen = HashSet::new();
                let ids: Vec<String> = self
                    .read_index(&query, &["event_id"], usize::MAX, |item| {
                        Ok(text_attr(item, "event_id").filter(|id| seen.insert(id.clone())))
                    })
                    .await?;
                let mut found = Vec::new();
                // Newest first already (by-rule sorts on the change's `ts`), so stop early.
                for chunk in ids.chunks(BATCH_GET_MAX) {
                    let mut reports = self.reports_of(chunk).await?;
                    found.extend(
                        chunk
                            .iter()
                            .filter_map(|id| reports.remove(id))
                            .filter(|r| filter.matches(r)),
                    );
                    if found.len() >= want {
                        break;
                    }
                }
                found
            }
            AccessPath::Group(value) | AccessPath::Actor(value) => {
                let (index, key) = if matches!(path, AccessPath::Group(_)) {
                    ("by-group", "group_key")
                } else {
                    ("by-actor", "actor_key")
                };
                let query = IndexQuery {
                    index,
                    key,
                    value: value.clone(),
                    since: since.as_deref(),
                    until: until.as_deref(),
                };
                self.events_in(&query, filter, want).await?
            }
            AccessPath::OutcomeDays(_) | AccessPath::ScopeDays { .. } | AccessPath::Days => {
                let (from, to) = window(filter, Utc::now());
                if from > to {
                    return Ok(Vec::new());
                }
                let from_text = format_time(&from);
                let mut found = Vec::new();
                for day in days(from, to) {
                    let partitions: Vec<(&'static str, &'static str, String)> = match &path {
                        AccessPath::OutcomeDays(outcomes) => outcomes
                            .iter()
                            .map(|o| ("by-outcome-day", "outcome_day", format!("{o}#{day}")))
                            .collect(),
                        AccessPath::ScopeDays { account, region } => vec![(
                            "by-scope-day",
                            "scope_day",
                            format!("{account}#{region}#{day}"),
                        )],
                        _ => vec![("by-day", "day", day.clone())],
                    };
                    let mut today = Vec::new();
                    for (index, key, value) in partitions {
                        let query = IndexQuery {
                            index,
                            key,
                            value,
                            since: Some(&from_text),
                            until: until.as_deref(),
                        };
                        today.extend(self.events_in(&query, filter, want - found.len()).await?);
                    }
                    sort_newest_first(&mut today);
                    found.extend(today);
                    if found.len() >= want {
                        break;
                    }
                }
                found
            }
        };
        sort_newest_first(&mut found);
        found.truncate(want);
        Ok(found)
    }

    /// Allowlist changes matching `filter` (who: `actor`; when: `since`/`until`), newest
    /// first: a `Query` on `by-outcome-day` (`allowlist#<day>`) per day of the range.
    pub async fn query_allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AllowlistChange>, Error> {
        let want = filter.limit.unwrap_or(usize::MAX);
        let (from, to) = window(filter, Utc::now());
        if want == 0 || from > to {
            return Ok(Vec::new());
        }
        let from_text = format_time(&from);
        let until = filter.until.map(|t| format_time(&t));
        let mut found = Vec::new();
        for day in days(from, to) {
            let query = IndexQuery {
                index: "by-outcome-day",
                key: "outcome_day",
                value: format!("allowlist#{day}"),
                since: Some(&from_text),
                until: until.as_deref(),
            };
            let mut today = self
                .read_index(
                    &query,
                    &["pk", "at", "by", "action", "entry_id", "detail"],
                    want - found.len(),
                    |item| Ok(change_of(item, filter)),
                )
                .await?;
            sort_changes_newest_first(&mut today);
            found.extend(today);
            if found.len() >= want {
                break;
            }
        }
        sort_changes_newest_first(&mut found);
        found.truncate(want);
        Ok(found)
    }
}

impl AuditReader for DynamoAuditLog {
    async fn query(&self, filter: &AuditFilter) -> Result<Vec<EventReport>, PortError> {
        Ok(self.query_events(filter).await?)
    }

    async fn raw_event(&self, event_id: &str) -> Result<Option<Value>, PortError> {
        Ok(DynamoAuditLog::raw_event(self, event_id).await?)
    }

    async fn allowlist_changes(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AllowlistChange>, PortError> {
        Ok(self.query_allowlist_changes(filter).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> AuditFilter {
        AuditFilter::default()
    }

    #[test]
    fn each_filter_picks_its_index() {
        let role = "arn:aws:iam::111122223333:role/NetworkAdmin";
        let session = "arn:aws:sts::111122223333:assumed-role/NetworkAdmin/dave";
        let cases: Vec<(AuditFilter, Option<&str>)> = vec![
            (filter(), Some("by-day")),
            (
                AuditFilter {
                    event_id: Some("e".into()),
                    rule_id: Some("sgr-1".into()),
                    group_id: Some("sg-1".into()),
                    ..filter()
                },
                None,
            ),
            (
                AuditFilter {
                    rule_id: Some("sgr-1".into()),
                    group_id: Some("sg-1".into()),
                    ..filter()
                },
                Some("by-rule"),
            ),
            (
                AuditFilter {
                    group_id: Some("sg-1".into()),
                    actor: Some(session.into()),
                    outcomes: vec![Outcome::Reverted],
                    ..filter()
                },
                Some("by-group"),
            ),
            (
                AuditFilter {
                    actor: Some(session.into()),
                    outcomes: vec![Outcome::Reverted],
                    ..filter()
                },
                Some("by-actor"),
            ),
            (
                AuditFilter {
                    actor: Some(role.into()),
                    ..filter()
                },
                Some("by-day"),
            ),
            (
                AuditFilter {
                    actor: Some("arn:aws:sts::*:assumed-role/NetworkAdmin/*".into()),
                    outcomes: vec![Outcome::Flagged],
                    ..filter()
                },
                Some("by-outcome-day"),
            ),
            (
                AuditFilter {
                    account: Some("111122223333".into()),
                    region: Some("eu-west-1".into()),
                    min_risk: Some(sgguard_core::RiskLevel::High),
                    ..filter()
                },
                Some("by-scope-day"),
            ),
            (
                AuditFilter {
                    account: Some("111122223333".into()),
                    ..filter()
                },
                Some("by-day"),
            ),
        ];
        for (f, index) in cases {
            assert_eq!(AccessPath::for_filter(&f).index(), index, "{f:?}");
        }
    }

    #[test]
    fn role_arns_are_told_from_other_arns() {
        assert!(is_role_arn("arn:aws:iam::111122223333:role/NetworkAdmin"));
        assert!(is_role_arn(
            "arn:aws-us-gov:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin"
        ));
        assert!(!is_role_arn("arn:aws:iam::111122223333:user/alice"));
        assert!(!is_role_arn(
            "arn:aws:sts::111122223333:assumed-role/NetworkAdmin/dave"
        ));
        assert!(!is_role_arn("ec2.amazonaws.com"));
    }

    #[test]
    fn days_run_newest_first_and_include_both_ends() {
        let t = |s: &str| sgguard_core::time::parse_event_time(s).unwrap_or_default();
        assert_eq!(
            days(t("2026-11-28T23:00:00Z"), t("2026-12-01T01:00:00Z")),
            ["2026-12-01", "2026-11-30", "2026-11-29", "2026-11-28"]
        );
        assert_eq!(
            days(t("2026-11-29T10:00:00Z"), t("2026-11-28T09:00:00Z")),
            Vec::<String>::new()
        );
        let f = AuditFilter {
            until: Some(t("2026-11-26T00:00:00Z")),
            ..filter()
        };
        let (from, _) = window(&f, Utc::now());
        assert_eq!(format_time(&from), "2026-10-27T00:00:00Z");
    }
}
