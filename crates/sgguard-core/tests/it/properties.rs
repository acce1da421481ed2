//! Properties: arbitrary JSON never panics the engine; generated Authorize events
//! round-trip through `normalize`; allowlist containment holds for random subnets and ranges.

use std::net::{Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sgguard_core::allowlist::RuleFacts;
use sgguard_core::event::{RecordClass, SECURITY_GROUP_CALLS};
use sgguard_core::{
    AllowEntry, Allowlist, ChangeKind, Context, Direction, Identity, Policy, PortRange, Protocol,
    RuleChange, RuleContent, Source, classify_record, decide, input, normalize,
};

// ---------------------------------------------------------------------------------------
// (a) Arbitrary JSON never panics
// ---------------------------------------------------------------------------------------

/// Key names real CloudTrail security-group records use, in both casings.
pub(crate) const KEYS: &[&str] = &[
    "eventVersion",
    "eventName",
    "eventID",
    "eventTime",
    "eventSource",
    "awsRegion",
    "recipientAccountId",
    "errorCode",
    "errorMessage",
    "sourceIPAddress",
    "userAgent",
    "userIdentity",
    "type",
    "arn",
    "accountId",
    "principalId",
    "principalid",
    "accountid",
    "sessionContext",
    "sessioncontext",
    "sessionIssuer",
    "sessionissuer",
    "invokedBy",
    "requestParameters",
    "responseElements",
    "groupId",
    "groupName",
    "ipPermissions",
    "items",
    "ipProtocol",
    "fromPort",
    "toPort",
    "ipRanges",
    "cidrIp",
    "ipv6Ranges",
    "cidrIpv6",
    "prefixListIds",
    "prefixListId",
    "groups",
    "userId",
    "vpcPeeringConnectionId",
    "description",
    "sourceSecurityGroupName",
    "sourceSecurityGroupOwnerId",
    "securityGroupRuleSet",
    "revokedSecurityGroupRuleSet",
    "securityGroupRuleId",
    "securityGroupRuleIds",
    "securityGroupRuleDescriptions",
    "isEgress",
    "cidrIpv4",
    "referencedGroupInfo",
    "_return",
    "ModifySecurityGroupRulesRequest",
    "GroupId",
    "SecurityGroupRule",
    "SecurityGroupRuleId",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIpv4",
    "CidrIpv6",
    "PrefixListId",
    "ReferencedGroupId",
    "Description",
    "Records",
    "detail",
    "detail-type",
    "region",
    "account",
];

/// Strings that mean something somewhere in a record, plus broken variants.
pub(crate) const STRINGS: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "RunInstances",
    "ec2.amazonaws.com",
    "s3.amazonaws.com",
    "2026-05-01T10:00:00Z",
    "2021-01-24 04:55:45.000",
    "2026-13-45T99:00:00Z",
    "eu-west-1",
    "111122223333",
    "sg-0123",
    "sgr-0123",
    "pl-0123",
    "pcx-0123",
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "-1",
    "6",
    "300",
    "22",
    "65536",
    "",
    " ",
    "0.0.0.0/0",
    "::/0",
    "208.236.235.254/0",
    "10.0.0.0/33",
    "0.0.0.0/16",
    "2001:db8::/129",
    "not-a-cidr",
    "arn:aws:sts::111122223333:assumed-role/x/y",
    "arn:aws:sts::",
    "arn:",
    "AssumedRole",
    "...",
    "Client.InvalidPermission.Duplicate",
];

pub(crate) fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(22),
            Just(65535),
            Just(65536),
            any::<i64>()
        ]
        .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        proptest::sample::select(STRINGS).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ]
}

pub(crate) fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{1,10}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A record head that passes `classify_record`, with arbitrary parameters, so the
/// fuzzing reaches the parsing of `requestParameters` and `responseElements`.
fn record_like() -> BoxedStrategy<Value> {
    (
        proptest::sample::select(SECURITY_GROUP_CALLS.to_vec()),
        prop_oneof![2 => json_value(), 1 => permission_like()],
        json_value(),
        prop_oneof![
            1 => json_value(),
            1 => Just(json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"})),
        ],
        any::<bool>(),
    )
        .prop_map(|(name, request, response, identity, envelope)| {
            let record = json!({
                "eventID": "e-1",
                "eventName": name,
                "eventTime": "2026-05-01T10:00:00Z",
                "eventSource": "ec2.amazonaws.com",
                "awsRegion": "eu-west-1",
                "recipientAccountId": "111122223333",
                "userIdentity": identity,
                "requestParameters": request,
                "responseElements": response,
            });
            if envelope {
                json!({"detail": record, "region": "eu-west-1"})
            } else {
                record
            }
        })
        .boxed()
}

/// Mostly one of `valid`, sometimes any leaf at all.
fn plausible(valid: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => proptest::sample::select(valid).prop_map(Value::from),
        1 => leaf(),
    ]
}

/// `{"items": [item]}`, `{}`, or nothing.
fn collection(item: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => item.prop_map(|i| Some(json!({"items": [i]}))),
        1 => Just(Some(json!({}))),
        1 => Just(None),
    ]
}

/// Permission-shaped parameters whose leaves are arbitrary (or plausible).
fn permission_like() -> BoxedStrategy<Value> {
    let protocols: &'static [&'static str] = &["tcp", "udp", "icmp", "-1", "6", "58", "50"];
    let ports: &'static [&'static str] = &["22", "-1", "0", "65535", "443"];
    let port =
        move || prop_oneof![2 => (-1i32..70000).prop_map(Value::from), 1 => plausible(ports)];
    let cidrs: &'static [&'static str] =
        &["0.0.0.0/0", "10.0.0.0/8", "208.236.235.254/0", "0.0.0.0/16"];
    let cidrs6: &'static [&'static str] = &["::/0", "2001:db8::/32", "fc00::/7"];
    let ids: &'static [&'static str] = &["pl-1", "sg-1", "sgr-1"];
    (
        plausible(protocols),
        port(),
        port(),
        collection(plausible(cidrs).prop_map(|c| json!({"cidrIp": c}))),
        collection(plausible(cidrs6).prop_map(|c| json!({"cidrIpv6": c}))),
        collection(plausible(ids).prop_map(|p| json!({"prefixListId": p}))),
        collection((plausible(ids), leaf()).prop_map(|(g, u)| json!({"groupId": g, "userId": u}))),
        proptest::option::of(plausible(ids)),
    )
        .prop_map(|(protocol, from, to, v4, v6, pl, groups, rule_id)| {
            let mut item = Map::new();
            item.insert("ipProtocol".into(), protocol.clone());
            item.insert("fromPort".into(), from.clone());
            item.insert("toPort".into(), to.clone());
            for (key, value) in [("ipRanges", v4.clone()), ("ipv6Ranges", v6), ("prefixListIds", pl), ("groups", groups)] {
                if let Some(value) = value {
                    item.insert(key.into(), value);
                }
            }
            let cidr = v4.and_then(|v| v["items"][0]["cidrIp"].as_str().map(str::to_owned));
            let mut request = json!({
                "groupId": "sg-1",
                "ipPermissions": {"items": [item]},
                "ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
                    "SecurityGroupRuleId": "sgr-1",
                    "SecurityGroupRule": {"IpProtocol": protocol, "FromPort": from, "ToPort": to, "CidrIpv4": cidr}
                }},
            });
            if let Some(id) = rule_id {
                request["securityGroupRuleIds"] = json!({"items": [{"securityGroupRuleId": id}]});
                request["securityGroupRuleDescriptions"] = json!({"items": [{"securityGroupRuleId": id}]});
            }
            request
        })
        // boxed: the value tree of this large tuple would otherwise live on the stack
        .boxed()
}

fn structured_record() -> impl Strategy<Value = Value> {
    let times: &'static [&'static str] = &["2026-05-01T10:00:00Z", "2021-01-24 04:55:45.000"];
    (
        proptest::sample::select(SECURITY_GROUP_CALLS.to_vec()),
        permission_like(),
        plausible(times),
    )
        .prop_map(|(name, request, time)| {
            json!({
                "eventID": "e-1", "eventName": name, "eventTime": time,
                "awsRegion": "eu-west-1", "recipientAccountId": "111122223333",
                "requestParameters": request,
                "responseElements": {"_return": true},
            })
        })
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Runs a document through every stage; none may panic. Returns how many records normalized.
fn run_everything(document: Value) -> usize {
    let Ok(records) = input::records(document) else {
        return 0;
    };
    let allowlist = Allowlist::new(vec![AllowEntry::new("any", "me", "r")]);
    let policy = Policy::default();
    let mut normalized = 0;
    for record in &records {
        let class = classify_record(record);
        if let Ok(set) = normalize(record) {
            normalized += 1;
            let d = decide(&set, &Context::offline(&allowlist, now()), &policy);
            assert_eq!(d.changes.len(), set.changes.len());
            let _ = set.group_label();
            if let RecordClass::Unrelated { .. } = class {
                // normalize accepts only security-group calls
                assert!(SECURITY_GROUP_CALLS.contains(&set.meta.event_name.as_str()));
            }
        }
    }
    normalized
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(document in json_value()) {
        run_everything(document);
    }

    #[test]
    fn arbitrary_records_never_panic(document in record_like()) {
        run_everything(document);
    }

    #[test]
    fn arbitrary_log_files_never_panic(records in proptest::collection::vec(prop_oneof![record_like(), json_value()], 0..6)) {
        let count = records.len();
        let split = input::records(json!({"Records": records})).unwrap();
        prop_assert_eq!(split.len(), count);
        run_everything(Value::Array(split));
    }

    #[test]
    fn arbitrary_leaves_in_permissions_never_panic(document in structured_record()) {
        run_everything(document);
    }
}

/// Guards the fuzzing above against vacuity: the generators must reach successful
/// normalization, and failures, often enough to mean something.
#[test]
fn fuzz_generators_reach_normalize() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut sample = |strategy: BoxedStrategy<Value>| {
        let (mut ok, mut err) = (0, 0);
        for _ in 0..2000 {
            let document = strategy.new_tree(&mut runner).unwrap().current();
            for record in input::records(document).unwrap_or_default() {
                match normalize(&record) {
                    Ok(_) => ok += 1,
                    Err(_) => err += 1,
                }
            }
        }
        (ok, err)
    };
    let (ok, err) = sample(structured_record().boxed());
    assert!(
        ok >= 20 && err >= 20,
        "structured records: {ok} normalized, {err} rejected"
    );
    let (ok, err) = sample(record_like());
    assert!(
        ok >= 20 && err >= 20,
        "record-like documents: {ok} normalized, {err} rejected"
    );
}

// ---------------------------------------------------------------------------------------
// (b) Generated Authorize events round-trip
// ---------------------------------------------------------------------------------------

const PROTOCOLS: &[(&str, Protocol)] = &[
    ("tcp", Protocol::Tcp),
    ("6", Protocol::Tcp),
    ("udp", Protocol::Udp),
    ("17", Protocol::Udp),
    ("icmp", Protocol::Icmp),
    ("1", Protocol::Icmp),
    ("icmpv6", Protocol::Icmpv6),
    ("58", Protocol::Icmpv6),
    ("-1", Protocol::All),
    ("50", Protocol::Number(50)),
    ("47", Protocol::Number(47)),
];

#[derive(Debug, Clone)]
struct GenPermission {
    protocol_text: &'static str,
    protocol: Protocol,
    from: Option<i32>,
    to: Option<i32>,
    v4: Vec<(Ipv4Net, Option<String>)>,
    v6: Vec<(Ipv6Net, Option<String>)>,
    prefix_lists: Vec<(String, Option<String>)>,
    groups: Vec<GenGroup>,
}

/// A referenced group: id, owner account, peering connection, description.
type GenGroup = (String, Option<String>, Option<String>, Option<String>);

impl GenPermission {
    /// The rules EC2 stores for this permission, in the order normalize reports them.
    fn contents(&self) -> Vec<RuleContent> {
        let content = |source: Source, description: &Option<String>| RuleContent {
            protocol: self.protocol,
            from_port: self.from,
            to_port: self.to,
            source,
            description: description.clone(),
        };
        let mut out = Vec::new();
        out.extend(self.v4.iter().map(|(n, d)| content(Source::CidrV4(*n), d)));
        out.extend(self.v6.iter().map(|(n, d)| content(Source::CidrV6(*n), d)));
        out.extend(
            self.prefix_lists
                .iter()
                .map(|(p, d)| content(Source::PrefixList(p.clone()), d)),
        );
        out.extend(self.groups.iter().map(|(g, user, pcx, d)| {
            content(
                Source::SecurityGroup {
                    group_id: g.clone(),
                    user_id: user.clone(),
                    vpc_peering_connection_id: pcx.clone(),
                },
                d,
            )
        }));
        out
    }

    fn source_count(&self) -> usize {
        self.v4.len() + self.v6.len() + self.prefix_lists.len() + self.groups.len()
    }
}

fn description() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-zA-Z0-9 ._()-]{0,24}")
}

fn ipv4_net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(addr, prefix)| Ipv4Net::new(Ipv4Addr::from(addr), prefix).unwrap())
}

fn ipv6_net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(addr, prefix)| Ipv6Net::new(Ipv6Addr::from(addr), prefix).unwrap())
}

fn ports_for(protocol: Protocol) -> BoxedStrategy<(Option<i32>, Option<i32>)> {
    match protocol {
        Protocol::Tcp | Protocol::Udp => (0u16..=65535, 0u16..=65535)
            .prop_map(|(a, b)| (Some(i32::from(a.min(b))), Some(i32::from(a.max(b)))))
            .boxed(),
        Protocol::Icmp | Protocol::Icmpv6 => (-1i32..=255, -1i32..=255)
            .prop_map(|(t, c)| (Some(t), Some(c)))
            .boxed(),
        Protocol::All => prop_oneof![Just((None, None)), Just((Some(-1), Some(-1)))].boxed(),
        Protocol::Number(_) => Just((None, None)).boxed(),
    }
}

fn gen_permission() -> impl Strategy<Value = GenPermission> {
    proptest::sample::select(PROTOCOLS)
        .prop_flat_map(|(text, protocol)| {
            (
                Just(text),
                Just(protocol),
                ports_for(protocol),
                proptest::collection::vec((ipv4_net(), description()), 0..3),
                proptest::collection::vec((ipv6_net(), description()), 0..3),
                proptest::collection::vec(("pl-[0-9a-f]{8,17}", description()), 0..2),
                proptest::collection::vec(
                    (
                        "sg-[0-9a-f]{8,17}",
                        proptest::option::of("[0-9]{12}"),
                        proptest::option::of("pcx-[0-9a-f]{8}"),
                        description(),
                    ),
                    0..2,
                ),
            )
        })
        .prop_map(
            |(protocol_text, protocol, (from, to), v4, v6, prefix_lists, groups)| GenPermission {
                protocol_text,
                protocol,
                from,
                to,
                v4,
                v6,
                prefix_lists,
                groups,
            },
        )
        .prop_filter("a permission needs a source", |p| p.source_count() > 0)
}

fn port_json(port: Option<i32>, as_string: bool) -> Option<Value> {
    port.map(|p| {
        if as_string {
            Value::from(p.to_string())
        } else {
            Value::from(p)
        }
    })
}

fn with_description(mut item: Value, description: &Option<String>) -> Value {
    if let Some(d) = description {
        item["description"] = Value::from(d.clone());
    }
    item
}

fn request_permission(p: &GenPermission, ports_as_strings: bool) -> Value {
    let mut item = json!({
        "ipProtocol": p.protocol_text,
        "ipRanges": {"items": p.v4.iter().map(|(n, d)| with_description(json!({"cidrIp": n.to_string()}), d)).collect::<Vec<_>>()},
        "ipv6Ranges": {"items": p.v6.iter().map(|(n, d)| with_description(json!({"cidrIpv6": n.to_string()}), d)).collect::<Vec<_>>()},
        "prefixListIds": {"items": p.prefix_lists.iter().map(|(id, d)| with_description(json!({"prefixListId": id}), d)).collect::<Vec<_>>()},
        "groups": {"items": p.groups.iter().map(|(g, user, pcx, d)| {
            let mut item = json!({"groupId": g});
            if let Some(user) = user { item["userId"] = Value::from(user.clone()); }
            if let Some(pcx) = pcx { item["vpcPeeringConnectionId"] = Value::from(pcx.clone()); }
            with_description(item, d)
        }).collect::<Vec<_>>()},
    });
    // empty collections as CloudTrail writes them: `{}`
    for key in ["ipRanges", "ipv6Ranges", "prefixListIds", "groups"] {
        if item[key]["items"].as_array().is_some_and(Vec::is_empty) {
            item[key] = json!({});
        }
    }
    if let Some(from) = port_json(p.from, ports_as_strings) {
        item["fromPort"] = from;
    }
    if let Some(to) = port_json(p.to, ports_as_strings) {
        item["toPort"] = to;
    }
    item
}

/// The `securityGroupRuleSet` item for one rule, as AWS returns it.
fn rule_set_item(index: usize, protocol_text: &str, content: &RuleContent, egress: bool) -> Value {
    let mut item = json!({
        "securityGroupRuleId": format!("sgr-{index:017x}"),
        "groupId": "sg-0123456789abcdef0",
        "groupOwnerId": "111122223333",
        "isEgress": egress,
        "ipProtocol": protocol_text,
    });
    match &content.source {
        Source::CidrV4(n) => item["cidrIpv4"] = Value::from(n.to_string()),
        Source::CidrV6(n) => item["cidrIpv6"] = Value::from(n.to_string()),
        Source::PrefixList(id) => item["prefixListId"] = Value::from(id.clone()),
        Source::SecurityGroup {
            group_id,
            user_id,
            vpc_peering_connection_id,
        } => {
            let mut info = json!({"groupId": group_id});
            if let Some(u) = user_id {
                info["userId"] = Value::from(u.clone());
            }
            if let Some(p) = vpc_peering_connection_id {
                info["vpcPeeringConnectionId"] = Value::from(p.clone());
            }
            item["referencedGroupInfo"] = info;
        }
    }
    if let Some(from) = content.from_port {
        item["fromPort"] = Value::from(from);
    }
    if let Some(to) = content.to_port {
        item["toPort"] = Value::from(to);
    }
    with_description(item, &content.description)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_authorize_events_round_trip(
        permissions in proptest::collection::vec(gen_permission(), 1..4),
        egress in any::<bool>(),
        with_rule_set in any::<bool>(),
        ports_as_strings in any::<bool>(),
        in_envelope in any::<bool>(),
    ) {
        let (event_name, direction) = if egress {
            ("AuthorizeSecurityGroupEgress", Direction::Egress)
        } else {
            ("AuthorizeSecurityGroupIngress", Direction::Ingress)
        };
        let expected_contents: Vec<(&str, RuleContent)> = permissions
            .iter()
            .flat_map(|p| p.contents().into_iter().map(move |c| (p.protocol_text, c)))
            .collect();
        let mut response = json!({"requestId": "req-1", "_return": true});
        if with_rule_set {
            response["securityGroupRuleSet"] = json!({"items": expected_contents
                .iter()
                .enumerate()
                .map(|(i, (text, c))| rule_set_item(i, text, c, egress))
                .collect::<Vec<_>>()});
        }
        let record = json!({
            "eventVersion": "1.09",
            "eventID": "6b0bd7f2-0000-4000-8000-000000000000",
            "eventTime": "2026-05-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
            "requestParameters": {
                "groupId": "sg-0123456789abcdef0",
                "ipPermissions": {"items": permissions.iter().map(|p| request_permission(p, ports_as_strings)).collect::<Vec<_>>()},
            },
            "responseElements": response,
        });
        let document = if in_envelope { json!({"detail": record, "detail-type": "AWS API Call via CloudTrail"}) } else { record };
        let records = input::records(document).unwrap();
        prop_assert_eq!(records.len(), 1);
        prop_assert_eq!(
            classify_record(&records[0]),
            RecordClass::SecurityGroupCall { event_name: event_name.to_owned() }
        );
        let set = normalize(&records[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<RuleChange> = expected_contents
            .into_iter()
            .enumerate()
            .map(|(i, (_, content))| RuleChange {
                rule_id: with_rule_set.then(|| format!("sgr-{i:017x}")),
                direction,
                kind: ChangeKind::Added,
                content: Some(content),
                note: None,
            })
            .collect();
        prop_assert_eq!(set.group_id.as_deref(), Some("sg-0123456789abcdef0"));
        prop_assert_eq!(set.changes, expected);
    }
}

// ---------------------------------------------------------------------------------------
// (c) Allowlist containment
// ---------------------------------------------------------------------------------------

fn identity() -> Identity {
    Identity {
        kind: "IAMUser".into(),
        actor: "arn:aws:iam::111122223333:user/alice".into(),
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        invoked_by: None,
    }
}

fn criteria(
    entry: &AllowEntry,
    protocol: Protocol,
    ports: PortRange,
    source: Source,
) -> Vec<&'static str> {
    let content = RuleContent {
        protocol,
        from_port: Some(i32::from(ports.from)),
        to_port: Some(i32::from(ports.to)),
        source,
        description: None,
    };
    let identity = identity();
    let facts = RuleFacts {
        direction: Direction::Ingress,
        content: &content,
        group_id: Some("sg-0123456789abcdef0"),
        account: "111122223333",
        region: "eu-west-1",
        identity: &identity,
    };
    entry
        .failures(&facts, now())
        .into_iter()
        .map(|f| f.criterion)
        .collect()
}

fn entry_for(cidr: IpNet, ports: PortRange) -> AllowEntry {
    let mut e = AllowEntry::new("generated", "me", "property test");
    e.protocol = Protocol::Tcp;
    e.ports = ports;
    e.cidrs = vec![cidr];
    e
}

fn port_range() -> impl Strategy<Value = PortRange> {
    (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortRange {
        from: a.min(b),
        to: a.max(b),
    })
}

/// A range inside `outer`, from two fractions of its width.
fn inner_range(outer: PortRange, a: u16, b: u16) -> PortRange {
    let width = u32::from(outer.to - outer.from);
    let pick = |x: u16| outer.from + u16::try_from(u32::from(x) * width / 65535).unwrap();
    let (x, y) = (pick(a), pick(b));
    PortRange {
        from: x.min(y),
        to: x.max(y),
    }
}

fn v4_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn v6_mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn v4_subnet_inside_entry_and_range_is_approved(
        entry_addr in any::<u32>(), entry_prefix in 0u8..=32,
        host in any::<u32>(), extra in 0u8..=32,
        ports in port_range(), a in any::<u16>(), b in any::<u16>(),
    ) {
        let entry_net = Ipv4Net::new(Ipv4Addr::from(entry_addr), entry_prefix).unwrap();
        let rule_prefix = entry_prefix + extra.min(32 - entry_prefix);
        let mask = v4_mask(entry_prefix);
        let rule_addr = (entry_addr & mask) | (host & !mask);
        let rule_net = Ipv4Net::new(Ipv4Addr::from(rule_addr), rule_prefix).unwrap();
        let inner = inner_range(ports, a, b);
        let entry = entry_for(IpNet::V4(entry_net), ports);
        prop_assert!(entry_net.trunc().contains(&rule_net.trunc()));
        prop_assert_eq!(criteria(&entry, Protocol::Tcp, inner, Source::CidrV4(rule_net)), Vec::<&str>::new());
        let list = Allowlist::new(vec![entry]);
        let content = RuleContent {
            protocol: Protocol::Tcp,
            from_port: Some(i32::from(inner.from)),
            to_port: Some(i32::from(inner.to)),
            source: Source::CidrV4(rule_net),
            description: None,
        };
        let identity = identity();
        let facts = RuleFacts {
            direction: Direction::Unknown,
            content: &content,
            group_id: None,
            account: "111122223333",
            region: "eu-west-1",
            identity: &identity,
        };
        prop_assert_eq!(
            list.evaluate(&facts, now()),
            sgguard_core::Approval::Approved { entry_id: "generated".into() }
        );
    }

    #[test]
    fn v4_source_outside_entry_is_not_approved(
        entry_addr in any::<u32>(), entry_prefix in 1u8..=32,
        host in any::<u32>(), flip in 0u8..32, rule_prefix in 0u8..=32,
        ports in port_range(),
    ) {
        let entry_net = Ipv4Net::new(Ipv4Addr::from(entry_addr), entry_prefix).unwrap();
        // flip one of the network bits: the address lies outside the entry's network
        let flip = flip % entry_prefix;
        let mask = v4_mask(entry_prefix);
        let outside = ((entry_addr & mask) ^ (1u32 << (31 - u32::from(flip)))) | (host & !mask);
        let rule_net = Ipv4Net::new(Ipv4Addr::from(outside), rule_prefix).unwrap();
        prop_assert!(!entry_net.trunc().contains(&rule_net.trunc()));
        let entry = entry_for(IpNet::V4(entry_net), ports);
        prop_assert_eq!(criteria(&entry, Protocol::Tcp, ports, Source::CidrV4(rule_net)), vec!["source"]);
    }

    #[test]
    fn v4_broader_source_is_not_approved(
        entry_addr in any::<u32>(), entry_prefix in 1u8..=32, narrower in 1u8..=32, ports in port_range(),
    ) {
        let entry_net = Ipv4Net::new(Ipv4Addr::from(entry_addr), entry_prefix).unwrap();
        let rule_prefix = entry_prefix - narrower.min(entry_prefix);
        // same address, host bits and all: only the prefix is broader
        let rule_net = Ipv4Net::new(Ipv4Addr::from(entry_addr), rule_prefix).unwrap();
        let entry = entry_for(IpNet::V4(entry_net), ports);
        prop_assert_eq!(criteria(&entry, Protocol::Tcp, ports, Source::CidrV4(rule_net)), vec!["source"]);
    }

    #[test]
    fn v6_subnet_inside_is_approved_and_outside_is_not(
        entry_addr in any::<u128>(), entry_prefix in 1u8..=128,
        host in any::<u128>(), extra in 0u8..=128, flip in 0u8..128,
        ports in port_range(), a in any::<u16>(), b in any::<u16>(),
    ) {
        let entry_net = Ipv6Net::new(Ipv6Addr::from(entry_addr), entry_prefix).unwrap();
        let mask = v6_mask(entry_prefix);
        let rule_prefix = entry_prefix + extra.min(128 - entry_prefix);
        let inside = Ipv6Net::new(Ipv6Addr::from((entry_addr & mask) | (host & !mask)), rule_prefix).unwrap();
        let entry = entry_for(IpNet::V6(entry_net), ports);
        let inner = inner_range(ports, a, b);
        prop_assert_eq!(criteria(&entry, Protocol::Tcp, inner, Source::CidrV6(inside)), Vec::<&str>::new());

        let flip = flip % entry_prefix;
        let outside_addr = ((entry_addr & mask) ^ (1u128 << (127 - u32::from(flip)))) | (host & !mask);
        let outside = Ipv6Net::new(Ipv6Addr::from(outside_addr), rule_prefix).unwrap();
        prop_assert_eq!(criteria(&entry, Protocol::Tcp, inner, Source::CidrV6(outside)), vec!["source"]);
        // and an IPv4 source never matches an IPv6 entry
        prop_assert_eq!(
            criteria(&entry, Protocol::Tcp, inner, Source::CidrV4(Ipv4Net::new(Ipv4Addr::from(host as u32), 32).unwrap())),
            vec!["source"]
        );
    }

    #[test]
    fn port_range_outside_entry_is_not_approved(
        entry_addr in any::<u32>(), entry_prefix in 0u8..=32,
        ports in port_range(), below in any::<u16>(), above in any::<u16>(), inner_to in any::<u16>(),
    ) {
        let entry_net = Ipv4Net::new(Ipv4Addr::from(entry_addr), entry_prefix).unwrap();
        let entry = entry_for(IpNet::V4(entry_net), ports);
        let source = Source::CidrV4(entry_net);
        // a range that starts below the entry's
        if ports.from > 0 {
            let from = below % ports.from;
            let to = from.max(inner_to.min(ports.to));
            prop_assert_eq!(criteria(&entry, Protocol::Tcp, PortRange { from, to }, source.clone()), vec!["ports"]);
        }
        // a range that ends above the entry's
        if ports.to < u16::MAX {
            let to = ports.to + 1 + above % (u16::MAX - ports.to);
            let from = ports.from.max(inner_to.min(to));
            prop_assert_eq!(criteria(&entry, Protocol::Tcp, PortRange { from, to }, source.clone()), vec!["ports"]);
        }
        // and the entry's own range, exactly, is fine
        prop_assert_eq!(criteria(&entry, Protocol::Tcp, ports, source), Vec::<&str>::new());
    }
}
