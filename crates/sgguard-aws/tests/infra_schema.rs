//! `infra/template.yaml` declares exactly the tables of `sgguard_aws::schema` (the design
//! `sgguard init --store dynamodb` creates), and its EventBridge pattern is
//! `infra/eventbridge-pattern.json`. Runs offline; `infra/check.py` lints the template itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml_ng::Value;
use sgguard_aws::TableNames;
use sgguard_aws::schema::{ALLOWLIST_TABLE, AUDIT_TABLE, IndexSpec, TableSpec};

fn infra(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../infra")
        .join(file)
}

fn template() -> Value {
    let path = infra("template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn seq<'a>(value: Option<&'a Value>, what: &str) -> &'a [Value] {
    value
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{what} is not a list"))
}

/// The parameter a `!Ref` (or `{Ref: …}`) names.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(map) => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// The resources of one type, by logical id.
fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .map(|(id, r)| (str_of(id, "resource id"), r))
        .collect()
}

/// The properties of the table whose `TableName` is `!Ref <parameter>`.
fn table<'a>(template: &'a Value, parameter: &str) -> &'a Value {
    let tables = resources(template, "AWS::DynamoDB::Table");
    assert_eq!(
        tables.len(),
        2,
        "expected the audit and allowlist tables, found {:?}",
        tables.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    let matching: Vec<&Value> = tables
        .iter()
        .filter_map(|(_, t)| t.get("Properties"))
        .filter(|p| p.get("TableName").and_then(ref_target) == Some(parameter))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "one table must be named !Ref {parameter}"
    );
    matching[0]
}

/// `KeySchema` as (HASH, RANGE) attribute names.
fn key_schema(value: Option<&Value>, what: &str) -> (String, Option<String>) {
    let mut hash = None;
    let mut range = None;
    for element in seq(value, what) {
        let name = str_of(
            element.get("AttributeName").expect("AttributeName"),
            "AttributeName",
        )
        .to_owned();
        match element.get("KeyType").and_then(Value::as_str) {
            Some("HASH") => {
                assert!(hash.replace(name).is_none(), "{what}: two HASH keys");
            }
            Some("RANGE") => {
                assert!(range.replace(name).is_none(), "{what}: two RANGE keys");
            }
            other => panic!("{what}: bad KeyType {other:?}"),
        }
    }
    (hash.unwrap_or_else(|| panic!("{what}: no HASH key")), range)
}

fn assert_table_matches(props: &Value, spec: &TableSpec, what: &str) {
    assert_eq!(
        props.get("BillingMode").and_then(Value::as_str),
        Some("PAY_PER_REQUEST"),
        "{what}: BillingMode"
    );

    // Key schema.
    let (hash, range) = key_schema(props.get("KeySchema"), &format!("{what} KeySchema"));
    assert_eq!(hash, spec.partition_key, "{what}: partition key");
    assert_eq!(range.as_deref(), spec.sort_key, "{what}: sort key");

    // Attribute definitions: exactly the key attributes, all strings.
    let mut defined = Vec::new();
    for attribute in seq(
        props.get("AttributeDefinitions"),
        &format!("{what} AttributeDefinitions"),
    ) {
        let name = str_of(
            attribute.get("AttributeName").expect("AttributeName"),
            "AttributeName",
        );
        assert_eq!(
            attribute.get("AttributeType").and_then(Value::as_str),
            Some("S"),
            "{what}: attribute {name} must be S"
        );
        defined.push(name);
    }
    let defined_set: BTreeSet<&str> = defined.iter().copied().collect();
    assert_eq!(
        defined_set.len(),
        defined.len(),
        "{what}: an attribute is defined twice: {defined:?}"
    );
    let wanted: BTreeSet<&str> = spec.key_attributes().into_iter().collect();
    assert_eq!(defined_set, wanted, "{what}: AttributeDefinitions");

    // Global secondary indexes: same names, keys, projection ALL.
    let mut indexes: Vec<(String, String, String)> = match props.get("GlobalSecondaryIndexes") {
        None => Vec::new(),
        Some(list) => seq(Some(list), &format!("{what} GlobalSecondaryIndexes"))
            .iter()
            .map(|gsi| {
                let name = str_of(gsi.get("IndexName").expect("IndexName"), "IndexName");
                let (hash, range) =
                    key_schema(gsi.get("KeySchema"), &format!("{what} index {name}"));
                let projection = gsi
                    .get("Projection")
                    .and_then(|p| p.get("ProjectionType"))
                    .and_then(Value::as_str);
                assert_eq!(
                    projection,
                    Some("ALL"),
                    "{what}: index {name} must project ALL"
                );
                let range = range.unwrap_or_else(|| panic!("{what}: index {name} has no sort key"));
                (name.to_owned(), hash, range)
            })
            .collect(),
    };
    let mut wanted: Vec<(String, String, String)> = spec
        .indexes
        .iter()
        .map(
            |IndexSpec {
                 name,
                 partition_key,
                 sort_key,
             }| {
                (
                    (*name).to_owned(),
                    (*partition_key).to_owned(),
                    (*sort_key).to_owned(),
                )
            },
        )
        .collect();
    indexes.sort();
    wanted.sort();
    assert_eq!(
        indexes, wanted,
        "{what}: GlobalSecondaryIndexes (name, partition key, sort key)"
    );
    assert!(
        props.get("LocalSecondaryIndexes").is_none(),
        "{what}: schema.rs declares no local indexes"
    );

    // Time to live.
    let ttl = props.get("TimeToLiveSpecification");
    match spec.ttl_attribute {
        Some(attribute) => {
            let ttl = ttl.unwrap_or_else(|| panic!("{what}: TimeToLiveSpecification missing"));
            assert_eq!(
                ttl.get("AttributeName").and_then(Value::as_str),
                Some(attribute),
                "{what}: TTL attribute"
            );
            assert_eq!(
                ttl.get("Enabled").and_then(Value::as_bool),
                Some(true),
                "{what}: TTL enabled"
            );
        }
        None => assert!(
            ttl.is_none_or(|t| t.get("Enabled").and_then(Value::as_bool) != Some(true)),
            "{what}: schema.rs has no TTL"
        ),
    }

    // Protection that schema.rs leaves to the deployment.
    let pitr = props
        .get("PointInTimeRecoverySpecification")
        .and_then(|p| p.get("PointInTimeRecoveryEnabled"))
        .and_then(Value::as_bool);
    assert_eq!(pitr, Some(true), "{what}: point-in-time recovery");
    let sse = props
        .get("SSESpecification")
        .and_then(|p| p.get("SSEEnabled"))
        .and_then(Value::as_bool);
    assert_eq!(sse, Some(true), "{what}: SSE");
}

fn parameter_default<'a>(template: &'a Value, name: &str) -> &'a str {
    template
        .get("Parameters")
        .and_then(|p| p.get(name))
        .and_then(|p| p.get("Default"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("parameter {name} has no string default"))
}

#[test]
fn audit_table_matches_schema() {
    let template = template();
    assert_table_matches(
        table(&template, "AuditTableName"),
        &AUDIT_TABLE,
        "audit table",
    );
}

#[test]
fn allowlist_table_matches_schema() {
    let template = template();
    assert_table_matches(
        table(&template, "AllowlistTableName"),
        &ALLOWLIST_TABLE,
        "allowlist table",
    );
}

#[test]
fn tables_are_retained_and_named_like_the_defaults() {
    let template = template();
    for (id, resource) in resources(&template, "AWS::DynamoDB::Table") {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                resource.get(policy).and_then(Value::as_str),
                Some("Retain"),
                "{id}: {policy}"
            );
        }
    }
    let defaults = TableNames::default();
    assert_eq!(
        parameter_default(&template, "AuditTableName"),
        defaults.audit
    );
    assert_eq!(
        parameter_default(&template, "AllowlistTableName"),
        defaults.allowlist
    );
}

#[test]
fn event_pattern_matches_the_json_file() {
    let template = template();
    let rules = resources(&template, "AWS::Events::Rule");
    assert_eq!(rules.len(), 1, "expected one EventBridge rule");
    let pattern = rules[0]
        .1
        .get("Properties")
        .and_then(|p| p.get("EventPattern"))
        .expect("EventPattern");
    let pattern: serde_json::Value =
        serde_json::to_value(pattern).expect("the pattern is plain data");

    let path = infra("eventbridge-pattern.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        pattern, expected,
        "template EventPattern differs from infra/eventbridge-pattern.json"
    );
    assert_eq!(
        expected["detail"]["errorCode"],
        serde_json::json!([{ "exists": false }]),
        "failed calls must be filtered"
    );
}
