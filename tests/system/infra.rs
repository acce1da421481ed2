//! The templates in `infra/` agree with the code, which is the source of truth:
//! `infra/template.yaml` declares exactly the tables of `sgguard_aws::schema` (the design
//! `sgguard init --store dynamodb` creates), sets exactly the environment variables the
//! Lambda reads, grants exactly `sgguard_aws::permissions` (each under its condition and on
//! its resource), filters on the calls sgguard understands and passes on the outcomes
//! `Outcome::NOTABLE`; `forwarder.yaml` forwards the same pattern and `member-role.yaml`
//! grants the remediation permissions. Runs offline; `infra/check.py` lints the templates.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml_ng::Value;
use sgguard_aws::TableNames;
use sgguard_aws::permissions::{self, Need, Permission, Resource};
use sgguard_aws::schema::{ALLOWLIST_TABLE, AUDIT_TABLE, IndexSpec, TableSpec};
use sgguard_core::Outcome;
use sgguard_core::event::SECURITY_GROUP_CALLS;

fn infra(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../infra")
        .join(file)
}

fn template() -> Value {
    load("template.yaml")
}

fn load(file: &str) -> Value {
    let path = infra(file);
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
    assert_eq!(
        props
            .get("DeletionProtectionEnabled")
            .and_then(Value::as_bool),
        Some(true),
        "{what}: deletion protection"
    );
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

/// The `EventPattern` of the rule with this logical id, as JSON.
fn rule_pattern(template: &Value, id: &str) -> serde_json::Value {
    let pattern = resource(template, id)
        .get("Properties")
        .and_then(|p| p.get("EventPattern"))
        .unwrap_or_else(|| panic!("{id}: no EventPattern"));
    serde_json::to_value(pattern).expect("the pattern is plain data")
}

fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    template
        .get("Resources")
        .and_then(|r| r.get(id))
        .unwrap_or_else(|| panic!("no resource {id}"))
}

#[test]
fn event_pattern_matches_the_json_file() {
    let pattern = rule_pattern(&template(), "SecurityGroupChangeRule");
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
    let names: BTreeSet<&str> = expected["detail"]["eventName"]
        .as_array()
        .expect("eventName list")
        .iter()
        .map(|n| n.as_str().expect("event name"))
        .collect();
    assert_eq!(
        names,
        SECURITY_GROUP_CALLS.into_iter().collect(),
        "the pattern must list exactly the calls sgguard understands"
    );
    assert_eq!(
        rule_pattern(&load("forwarder.yaml"), "ForwardRule"),
        expected,
        "forwarder.yaml must forward what the central rule matches"
    );
}

// ------------------------------------------------------------------ the function

fn function_properties(template: &Value) -> &Value {
    let functions = resources(template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 1, "expected one function");
    functions[0]
        .1
        .get("Properties")
        .expect("function Properties")
}

/// A YAML value as text, short-form tags included (`!GetAtt AuditTable.Arn`).
fn render(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!(
            "!{} {}",
            tagged.tag.to_string().trim_start_matches('!'),
            render(&tagged.value)
        ),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(render).collect::<Vec<_>>().join(", "),
        other => serde_yaml_ng::to_string(other).unwrap().trim().to_owned(),
    }
}

fn tagged<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

#[test]
fn environment_is_exactly_what_the_lambda_reads() {
    let template = template();
    let props = function_properties(&template);
    let variables = props
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .expect("Environment.Variables");
    let set: BTreeSet<&str> = variables
        .keys()
        .map(|k| str_of(k, "variable name"))
        .collect();
    let read: BTreeSet<&str> = sgguard_lambda::env_vars().into_iter().collect();
    assert_eq!(
        set, read,
        "template variables differ from sgguard_lambda::env_vars()"
    );

    // The function's own role is always a self ARN, with or without SelfArns.
    let self_arns = render(variables.get("SGGUARD_SELF_ARNS").unwrap());
    assert_eq!(
        self_arns.matches("!GetAtt FunctionRole.Arn").count(),
        2,
        "both branches of SGGUARD_SELF_ARNS must hold the role: {self_arns}"
    );
    assert_eq!(
        render(props.get("Role").unwrap()),
        "!GetAtt FunctionRole.Arn"
    );
    // Values the configuration parser accepts: every Mode/MinRisk the template allows.
    for (parameter, variable) in [
        ("Mode", "SGGUARD_MODE"),
        ("MinRisk", "SGGUARD_MIN_RISK"),
        ("RevertEgress", "SGGUARD_REVERT_EGRESS"),
    ] {
        let allowed = seq(
            template
                .get("Parameters")
                .and_then(|p| p.get(parameter))
                .and_then(|p| p.get("AllowedValues")),
            parameter,
        );
        for value in allowed {
            let value = str_of(value, parameter).to_owned();
            let parsed =
                sgguard_lambda::Config::from_env(|name| (name == variable).then(|| value.clone()));
            assert!(
                parsed.is_ok(),
                "{parameter}={value} is rejected by the Lambda: {parsed:?}"
            );
        }
    }
}

#[test]
fn function_is_sized_and_wired_for_the_runtime() {
    let template = template();
    let props = function_properties(&template);
    assert_eq!(
        props.get("Runtime").and_then(Value::as_str),
        Some("provided.al2023")
    );
    assert_eq!(
        props.get("Handler").and_then(Value::as_str),
        Some("bootstrap")
    );
    assert_eq!(props.get("MemorySize").and_then(Value::as_u64), Some(128));
    let timeout = props.get("Timeout").and_then(Value::as_u64).unwrap();
    // A one-rule revert in a member account is six requests in a row (record, account
    // lookup, assume role, revoke, confirm, outcome), each bounded by the SDK timeouts.
    let operation = sgguard_lambda::sdk_timeouts()
        .operation_timeout()
        .expect("an operation timeout is set");
    assert!(
        u128::from(timeout) * 1000 >= 6 * operation.as_millis(),
        "Timeout {timeout} s does not cover six requests of up to {operation:?}"
    );
    assert_eq!(
        render(props.get("Architectures").unwrap()),
        "!Ref Architecture"
    );
    let invoke = resource(&template, "GuardFunctionInvokeConfig")
        .get("Properties")
        .unwrap();
    assert_eq!(
        render(
            invoke
                .get("DestinationConfig")
                .unwrap()
                .get("OnFailure")
                .unwrap()
                .get("Destination")
                .unwrap()
        ),
        "!GetAtt DeadLetterQueue.Arn",
        "failed invocations must land in the dead-letter queue"
    );
    let rule = resource(&template, "SecurityGroupChangeRule")
        .get("Properties")
        .unwrap();
    let target = &seq(rule.get("Targets"), "Targets")[0];
    assert_eq!(
        render(target.get("DeadLetterConfig").unwrap().get("Arn").unwrap()),
        "!GetAtt DeadLetterQueue.Arn"
    );
}

#[test]
fn outcome_rule_passes_on_exactly_the_notable_outcomes() {
    let pattern = rule_pattern(&template(), "NotableOutcomeRule");
    let listed: Vec<&str> = pattern["detail"]["responsePayload"]["outcome"]
        .as_array()
        .expect("outcome list")
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    let notable: Vec<&str> = Outcome::NOTABLE.iter().map(|o| o.as_str()).collect();
    assert_eq!(listed, notable);
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!(["Lambda Function Invocation Result - Success"])
    );
}

// ------------------------------------------------------------------------ IAM

/// One granted action: the condition it is under (`None`: always) and its resource.
#[derive(Debug, Clone)]
struct Grant {
    action: String,
    condition: Option<String>,
    resource: String,
}

/// The Allow statements of a role's inline policies, with the `!If` condition each is under.
fn grants(role: &Value) -> Vec<Grant> {
    let mut grants = Vec::new();
    for policy in seq(
        role.get("Properties").and_then(|p| p.get("Policies")),
        "Policies",
    ) {
        let statements = policy
            .get("PolicyDocument")
            .and_then(|d| d.get("Statement"));
        for statement in seq(statements, "Statement") {
            let (condition, statement) = match tagged(statement, "If") {
                Some(branches) => {
                    let branches = branches.as_sequence().expect("!If list");
                    assert_eq!(
                        render(&branches[2]),
                        "!Ref AWS::NoValue",
                        "a conditional statement's else must be NoValue"
                    );
                    (
                        Some(str_of(&branches[0], "condition").to_owned()),
                        &branches[1],
                    )
                }
                None => (None, statement),
            };
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let actions = statement.get("Action").unwrap();
            let actions: Vec<&Value> = match actions.as_sequence() {
                Some(list) => list.iter().collect(),
                None => vec![actions],
            };
            for action in actions {
                grants.push(Grant {
                    action: str_of(action, "Action").to_owned(),
                    condition: condition.clone(),
                    resource: render(statement.get("Resource").unwrap()),
                });
            }
        }
    }
    grants
}

/// Whether a template resource expression is the resource a permission names.
fn names_resource(kind: Resource, rendered: &str) -> bool {
    match kind {
        Resource::AuditTable => rendered == "!GetAtt AuditTable.Arn",
        Resource::AuditTableIndexes => rendered == "!Sub ${AuditTable.Arn}/index/*",
        Resource::AllowlistTable => rendered == "!GetAtt AllowlistTable.Arn",
        Resource::Any => rendered == "*",
        Resource::SecurityGroups => {
            rendered.contains(":${AWS::AccountId}:security-group/*")
                && rendered.contains(":${AWS::AccountId}:security-group-rule/*")
                && !rendered.contains(":*:security-group")
        }
        Resource::MemberRole => {
            rendered == "!Sub arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"
        }
        Resource::OwnPrefixLists => {
            rendered == "!Sub arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:prefix-list/*"
        }
        Resource::AnyPrefixList => rendered == "!Sub arn:${AWS::Partition}:ec2:*:*:prefix-list/*",
    }
}

/// What the Lambda service itself does with the execution role, beyond the code's calls.
const PLATFORM: &[(&str, Option<&str>)] = &[
    ("logs:CreateLogStream", None),
    ("logs:PutLogEvents", None),
    ("sqs:SendMessage", None), // OnFailure destination
    ("events:PutEvents", Some("HasOutcomeDestination")), // OnSuccess destination
];

fn assert_grants(
    grants: &[Grant],
    wanted: &[(&Permission, Option<&str>)],
    platform: &[(&str, Option<&str>)],
    what: &str,
) {
    for (permission, condition) in wanted {
        let matching: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.action == permission.action)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{what}: {} must be granted once, is {matching:?}",
            permission.action
        );
        let grant = matching[0];
        assert_eq!(
            grant.condition.as_deref(),
            *condition,
            "{what}: {} condition",
            permission.action
        );
        assert!(
            names_resource(permission.resource, &grant.resource),
            "{what}: {} on {} is not {:?}",
            permission.action,
            grant.resource,
            permission.resource
        );
    }
    for grant in grants {
        assert!(
            !grant.action.contains('*'),
            "{what}: wildcard action {}",
            grant.action
        );
        assert!(
            !grant.resource.is_empty(),
            "{what}: {} has no resource",
            grant.action
        );
        let declared = wanted.iter().any(|(p, _)| p.action == grant.action);
        let platform = platform
            .iter()
            .any(|(a, c)| *a == grant.action && *c == grant.condition.as_deref());
        assert!(
            declared || platform,
            "{what}: {grant:?} is granted but no code needs it"
        );
        if grant.resource == "*" {
            assert!(
                wanted
                    .iter()
                    .any(|(p, _)| p.action == grant.action && p.resource == Resource::Any),
                "{what}: {} on * although it can be scoped",
                grant.action
            );
        }
    }
}

#[test]
fn execution_role_grants_exactly_what_the_code_calls() {
    let template = template();
    let role = resource(&template, "FunctionRole");
    let condition = |need: Need| match need {
        Need::Always => None,
        Need::Enforce => Some("Enforce"),
        Need::EnforceEgress => Some("EnforceEgress"),
        Need::MemberRole => Some("HasMemberRole"),
    };
    let wanted: Vec<(&Permission, Option<&str>)> = permissions::RESPONDER
        .iter()
        .map(|p| (p, condition(p.need)))
        .collect();
    assert_grants(
        &grants(role),
        &wanted,
        PLATFORM,
        "template.yaml FunctionRole",
    );
}

#[test]
fn member_role_grants_the_remediation_permissions() {
    let template = load("member-role.yaml");
    let role = resource(&template, "MemberRole");
    let wanted: Vec<(&Permission, Option<&str>)> = permissions::member_role()
        .map(|p| (p, (p.need == Need::EnforceEgress).then_some("AllowEgress")))
        .collect();
    assert!(!wanted.is_empty());
    assert_grants(&grants(role), &wanted, &[], "member-role.yaml MemberRole");
    let trust = render(
        role.get("Properties")
            .and_then(|p| p.get("AssumeRolePolicyDocument"))
            .and_then(|d| d.get("Statement"))
            .and_then(|s| s.get(0))
            .and_then(|s| s.get("Principal"))
            .and_then(|p| p.get("AWS"))
            .unwrap(),
    );
    assert_eq!(
        trust, "!Ref CentralRoleArn",
        "only the central function may assume the member role"
    );
    assert_eq!(
        parameter_default(&template, "RoleName"),
        "sgguard-member",
        "the documented default role name"
    );
}
