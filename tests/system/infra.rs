//! The templates in `infra/` agree with the code, which is the source of truth:
//! `infra/template.yaml` declares exactly the tables of `sgguard_aws::schema` (the design
//! `sgguard init --store dynamodb` creates), sets exactly the environment variables the
//! Lambda reads (numbers bounded as the code bounds them), grants exactly
//! `sgguard_aws::permissions` (each under its condition and on its resource), filters on
//! the calls sgguard understands, passes on the outcomes `Outcome::NOTABLE`, alarms on
//! every metric of `sgguard_lambda::metrics::ALARMED_METRICS`, and retries failed events
//! through a retry queue the function reads before a dead-letter queue; `forwarder.yaml`
//! forwards the same pattern to the central stack's own bus, and `member-role.yaml` grants
//! the remediation permissions, the writes only when the central stack enforces. Every
//! alarm has an action. Runs offline; `infra/check.py` lints the templates and deploys
//! them on the emulator.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_yaml_ng::Value;
use sgguard_aws::TableNames;
use sgguard_aws::permissions::{self, Need, Permission, Resource};
use sgguard_aws::schema::{ALLOWLIST_TABLE, AUDIT_TABLE, IndexSpec, TableSpec};
use sgguard_core::Outcome;
use sgguard_core::event::SECURITY_GROUP_CALLS;
use sgguard_lambda::metrics::{self, ALARMED_METRICS};
use sgguard_responder::EventReport;

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
}

/// Whether an EventBridge pattern matches an event, for the pattern forms the templates
/// use: nested objects, lists of exact strings, `{"exists": bool}` and `$or`.
fn pattern_matches(pattern: &serde_json::Value, event: &serde_json::Value) -> bool {
    let pattern = pattern.as_object().expect("a pattern is an object");
    pattern.iter().all(|(key, expected)| {
        if key == "$or" {
            return expected
                .as_array()
                .expect("$or list")
                .iter()
                .any(|alternative| pattern_matches(alternative, event));
        }
        let field = event.get(key);
        match expected {
            serde_json::Value::Object(_) => field.is_some_and(|f| pattern_matches(expected, f)),
            serde_json::Value::Array(values) => values.iter().any(|value| match value {
                serde_json::Value::Object(filter) => {
                    let exists = filter.get("exists").and_then(serde_json::Value::as_bool);
                    let exists = exists.unwrap_or_else(|| panic!("unsupported filter {filter:?}"));
                    field.is_some() == exists
                }
                literal => field == Some(literal),
            }),
            other => panic!("unsupported pattern value {other:?}"),
        }
    })
}

/// What Lambda's OnSuccess destination puts on the outcome bus for one report.
fn invocation_result(report: &EventReport) -> serde_json::Value {
    serde_json::json!({
        "source": "lambda",
        "detail-type": "Lambda Function Invocation Result - Success",
        "detail": { "responsePayload": report },
    })
}

#[test]
fn outcome_rule_passes_on_exactly_the_notable_outcomes() {
    let pattern = rule_pattern(&template(), "NotableOutcomeRule");
    let record =
        serde_json::json!({ "eventID": "e-1", "eventName": "AuthorizeSecurityGroupIngress" });
    for outcome in Outcome::ALL {
        let mut report = EventReport::bare(&record, outcome, "check");
        assert_eq!(
            pattern_matches(&pattern, &invocation_result(&report)),
            Outcome::NOTABLE.contains(&outcome),
            "outcome {} (notable: {:?})",
            outcome.as_str(),
            Outcome::NOTABLE
        );
        // Judged while the allowlist was unusable: always told, whatever the outcome.
        report.allowlist_error = Some("allowlist item `bad`: unknown attribute".into());
        assert!(
            pattern_matches(&pattern, &invocation_result(&report)),
            "outcome {} with an allowlist error is not passed on",
            outcome.as_str()
        );
    }
    // Only the function's own successful results.
    let report = EventReport::bare(&record, Outcome::Reverted, "check");
    let mut failure = invocation_result(&report);
    failure["detail-type"] = "Lambda Function Invocation Result - Failure".into();
    assert!(!pattern_matches(&pattern, &failure));
}

/// `infra/check.py` tests the outcome rule on the emulator with every outcome there is.
#[test]
fn check_py_knows_every_outcome() {
    let path = infra("check.py");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let line = text
        .lines()
        .find(|l| l.starts_with("ALL_OUTCOMES = ["))
        .expect("check.py has an ALL_OUTCOMES = [...] line");
    let listed: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
    let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        listed, all,
        "check.py ALL_OUTCOMES differs from Outcome::ALL"
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
    ("sqs:SendMessage", None), // OnFailure destination (the retry queue)
    // The event source mapping that reads the retry queue.
    ("sqs:ReceiveMessage", None),
    ("sqs:DeleteMessage", None),
    ("sqs:GetQueueAttributes", None),
    ("sqs:ChangeMessageVisibility", None),
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
        .map(|p| {
            let condition = match p.need {
                Need::Always => None,
                Need::Enforce => Some("IsEnforce"),
                Need::EnforceEgress => Some("IsEnforceEgress"),
                Need::MemberRole => panic!("{} is not a member-account permission", p.action),
            };
            (p, condition)
        })
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

// ------------------------------------------------------------------ conditions

/// Parameter values for one deployment: the given ones over the template's defaults.
fn parameters(template: &Value, given: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Some(declared) = template.get("Parameters").and_then(Value::as_mapping) {
        for (name, parameter) in declared {
            let default = match parameter.get("Default") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            values.insert(str_of(name, "parameter").to_owned(), default);
        }
    }
    for (name, value) in given {
        values.insert((*name).to_owned(), (*value).to_owned());
    }
    values
}

/// The value of a scalar expression in a condition: a literal or a parameter's `!Ref`.
fn scalar(value: &Value, parameters: &BTreeMap<String, String>) -> String {
    if let Some(name) = ref_target(value) {
        return parameters
            .get(name)
            .unwrap_or_else(|| panic!("!Ref {name}: no value given and no default"))
            .clone();
    }
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("unsupported condition operand {other:?}"),
    }
}

/// Evaluates a condition expression (`!Equals`, `!And`, `!Or`, `!Not`, `!Condition`).
fn condition_value(
    template: &Value,
    expression: &Value,
    parameters: &BTreeMap<String, String>,
) -> bool {
    let Value::Tagged(tagged) = expression else {
        panic!("unsupported condition {expression:?}");
    };
    let operands = || seq(Some(&tagged.value), "condition operands");
    match tagged.tag.to_string().trim_start_matches('!') {
        "Equals" => {
            let [a, b] = operands() else {
                panic!("!Equals takes two operands")
            };
            scalar(a, parameters) == scalar(b, parameters)
        }
        "And" => operands()
            .iter()
            .all(|o| condition_value(template, o, parameters)),
        "Or" => operands()
            .iter()
            .any(|o| condition_value(template, o, parameters)),
        "Not" => {
            let [o] = operands() else {
                panic!("!Not takes one operand")
            };
            !condition_value(template, o, parameters)
        }
        "Condition" => condition(
            template,
            str_of(&tagged.value, "condition name"),
            parameters,
        ),
        other => panic!("unsupported condition function {other}"),
    }
}

/// Whether the named condition of the template holds for these parameter values.
fn condition(template: &Value, name: &str, parameters: &BTreeMap<String, String>) -> bool {
    let expression = template
        .get("Conditions")
        .and_then(|c| c.get(name))
        .unwrap_or_else(|| panic!("no condition {name}"));
    condition_value(template, expression, parameters)
}

/// Whether a resource exists in a deployment with these parameter values.
fn resource_exists(template: &Value, id: &str, parameters: &BTreeMap<String, String>) -> bool {
    resource(template, id)
        .get("Condition")
        .and_then(Value::as_str)
        .is_none_or(|c| condition(template, c, parameters))
}

/// What an action or ARN expression resolves to in a deployment: `None` for
/// `AWS::NoValue` or an empty parameter; panics on a resource the deployment lacks.
fn resolve(
    template: &Value,
    value: &Value,
    parameters: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some(branches) = tagged(value, "If") {
        let [name, then, otherwise] = seq(Some(branches), "!If") else {
            panic!("!If takes three operands")
        };
        let branch = if condition(template, str_of(name, "condition"), parameters) {
            then
        } else {
            otherwise
        };
        return resolve(template, branch, parameters);
    }
    if let Some(target) = ref_target(value) {
        if target == "AWS::NoValue" {
            return None;
        }
        if let Some(value) = parameters.get(target) {
            return (!value.is_empty()).then(|| format!("parameter {target} = {value}"));
        }
        assert!(
            resource_exists(template, target, parameters),
            "!Ref {target}: the resource does not exist with {parameters:?}"
        );
        return Some(format!("resource {target}"));
    }
    Some(render(value))
}

// ------------------------------------------------------------------ alarms

/// Every alarm of a template notifies someone, with the alarm topic given or without.
fn assert_every_alarm_has_an_action(file: &str) {
    let template = load(file);
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty(), "{file}: no alarms");
    for topic in ["", "arn:aws:sns:us-east-1:123456789012:ops"] {
        let values = parameters(&template, &[("AlarmTopicArn", topic)]);
        for (id, alarm) in &alarms {
            let props = alarm.get("Properties").expect("alarm Properties");
            for key in ["AlarmActions", "OKActions"] {
                let actions = seq(props.get(key), &format!("{file} {id} {key}"));
                let resolved: Vec<Option<String>> = actions
                    .iter()
                    .map(|a| resolve(&template, a, &values))
                    .collect();
                assert!(
                    !resolved.is_empty() && resolved.iter().all(Option::is_some),
                    "{file} {id}: {key} {resolved:?} with AlarmTopicArn={topic:?}"
                );
            }
        }
        // Without a topic given, the stack creates one, encrypted with a key CloudWatch
        // may use (an alarm cannot publish to a topic whose key it may not use).
        assert_eq!(
            resource_exists(&template, "AlarmTopic", &values),
            topic.is_empty(),
            "{file}: the alarm topic is created exactly when AlarmTopicArn is empty"
        );
    }
    let topic = resource(&template, "AlarmTopic").get("Properties").unwrap();
    assert_eq!(
        render(
            topic
                .get("KmsMasterKeyId")
                .expect("the alarm topic is encrypted")
        ),
        "!Ref AlarmTopicKey",
        "{file}: the alarm topic's key"
    );
    let key = resource(&template, "AlarmTopicKey")
        .get("Properties")
        .unwrap();
    let statements = seq(
        key.get("KeyPolicy").and_then(|p| p.get("Statement")),
        "KeyPolicy",
    );
    assert!(
        statements.iter().any(|s| {
            let actions = render(s.get("Action").unwrap());
            s.get("Principal")
                .and_then(|p| p.get("Service"))
                .and_then(Value::as_str)
                == Some("cloudwatch.amazonaws.com")
                && actions.contains("kms:Decrypt")
                && actions.contains("kms:GenerateDataKey")
        }),
        "{file}: the key policy must let CloudWatch alarms use the key"
    );
    assert_eq!(
        key.get("EnableKeyRotation").and_then(Value::as_bool),
        Some(true),
        "{file}: key rotation"
    );
}

#[test]
fn every_alarm_in_template_yaml_has_an_action() {
    assert_every_alarm_has_an_action("template.yaml");
}

#[test]
fn every_alarm_in_forwarder_yaml_has_an_action() {
    assert_every_alarm_has_an_action("forwarder.yaml");
}

#[test]
fn every_alarmed_metric_has_an_alarm_with_an_action() {
    let template = template();
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    let in_namespace: Vec<(&str, &Value)> = alarms
        .iter()
        .filter_map(|(id, alarm)| {
            let props = alarm.get("Properties")?;
            (props.get("Namespace").and_then(Value::as_str) == Some(metrics::NAMESPACE))
                .then_some((*id, props))
        })
        .collect();
    for name in ALARMED_METRICS {
        let matching: Vec<&(&str, &Value)> = in_namespace
            .iter()
            .filter(|(_, p)| p.get("MetricName").and_then(Value::as_str) == Some(name))
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "one alarm on {}/{name}, found {:?}",
            metrics::NAMESPACE,
            matching.iter().map(|(id, _)| id).collect::<Vec<_>>()
        );
        let (id, props) = matching[0];
        // The function emits the metrics without dimensions ("Dimensions": [[]]), so the
        // alarm must name none, or it watches a metric that never receives data.
        assert!(
            props
                .get("Dimensions")
                .is_none_or(|d| d.as_sequence().is_some_and(Vec::is_empty)),
            "{id}: dimensions"
        );
        assert!(
            resource(&template, id).get("Condition").is_none(),
            "{id}: the alarm exists in every deployment"
        );
        for (key, value) in [
            ("Statistic", "Sum"),
            ("ComparisonOperator", "GreaterThanThreshold"),
            ("TreatMissingData", "notBreaching"),
        ] {
            assert_eq!(
                props.get(key).and_then(Value::as_str),
                Some(value),
                "{id}: {key}"
            );
        }
        assert_eq!(
            props.get("Threshold").and_then(Value::as_u64),
            Some(0),
            "{id}: Threshold"
        );
        assert_eq!(
            props.get("Period").and_then(Value::as_u64),
            Some(300),
            "{id}: Period"
        );
        assert!(
            !seq(props.get("AlarmActions"), &format!("{id} AlarmActions")).is_empty(),
            "{id}: no action"
        );
    }
    for (id, props) in &in_namespace {
        let metric = props.get("MetricName").and_then(Value::as_str);
        assert!(
            metric.is_some_and(|m| ALARMED_METRICS.contains(&m)),
            "{id}: {metric:?} is not a metric the function emits for an alarm"
        );
    }

    // What the function writes is what the alarms watch: this namespace, no dimensions,
    // every alarmed metric declared, and an invalid event counted.
    let record = serde_json::json!({ "eventID": "e-1" });
    let report = EventReport::bare(&record, Outcome::Invalid, "not an EventBridge envelope");
    let emf = metrics::event_metrics(&report, 0);
    let declared = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(declared["Namespace"], metrics::NAMESPACE);
    assert_eq!(declared["Dimensions"], serde_json::json!([[]]));
    let names: Vec<&str> = declared["Metrics"]
        .as_array()
        .expect("Metrics")
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    for name in ALARMED_METRICS {
        assert!(
            names.contains(&name),
            "the EMF line does not declare {name}"
        );
    }
    assert_eq!(emf[metrics::INVALID_EVENTS], 1);
}

// ------------------------------------------------------- retries and failures

fn properties<'a>(template: &'a Value, id: &str) -> &'a Value {
    resource(template, id)
        .get("Properties")
        .unwrap_or_else(|| panic!("{id}: no Properties"))
}

fn number(props: &Value, key: &str, what: &str) -> u64 {
    props
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{what}: {key} is not a number"))
}

/// The event source mapping that reads the retry queue.
fn retry_queue_event_source(template: &Value) -> &Value {
    let mappings = resources(template, "AWS::Lambda::EventSourceMapping");
    assert_eq!(mappings.len(), 1, "expected one event source mapping");
    mappings[0].1.get("Properties").expect("Properties")
}

#[test]
fn retry_queue_visibility_timeout_covers_six_function_timeouts() {
    let template = template();
    let timeout = number(function_properties(&template), "Timeout", "function");
    let queue = properties(&template, "RetryQueue");
    let visibility = number(queue, "VisibilityTimeout", "RetryQueue");
    let window = number(
        retry_queue_event_source(&template),
        "MaximumBatchingWindowInSeconds",
        "event source",
    );
    // AWS: at least six times the function timeout, plus the batching window.
    assert!(
        visibility >= 6 * timeout + window,
        "RetryQueue VisibilityTimeout {visibility} s < 6 x Timeout {timeout} s + batching window {window} s"
    );
    assert!(visibility <= 43_200, "SQS allows at most 12 hours");
}

#[test]
fn retry_queue_feeds_the_function_reporting_batch_item_failures() {
    let template = template();
    let mapping = retry_queue_event_source(&template);
    assert_eq!(
        render(mapping.get("EventSourceArn").unwrap()),
        "!GetAtt RetryQueue.Arn"
    );
    assert_eq!(
        render(mapping.get("FunctionName").unwrap()),
        "!Ref GuardFunction"
    );
    assert_ne!(mapping.get("Enabled").and_then(Value::as_bool), Some(false));
    let types: Vec<&str> = seq(
        mapping.get("FunctionResponseTypes"),
        "FunctionResponseTypes",
    )
    .iter()
    .map(|t| str_of(t, "response type"))
    .collect();
    assert_eq!(
        types,
        ["ReportBatchItemFailures"],
        "one bad message must not redeliver its batch"
    );
    assert_eq!(number(mapping, "BatchSize", "event source"), 10);
    let concurrency = mapping
        .get("ScalingConfig")
        .and_then(|c| c.get("MaximumConcurrency"))
        .and_then(Value::as_u64);
    assert_eq!(
        concurrency,
        Some(2),
        "a backlog drains beside live events, not over them"
    );
}

#[test]
fn retry_queue_redrives_to_the_dead_letter_queue_with_bounded_receives() {
    let template = template();
    let retry = properties(&template, "RetryQueue");
    let policy = retry
        .get("RedrivePolicy")
        .expect("RetryQueue RedrivePolicy");
    assert_eq!(
        render(policy.get("deadLetterTargetArn").unwrap()),
        "!GetAtt DeadLetterQueue.Arn"
    );
    let receives = number(policy, "maxReceiveCount", "RedrivePolicy");
    assert!(
        (2..=20).contains(&receives),
        "maxReceiveCount {receives}: retries must be bounded (and more than one)"
    );
    // The retries fit in the retry queue's retention, and messages (which expire by their
    // first enqueue time, also after the move) live no shorter in the dead-letter queue.
    let visibility = number(retry, "VisibilityTimeout", "RetryQueue");
    let retry_retention = number(retry, "MessageRetentionPeriod", "RetryQueue");
    let dead = properties(&template, "DeadLetterQueue");
    let dead_retention = number(dead, "MessageRetentionPeriod", "DeadLetterQueue");
    assert!(
        receives * visibility < retry_retention,
        "{receives} receives of {visibility} s do not fit in {retry_retention} s"
    );
    assert!(
        dead_retention >= retry_retention,
        "dead-letter retention {dead_retention} s is shorter than the retry queue's {retry_retention} s"
    );
    for (id, queue) in [("RetryQueue", retry), ("DeadLetterQueue", dead)] {
        assert_eq!(
            queue.get("SqsManagedSseEnabled").and_then(Value::as_bool),
            Some(true),
            "{id}: encrypted"
        );
    }
    // The dead-letter queue calls a person, and its messages can go back to the retry
    // queue (start-message-move-task) and nowhere else.
    let depth_alarms: Vec<&str> = resources(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            let props = a.get("Properties").unwrap();
            props.get("MetricName").and_then(Value::as_str)
                == Some("ApproximateNumberOfMessagesVisible")
                && props
                    .get("Dimensions")
                    .is_some_and(|d| render(d).contains("!GetAtt DeadLetterQueue.QueueName"))
                && !seq(props.get("AlarmActions"), "AlarmActions").is_empty()
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        depth_alarms.len(),
        1,
        "one alarm with an action on the dead-letter queue's depth"
    );
    // A retry queue that nothing reads would keep its events quietly: its oldest message
    // must not outlive the retries unnoticed.
    let age_alarm = resources(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find_map(|(_, a)| {
            let props = a.get("Properties").unwrap();
            (props.get("MetricName").and_then(Value::as_str)
                == Some("ApproximateAgeOfOldestMessage")
                && props
                    .get("Dimensions")
                    .is_some_and(|d| render(d).contains("!GetAtt RetryQueue.QueueName")))
            .then_some(props)
        })
        .expect("an alarm on the age of the retry queue's oldest message");
    let threshold = number(age_alarm, "Threshold", "RetryQueueAgeAlarm");
    assert!(
        threshold > receives * visibility && threshold < retry_retention,
        "the age alarm ({threshold} s) must fire after the retries ({receives} x {visibility} s) and before messages expire"
    );
    let allow = render(
        dead.get("RedriveAllowPolicy")
            .and_then(|p| p.get("sourceQueueArns"))
            .expect("DeadLetterQueue RedriveAllowPolicy"),
    );
    assert!(
        allow.ends_with(":${AWS::StackName}-retry"),
        "the dead-letter queue admits only the retry queue: {allow}"
    );
    assert_eq!(
        render(retry.get("QueueName").unwrap()),
        "!Sub ${AWS::StackName}-retry",
        "RedriveAllowPolicy names the retry queue by this name"
    );
}

/// Whether a rule target is the function.
fn targets_function(target: &Value) -> bool {
    render(target.get("Arn").unwrap()) == "!GetAtt GuardFunction.Arn"
}

#[test]
fn failed_deliveries_go_to_the_retry_queue() {
    let template = template();
    let invoke = properties(&template, "GuardFunctionInvokeConfig");
    let on_failure = invoke
        .get("DestinationConfig")
        .and_then(|d| d.get("OnFailure"))
        .and_then(|d| d.get("Destination"))
        .expect("OnFailure destination");
    assert_eq!(
        render(on_failure),
        "!GetAtt RetryQueue.Arn",
        "failed asynchronous invocations must go to the retry queue"
    );
    // Every rule that invokes the function keeps what it cannot deliver on the retry
    // queue; other rules never do (the function would judge their messages).
    let mut feeding = Vec::new();
    for (id, rule) in resources(&template, "AWS::Events::Rule") {
        let props = rule.get("Properties").unwrap();
        for target in seq(props.get("Targets"), "Targets") {
            let dlq = target
                .get("DeadLetterConfig")
                .and_then(|d| d.get("Arn"))
                .map(render)
                .unwrap_or_else(|| panic!("{id}: a target without a dead-letter queue"));
            if targets_function(target) {
                assert_eq!(dlq, "!GetAtt RetryQueue.Arn", "{id}: DeadLetterConfig");
                feeding.push(format!("!GetAtt {id}.Arn"));
            } else {
                assert_ne!(
                    dlq, "!GetAtt RetryQueue.Arn",
                    "{id}: not an event for the function"
                );
            }
        }
    }
    // The queue admits exactly those rules.
    let statements = seq(
        properties(&template, "RetryQueuePolicy")
            .get("PolicyDocument")
            .and_then(|d| d.get("Statement")),
        "RetryQueuePolicy",
    );
    let allow = statements
        .iter()
        .find(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .expect("an Allow statement");
    let admitted: BTreeSet<String> = seq(
        allow
            .get("Condition")
            .and_then(|c| c.get("ArnEquals"))
            .and_then(|c| c.get("aws:SourceArn")),
        "aws:SourceArn",
    )
    .iter()
    .map(render)
    .collect();
    assert_eq!(
        admitted,
        feeding.into_iter().collect(),
        "RetryQueuePolicy sources"
    );
    // The function's role sends to the retry queue and reads it, and nothing else of SQS.
    for grant in grants(resource(&template, "FunctionRole")) {
        if grant.action.starts_with("sqs:") {
            assert_eq!(grant.resource, "!GetAtt RetryQueue.Arn", "{}", grant.action);
        }
    }
}

// ------------------------------------------------------------- organization

#[test]
fn forwarded_events_arrive_on_a_dedicated_bus() {
    let template = template();
    let buses = resources(&template, "AWS::Events::EventBus");
    let forwarded = buses
        .iter()
        .find(|(_, b)| {
            b.get("Properties")
                .and_then(|p| p.get("Name"))
                .map(render)
                .as_deref()
                == Some("!Sub ${AWS::StackName}-forwarded")
        })
        .map(|(id, _)| *id)
        .expect("an event bus named <stack>-forwarded");
    assert!(
        resource(&template, forwarded).get("Condition").is_none(),
        "the forwarded bus exists in every deployment"
    );
    // No policy of the stack opens the default bus; the organization may put events on
    // the forwarded bus, and only the organization.
    let text = std::fs::read_to_string(infra("template.yaml")).unwrap();
    assert!(
        !text.contains("event-bus/default"),
        "template.yaml names the default bus"
    );
    let policies = resources(&template, "AWS::Events::EventBusPolicy");
    assert_eq!(policies.len(), 1, "one bus policy");
    let (id, policy) = policies[0];
    assert_eq!(
        policy.get("Condition").and_then(Value::as_str),
        Some("HasOrganization")
    );
    let props = policy.get("Properties").unwrap();
    assert_eq!(
        render(props.get("EventBusName").unwrap()),
        format!("!GetAtt {forwarded}.Name"),
        "{id}: EventBusName"
    );
    let statement = props.get("Statement").unwrap();
    assert_eq!(render(statement.get("Action").unwrap()), "events:PutEvents");
    assert_eq!(
        render(statement.get("Resource").unwrap()),
        format!("!GetAtt {forwarded}.Arn")
    );
    assert_eq!(
        render(
            statement
                .get("Condition")
                .and_then(|c| c.get("StringEquals"))
                .and_then(|c| c.get("aws:PrincipalOrgID"))
                .expect("aws:PrincipalOrgID")
        ),
        "!Ref OrganizationId"
    );
    // The function listens on both buses, with the same pattern.
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(infra("eventbridge-pattern.json")).unwrap())
            .unwrap();
    let mut buses_heard = BTreeSet::new();
    for (id, rule) in resources(&template, "AWS::Events::Rule") {
        let props = rule.get("Properties").unwrap();
        if !seq(props.get("Targets"), "Targets")
            .iter()
            .any(targets_function)
        {
            continue;
        }
        assert_eq!(rule_pattern(&template, id), expected, "{id}: pattern");
        let bus = props
            .get("EventBusName")
            .map_or("default".to_owned(), render);
        assert!(buses_heard.insert(bus.clone()), "two rules on {bus}");
        let permitted = resources(&template, "AWS::Lambda::Permission")
            .iter()
            .any(|(_, p)| {
                let p = p.get("Properties").unwrap();
                render(p.get("SourceArn").unwrap()) == format!("!GetAtt {id}.Arn")
                    && render(p.get("FunctionName").unwrap()) == "!Ref GuardFunction"
            });
        assert!(permitted, "{id}: no permission to invoke the function");
    }
    assert_eq!(
        buses_heard,
        ["default".to_owned(), format!("!GetAtt {forwarded}.Name")].into(),
        "the function hears the default bus and the forwarded bus"
    );
    let output = template
        .get("Outputs")
        .and_then(|o| o.get("CentralEventBusArn"))
        .and_then(|o| o.get("Value"))
        .expect("CentralEventBusArn output");
    assert_eq!(render(output), format!("!GetAtt {forwarded}.Arn"));

    // The forwarder sends to that bus, and accepts no other (a default bus ARN included).
    let forwarder = load("forwarder.yaml");
    let target = &seq(
        properties(&forwarder, "ForwardRule").get("Targets"),
        "ForwardRule Targets",
    )[0];
    assert_eq!(
        render(target.get("Arn").unwrap()),
        "!Ref CentralEventBusArn"
    );
    let pattern = forwarder
        .get("Parameters")
        .and_then(|p| p.get("CentralEventBusArn"))
        .and_then(|p| p.get("AllowedPattern"))
        .and_then(Value::as_str)
        .expect("CentralEventBusArn AllowedPattern");
    assert!(
        pattern.ends_with(":event-bus/[A-Za-z0-9._-]+-forwarded$"),
        "CentralEventBusArn must name a <stack>-forwarded bus: {pattern}"
    );
}

// ---------------------------------------------------------------- member role

/// The actions a role grants in a deployment with these parameter values.
fn granted_actions(template: &Value, role: &str, given: &[(&str, &str)]) -> BTreeSet<String> {
    let values = parameters(template, given);
    grants(resource(template, role))
        .into_iter()
        .filter(|g| {
            g.condition
                .as_deref()
                .is_none_or(|c| condition(template, c, &values))
        })
        .map(|g| g.action)
        .collect()
}

#[test]
fn member_role_writes_only_when_the_central_stack_enforces() {
    let template = load("member-role.yaml");
    let allowed = seq(
        template
            .get("Parameters")
            .and_then(|p| p.get("CentralMode"))
            .and_then(|p| p.get("AllowedValues")),
        "CentralMode AllowedValues",
    );
    assert_eq!(render(&Value::Sequence(allowed.to_vec())), "audit, enforce");
    assert_eq!(parameter_default(&template, "CentralMode"), "audit");
    let with = |need: &[Need]| -> BTreeSet<String> {
        permissions::member_role()
            .filter(|p| need.contains(&p.need))
            .map(|p| p.action.to_owned())
            .collect()
    };
    let reads = with(&[Need::Always]);
    let writes = with(&[Need::Enforce]);
    let egress = with(&[Need::EnforceEgress]);
    assert!(!reads.is_empty() && !writes.is_empty() && !egress.is_empty());
    for (given, wanted) in [
        (&[("CentralMode", "audit")][..], reads.clone()),
        (
            &[("CentralMode", "audit"), ("RevertEgress", "true")][..],
            reads.clone(),
        ),
        (&[("CentralMode", "enforce")][..], &reads | &writes),
        (
            &[("CentralMode", "enforce"), ("RevertEgress", "true")][..],
            &(&reads | &writes) | &egress,
        ),
    ] {
        assert_eq!(
            granted_actions(&template, "MemberRole", given),
            wanted,
            "member-role.yaml with {given:?}"
        );
    }
}

// ------------------------------------------------------------------ parameters

#[test]
fn numeric_parameters_are_bounded_as_the_code_bounds_them() {
    let template = template();
    let declared = template
        .get("Parameters")
        .and_then(Value::as_mapping)
        .expect("Parameters");
    let variables = function_properties(&template)
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .expect("Environment.Variables");
    let mut checked = Vec::new();
    for (variable, value) in variables {
        let variable = str_of(variable, "variable");
        let rendered = render(value);
        for (name, parameter) in declared {
            let name = str_of(name, "parameter");
            if parameter.get("Type").and_then(Value::as_str) != Some("Number")
                || !rendered.contains(&format!("!Ref {name}"))
            {
                continue;
            }
            let bound = |key: &str| {
                parameter
                    .get(key)
                    .and_then(Value::as_i64)
                    .unwrap_or_else(|| panic!("{name}: no {key} (the function bounds {variable})"))
            };
            let (min, max) = (bound("MinValue"), bound("MaxValue"));
            let parse = |n: i64| {
                sgguard_lambda::Config::from_env(|v| (v == variable).then(|| n.to_string()))
            };
            for n in [min, max] {
                assert!(
                    parse(n).is_ok(),
                    "{name}={n} is rejected by the function: {:?}",
                    parse(n)
                );
            }
            assert!(
                parse(max + 1).is_err(),
                "{name}: MaxValue {max} is below what the function accepts for {variable}"
            );
            checked.push(name);
        }
    }
    checked.sort_unstable();
    assert_eq!(
        checked,
        ["AllowlistCacheSecs", "HistoryGraceSecs", "RetentionDays"],
        "the numeric parameters the function reads"
    );
    // LogLevel goes to Lambda's advanced logging controls, which accept these only.
    let levels = seq(
        declared
            .get("LogLevel")
            .and_then(|p| p.get("AllowedValues")),
        "LogLevel AllowedValues",
    );
    assert_eq!(
        render(&Value::Sequence(levels.to_vec())),
        "TRACE, DEBUG, INFO, WARN, ERROR"
    );
}
