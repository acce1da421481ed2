//! CloudTrail records as plain JSON, in the shapes CloudTrail writes, for tests and
//! benchmarks of every crate (feature `test-util`). One set of builders: the emulator-backed
//! helpers of `sgguard-testkit` build on these.
//!
//! ```
//! use sgguard_core::testing::{Authorize, Caller, envelope};
//!
//! let record = Authorize::new("e-1", "sg-0a1b2c3d4e5f60718")
//!     .by(Caller::user("111122223333", "alice"))
//!     .rule("sgr-1", "tcp", 22, "0.0.0.0/0")
//!     .build();
//! assert_eq!(record["eventName"], "AuthorizeSecurityGroupIngress");
//! assert_eq!(envelope(&record)["source"], "aws.ec2");
//! ```

use serde_json::{Value, json};

/// The account, region and time a record gets unless told otherwise.
pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "eu-west-1";
pub const TIME: &str = "2026-11-20T09:00:00Z";

/// Who makes a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub arn: String,
    /// The role behind an assumed-role session.
    pub role_arn: Option<String>,
}

impl Caller {
    pub fn user(account: &str, name: &str) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            role_arn: None,
        }
    }

    pub fn role(account: &str, role: &str, session: &str) -> Self {
        Self {
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            role_arn: Some(format!("arn:aws:iam::{account}:role/{role}")),
        }
    }

    /// `userIdentity` as CloudTrail writes it.
    pub fn identity(&self, account: &str) -> Value {
        match &self.role_arn {
            Some(role) => json!({
                "type": "AssumedRole", "arn": self.arn, "accountId": account, "principalId": "AROAEXAMPLE:session",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": account}}
            }),
            None => {
                json!({"type": "IAMUser", "arn": self.arn, "accountId": account, "principalId": "AIDAEXAMPLE"})
            }
        }
    }
}

/// `{"items": [...]}`, or `{}` when empty, as CloudTrail writes collections.
pub fn items(values: Vec<Value>) -> Value {
    if values.is_empty() {
        json!({})
    } else {
        json!({ "items": values })
    }
}

/// A record's common fields around `request` and `response`.
#[derive(Debug, Clone)]
pub struct Record {
    pub event_id: String,
    pub event_name: String,
    pub account: String,
    pub region: String,
    pub time: String,
    pub caller: Caller,
    pub request: Value,
    pub response: Value,
    pub error_code: Option<String>,
    pub event_source: String,
}

impl Record {
    /// A successful call by `alice` in [`ACCOUNT`] and [`REGION`] at [`TIME`].
    pub fn new(event_id: &str, event_name: &str, request: Value, response: Value) -> Self {
        Self {
            event_id: event_id.to_owned(),
            event_name: event_name.to_owned(),
            account: ACCOUNT.to_owned(),
            region: REGION.to_owned(),
            time: TIME.to_owned(),
            caller: Caller::user(ACCOUNT, "alice"),
            request,
            response,
            error_code: None,
            event_source: "ec2.amazonaws.com".to_owned(),
        }
    }

    pub fn build(&self) -> Value {
        let mut record = json!({
            "eventVersion": "1.09",
            "userIdentity": self.caller.identity(&self.account),
            "eventTime": self.time,
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": self.region,
            "sourceIPAddress": "198.51.100.10",
            "userAgent": "aws-cli/2.17.0",
            "requestParameters": self.request,
            "responseElements": self.response,
            "requestID": format!("req-{}", self.event_id),
            "eventID": self.event_id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management"
        });
        if let Some(code) = &self.error_code {
            record["errorCode"] = json!(code);
            record["errorMessage"] = json!("the call failed");
            record["responseElements"] = Value::Null;
        }
        record
    }
}

/// A record of any call, as [`Record::new`] with these fields.
pub fn record(
    event_id: &str,
    event_name: &str,
    account: &str,
    region: &str,
    caller: &Caller,
    request: Value,
    response: Value,
) -> Value {
    Record {
        account: account.to_owned(),
        region: region.to_owned(),
        caller: caller.clone(),
        ..Record::new(event_id, event_name, request, response)
    }
    .build()
}

/// One rule an Authorize created: its id, protocol, port (one port, or none for `-1`) and
/// source (a CIDR, `pl-…` or `sg-…`).
#[derive(Debug, Clone)]
struct Rule {
    id: String,
    protocol: String,
    port: Option<i32>,
    source: String,
}

/// An `AuthorizeSecurityGroupIngress` (or `…Egress`) record: the request's permissions and
/// the response's `securityGroupRuleSet`, one rule each.
#[derive(Debug, Clone)]
pub struct Authorize {
    record: Record,
    group: String,
    egress: bool,
    rules: Vec<Rule>,
    rule_ids: bool,
}

impl Authorize {
    pub fn new(event_id: &str, group: &str) -> Self {
        Self {
            record: Record::new(
                event_id,
                "AuthorizeSecurityGroupIngress",
                Value::Null,
                Value::Null,
            ),
            group: group.to_owned(),
            egress: false,
            rules: Vec::new(),
            rule_ids: true,
        }
    }

    /// One rule: `protocol` `port` from `source` (a CIDR, `pl-…` or `sg-…`).
    pub fn rule(mut self, id: &str, protocol: &str, port: i32, source: &str) -> Self {
        self.rules.push(Rule {
            id: id.to_owned(),
            protocol: protocol.to_owned(),
            port: (protocol != "-1").then_some(port),
            source: source.to_owned(),
        });
        self
    }

    /// One tcp rule on `port` from `source`.
    pub fn tcp(self, id: &str, port: i32, source: &str) -> Self {
        self.rule(id, "tcp", port, source)
    }

    pub fn egress(mut self) -> Self {
        self.egress = true;
        self.record.event_name = "AuthorizeSecurityGroupEgress".into();
        self
    }

    /// An older record: the response has no `securityGroupRuleSet`.
    pub fn without_rule_ids(mut self) -> Self {
        self.rule_ids = false;
        self
    }

    pub fn by(mut self, caller: Caller) -> Self {
        self.record.caller = caller;
        self
    }

    pub fn at(mut self, time: &str) -> Self {
        self.record.time = time.to_owned();
        self
    }

    pub fn in_account(mut self, account: &str, region: &str) -> Self {
        self.record.account = account.to_owned();
        self.record.region = region.to_owned();
        self
    }

    pub fn failed(mut self, code: &str) -> Self {
        self.record.error_code = Some(code.to_owned());
        self
    }

    pub fn event_source(mut self, source: &str) -> Self {
        self.record.event_source = source.to_owned();
        self
    }

    pub fn build(&self) -> Value {
        let permissions: Vec<Value> = self.rules.iter().map(permission).collect();
        let rule_set: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                let mut item = json!({
                    "securityGroupRuleId": r.id,
                    "groupId": self.group,
                    "groupOwnerId": self.record.account,
                    "isEgress": self.egress,
                    "ipProtocol": r.protocol,
                    "fromPort": r.port.unwrap_or(-1),
                    "toPort": r.port.unwrap_or(-1),
                });
                let (key, value) = rule_source(&r.source);
                item[key] = value;
                item
            })
            .collect();
        let response = if self.rule_ids {
            json!({"requestId": "req-1", "_return": true, "securityGroupRuleSet": items(rule_set)})
        } else {
            json!({"requestId": "req-1", "_return": true})
        };
        Record {
            request: json!({"groupId": self.group, "ipPermissions": items(permissions)}),
            response,
            ..self.record.clone()
        }
        .build()
    }
}

/// A permission of an Authorize request, with its one source.
fn permission(rule: &Rule) -> Value {
    let mut p = json!({
        "ipProtocol": rule.protocol,
        "ipRanges": {}, "ipv6Ranges": {}, "prefixListIds": {}, "groups": {},
    });
    if let Some(port) = rule.port {
        p["fromPort"] = json!(port);
        p["toPort"] = json!(port);
    }
    let source = &rule.source;
    let (key, item) = if source.starts_with("pl-") {
        ("prefixListIds", json!({"prefixListId": source}))
    } else if source.starts_with("sg-") {
        ("groups", json!({"groupId": source}))
    } else if source.contains(':') {
        ("ipv6Ranges", json!({"cidrIpv6": source}))
    } else {
        ("ipRanges", json!({"cidrIp": source}))
    };
    p[key] = json!({"items": [item]});
    p
}

/// The source field of a rule-set item.
fn rule_source(source: &str) -> (&'static str, Value) {
    if source.starts_with("pl-") {
        ("prefixListId", json!(source))
    } else if source.starts_with("sg-") {
        ("referencedGroupInfo", json!({"groupId": source}))
    } else if source.contains(':') {
        ("cidrIpv6", json!(source))
    } else {
        ("cidrIpv4", json!(source))
    }
}

/// A `ModifySecurityGroupRules` record of several rules, each `(rule id, content)` with the
/// content in the request's PascalCase (`{"IpProtocol": "tcp", "CidrIpv4": …}`). One rule is
/// written as an object, several as a list, as CloudTrail does.
pub fn modify_rules(
    event_id: &str,
    caller: &Caller,
    group: &str,
    rules: &[(&str, Value)],
) -> Record {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(rule_id, content)| {
            json!({"SecurityGroupRuleId": rule_id, "SecurityGroupRule": content})
        })
        .collect();
    let rules = match rules.as_slice() {
        [one] => one.clone(),
        _ => Value::Array(rules),
    };
    Record {
        caller: caller.clone(),
        ..Record::new(
            event_id,
            "ModifySecurityGroupRules",
            json!({"ModifySecurityGroupRulesRequest": {"GroupId": group, "SecurityGroupRule": rules}}),
            json!({"ModifySecurityGroupRulesResponse": {"_return": true, "requestId": format!("req-{event_id}")}}),
        )
    }
}

/// The PascalCase content of a modified rule: tcp `port` from an IPv4 `cidr`.
pub fn tcp_content(port: i32, cidr: &str) -> Value {
    json!({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIpv4": cidr})
}

/// A `RevokeSecurityGroupIngress` record that names the rules by id.
pub fn revoke_by_ids(event_id: &str, caller: &Caller, group: &str, rule_ids: &[String]) -> Record {
    Record {
        caller: caller.clone(),
        ..Record::new(
            event_id,
            "RevokeSecurityGroupIngress",
            json!({
                "groupId": group,
                "securityGroupRuleIds": items(rule_ids.iter().map(|id| json!({"securityGroupRuleId": id})).collect()),
            }),
            json!({"requestId": format!("req-{event_id}"), "_return": true}),
        )
    }
}

/// A `ModifyManagedPrefixList` record that adds `add` to the list at `current_version`, in
/// the PascalCase wrapper form, answered as AWS answers: in progress, at the version it
/// started from.
pub fn modify_prefix_list(
    event_id: &str,
    caller: &Caller,
    prefix_list_id: &str,
    current_version: i64,
    add: &[&str],
) -> Record {
    let entries: Vec<Value> = add
        .iter()
        .map(|cidr| json!({"Cidr": cidr, "Description": "added"}))
        .collect();
    Record {
        caller: caller.clone(),
        ..Record::new(
            event_id,
            "ModifyManagedPrefixList",
            json!({"ModifyManagedPrefixListRequest": {
                "PrefixListId": prefix_list_id,
                "CurrentVersion": current_version,
                "AddEntry": entries,
            }}),
            json!({"ModifyManagedPrefixListResponse": {
                "requestId": format!("req-{event_id}"),
                "prefixList": {"prefixListId": prefix_list_id, "version": current_version, "state": "modify-in-progress"}
            }}),
        )
    }
}

/// The EventBridge envelope that delivers a record to the Lambda.
pub fn envelope(record: &Value) -> Value {
    json!({
        "version": "0",
        "id": format!("eb-{}", record["eventID"].as_str().unwrap_or_default()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record
    })
}

/// What the deployed function's OnFailure destination keeps for one event: the EventBridge
/// event in `requestPayload`, the error beside it.
pub fn dead_letter(event: &Value) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-26T10:00:00.000Z",
        "requestContext": {
            "requestId": "6f1a3c52-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:sgguard:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Retryable", "errorMessage": "retryable: audit log: throttled"}
    })
}
