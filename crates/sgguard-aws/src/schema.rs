//! The DynamoDB table design, in one place: `sgguard init --store dynamodb` creates exactly
//! this, and a test checks that `infra/template.yaml` declares the same.
//!
//! Audit table (`pk`, `sk`): an event item `EVENT#<eventID>` / `EVENT`, its rule changes
//! `EVENT#<eventID>` / `CHANGE#<nnn>`, invalid records `INVALID#<key>` / `INVALID`, and
//! allowlist changes `ALLOWLIST#<id>` / `CHANGE#<time>#<unique>#<action>`. Every index sorts on `ts`
//! (`<eventTime>#<eventID>[#<nnn>]`), so each query below is a `Query` over a time range:
//!
//! | question                         | index            | partition key            |
//! |----------------------------------|------------------|--------------------------|
//! | changes to one group             | `by-group`       | `group_key` = group id   |
//! | changes by one actor             | `by-actor`       | `actor_key` = actor ARN  |
//! | history of one rule              | `by-rule`        | `rule_key` = `sgr-…`     |
//! | every revert this week           | `by-outcome-day` | `outcome_day` = `reverted#2026-11-26` |
//! | one account and region           | `by-scope-day`   | `scope_day` = `111122223333#eu-west-1#2026-11-26` |
//! | everything in a time range       | `by-day`         | `day` = `2026-11-26`     |
//!
//! Day partitions keep the time-range indexes free of hot partitions. `expires_at` is the
//! optional TTL attribute (retention).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use crate::error::Error;

/// One global secondary index: a partition key and the `ts` sort key, all attributes projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// One table's key schema and indexes (every key attribute is a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
    pub indexes: &'static [IndexSpec],
    pub ttl_attribute: Option<&'static str>,
}

pub const AUDIT_TABLE: TableSpec = TableSpec {
    partition_key: "pk",
    sort_key: Some("sk"),
    indexes: &[
        IndexSpec {
            name: "by-group",
            partition_key: "group_key",
            sort_key: "ts",
        },
        IndexSpec {
            name: "by-actor",
            partition_key: "actor_key",
            sort_key: "ts",
        },
        IndexSpec {
            name: "by-rule",
            partition_key: "rule_key",
            sort_key: "ts",
        },
        IndexSpec {
            name: "by-outcome-day",
            partition_key: "outcome_day",
            sort_key: "ts",
        },
        IndexSpec {
            name: "by-scope-day",
            partition_key: "scope_day",
            sort_key: "ts",
        },
        IndexSpec {
            name: "by-day",
            partition_key: "day",
            sort_key: "ts",
        },
    ],
    ttl_attribute: Some("expires_at"),
};

pub const ALLOWLIST_TABLE: TableSpec = TableSpec {
    partition_key: "id",
    sort_key: None,
    indexes: &[],
    ttl_attribute: None,
};

/// The two table names, from `SGGUARD_AUDIT_TABLE` / `SGGUARD_ALLOWLIST_TABLE` or flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub audit: String,
    pub allowlist: String,
}

impl Default for TableNames {
    fn default() -> Self {
        Self {
            audit: sgguard_responder::settings::AUDIT_TABLE.default.into(),
            allowlist: sgguard_responder::settings::ALLOWLIST_TABLE.default.into(),
        }
    }
}

impl TableSpec {
    /// Every attribute that is a key of the table or an index.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = std::iter::once(self.partition_key)
            .chain(self.sort_key)
            .chain(
                self.indexes
                    .iter()
                    .flat_map(|i| [i.partition_key, i.sort_key]),
            )
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Build(err)
}

/// Creates both tables if they do not exist (idempotent); returns what was created.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<Vec<String>, Error> {
    let mut created = Vec::new();
    for (name, spec) in [
        (&names.audit, &AUDIT_TABLE),
        (&names.allowlist, &ALLOWLIST_TABLE),
    ] {
        if create_table(client, name, spec).await? {
            created.push(name.clone());
        }
    }
    Ok(created)
}

async fn create_table(client: &Client, name: &str, spec: &TableSpec) -> Result<bool, Error> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => return Ok(false),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(Error::from_sdk("DescribeTable", err)),
    }
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for attribute in spec.key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        );
    }
    request = request.key_schema(key(spec.partition_key, KeyType::Hash)?);
    if let Some(sort) = spec.sort_key {
        request = request.key_schema(key(sort, KeyType::Range)?);
    }
    for index in spec.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_error)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(err) => return Err(Error::from_sdk("CreateTable", err)),
    }
    if let Some(ttl) = spec.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| Error::from_sdk("UpdateTimeToLive", e))?;
    }
    Ok(true)
}
