//! Table tests of `normalize`, `classify_record` and `input::records`: one test per
//! CloudTrail shape in the field notes, with the record written inline.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sgguard_core::event::RecordClass;
use sgguard_core::testing::Record;
use sgguard_core::{
    ChangeKind, ChangeSet, Direction, Error, Protocol, RuleChange, RuleContent, Source,
    classify_record, input, normalize,
};

const ACCOUNT: &str = "111122223333";
const GROUP: &str = "sg-0123456789abcdef0";
const EVENT_ID: &str = "3f1c2b7e-0000-4000-8000-000000000001";

/// A successful record of `event_name` by an IAM user, with the given parameters.
fn record(event_name: &str, request: Value, response: Value) -> Value {
    Record {
        time: "2026-05-01T10:00:00Z".into(),
        ..Record::new(EVENT_ID, event_name, request, response)
    }
    .build()
}

fn old_response() -> Value {
    json!({"requestId": "req-1", "_return": true})
}

fn ok(record: &Value) -> ChangeSet {
    match normalize(record) {
        Ok(set) => set,
        Err(err) => panic!("normalize failed: {err}"),
    }
}

/// The field an invalid record is rejected for.
fn invalid_field(record: &Value) -> String {
    match normalize(record) {
        Err(Error::InvalidEvent { field, message }) => {
            assert!(!message.is_empty());
            field
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

fn invalid(record: &Value) -> (String, String) {
    match normalize(record) {
        Err(Error::InvalidEvent { field, message }) => (field, message),
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

fn src(text: &str) -> Source {
    Source::parse(text).unwrap()
}

fn content(
    protocol: Protocol,
    from: Option<i32>,
    to: Option<i32>,
    source: Source,
    description: Option<&str>,
) -> RuleContent {
    RuleContent {
        protocol,
        from_port: from,
        to_port: to,
        source,
        description: description.map(str::to_owned),
    }
}

fn tcp(port: i32, source: &str) -> RuleContent {
    content(Protocol::Tcp, Some(port), Some(port), src(source), None)
}

fn change(
    rule_id: Option<&str>,
    direction: Direction,
    kind: ChangeKind,
    content: Option<RuleContent>,
) -> RuleChange {
    RuleChange {
        rule_id: rule_id.map(str::to_owned),
        direction,
        kind,
        content,
        note: None,
    }
}

fn added_ingress(content: RuleContent) -> RuleChange {
    change(None, Direction::Ingress, ChangeKind::Added, Some(content))
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// One `ipPermissions.items[]` entry with the given sources and `{}` for the rest.
fn permission(protocol: Value, from: Value, to: Value, sources: Value) -> Value {
    let mut item = json!({
        "ipProtocol": protocol,
        "groups": {},
        "ipRanges": {},
        "ipv6Ranges": {},
        "prefixListIds": {}
    });
    if !from.is_null() {
        item["fromPort"] = from;
    }
    if !to.is_null() {
        item["toPort"] = to;
    }
    if let (Some(item), Some(sources)) = (item.as_object_mut(), sources.as_object()) {
        for (k, v) in sources {
            item.insert(k.clone(), v.clone());
        }
    }
    item
}

fn authorize_ingress(permissions: Value) -> Value {
    record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {"items": permissions}}),
        old_response(),
    )
}

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

#[test]
fn modern_ip_permissions_items() {
    let set = ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp debug"}]}})
    )])));
    assert_eq!(set.meta.event_id, EVENT_ID);
    assert_eq!(set.meta.event_name, "AuthorizeSecurityGroupIngress");
    assert_eq!(set.meta.event_time, at("2026-05-01T10:00:00Z"));
    assert_eq!(set.meta.account, ACCOUNT);
    assert_eq!(set.meta.region, "eu-west-1");
    assert_eq!(set.meta.identity.kind, "IAMUser");
    assert_eq!(
        set.meta.identity.actor,
        "arn:aws:iam::111122223333:user/alice"
    );
    assert_eq!(
        set.meta.identity.principal,
        "arn:aws:iam::111122223333:user/alice"
    );
    assert_eq!(set.meta.source_ip.as_deref(), Some("198.51.100.10"));
    assert_eq!(set.meta.user_agent.as_deref(), Some("aws-cli/2.17.0"));
    assert_eq!(set.group_id.as_deref(), Some(GROUP));
    assert_eq!(set.group_name, None);
    assert_eq!(set.group_label(), GROUP);
    assert_eq!(
        set.changes,
        [added_ingress(content(
            Protocol::Tcp,
            Some(22),
            Some(22),
            src("0.0.0.0/0"),
            Some("temp debug")
        ))]
    );
}

#[test]
fn empty_collections_written_as_braces() {
    // Every collection but `groups` is `{}`; an `items` list may also be empty.
    let set = ok(&authorize_ingress(json!([{
        "ipProtocol": "tcp",
        "fromPort": 5432,
        "toPort": 5432,
        "groups": {"items": [{"groupId": "sg-0aaa"}]},
        "ipRanges": {},
        "ipv6Ranges": {"items": []},
        "prefixListIds": {}
    }])));
    assert_eq!(set.changes, [added_ingress(tcp(5432, "sg-0aaa"))]);
    // collections may also be missing altogether, or null
    let set = ok(&authorize_ingress(json!([{
        "ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
        "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]},
        "ipv6Ranges": null
    }])));
    assert_eq!(set.changes, [added_ingress(tcp(443, "10.0.0.0/8"))]);
}

#[test]
fn flat_legacy_form() {
    let set = ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({
            "groupId": GROUP,
            "ipPermissions": {},
            "cidrIp": "198.51.100.0/24",
            "ipProtocol": "tcp",
            "fromPort": 3306,
            "toPort": 3306
        }),
        old_response(),
    ));
    assert_eq!(set.changes, [added_ingress(tcp(3306, "198.51.100.0/24"))]);
}

#[test]
fn flat_legacy_form_by_source_group_and_without_protocol() {
    let set = ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({
            "groupName": "web",
            "sourceSecurityGroupName": "lb",
            "sourceSecurityGroupOwnerId": 444455556666_u64
        }),
        old_response(),
    ));
    let source = Source::SecurityGroup {
        group_id: "lb".into(),
        user_id: Some("444455556666".into()),
        vpc_peering_connection_id: None,
    };
    assert_eq!(
        set.changes,
        [added_ingress(content(
            Protocol::All,
            None,
            None,
            source,
            None
        ))]
    );
}

#[test]
fn group_name_without_group_id() {
    let set = ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({
            "groupName": "default",
            "ipPermissions": {"items": [permission(json!("tcp"), json!(443), json!(443),
                json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}))]}
        }),
        old_response(),
    ));
    assert_eq!(set.group_id, None);
    assert_eq!(set.group_name.as_deref(), Some("default"));
    assert_eq!(set.group_label(), "default");
    assert_eq!(set.changes, [added_ingress(tcp(443, "0.0.0.0/0"))]);
}

#[test]
fn rule_set_gives_rule_ids_and_direction() {
    let request = json!({
        "groupId": GROUP,
        "ipPermissions": {"items": [permission(json!("tcp"), json!(22), json!(22), json!({
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
            "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}
        }))]}
    });
    let response = json!({
        "_return": true,
        "securityGroupRuleSet": {"items": [
            {"securityGroupRuleId": "sgr-0aaa", "groupId": GROUP, "groupOwnerId": ACCOUNT,
             "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"},
            {"securityGroupRuleId": "sgr-0bbb", "groupId": GROUP, "groupOwnerId": ACCOUNT,
             "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0",
             "description": "from the rule set"}
        ]}
    });
    let set = ok(&record("AuthorizeSecurityGroupIngress", request, response));
    assert_eq!(
        set.changes,
        [
            change(
                Some("sgr-0aaa"),
                Direction::Ingress,
                ChangeKind::Added,
                Some(tcp(22, "0.0.0.0/0"))
            ),
            change(
                Some("sgr-0bbb"),
                Direction::Ingress,
                ChangeKind::Added,
                Some(content(
                    Protocol::Tcp,
                    Some(22),
                    Some(22),
                    src("::/0"),
                    Some("from the rule set")
                ))
            ),
        ]
    );
}

#[test]
fn rule_set_is_egress_decides_the_direction() {
    let item = |rule_id: &str, is_egress: Value| {
        let mut item = json!({"securityGroupRuleId": rule_id, "groupId": GROUP, "ipProtocol": "-1",
                              "fromPort": -1, "toPort": -1, "cidrIpv4": "0.0.0.0/0"});
        if !is_egress.is_null() {
            item["isEgress"] = is_egress;
        }
        item
    };
    let set = ok(&record(
        "AuthorizeSecurityGroupEgress",
        json!({"groupId": GROUP, "ipPermissions": {"items": [permission(json!("-1"), Value::Null, Value::Null,
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}))]}}),
        json!({"_return": true, "securityGroupRuleSet": {"items": [
            item("sgr-1", json!(true)),
            item("sgr-2", json!(false)),
            item("sgr-3", Value::Null)
        ]}}),
    ));
    let directions: Vec<(Option<&str>, Direction)> = set
        .changes
        .iter()
        .map(|c| (c.rule_id.as_deref(), c.direction))
        .collect();
    assert_eq!(
        directions,
        [
            (Some("sgr-1"), Direction::Egress),
            (Some("sgr-2"), Direction::Ingress),
            // without isEgress, the call's direction
            (Some("sgr-3"), Direction::Egress),
        ]
    );
    let all = content(Protocol::All, Some(-1), Some(-1), src("0.0.0.0/0"), None);
    assert!(set.changes.iter().all(|c| c.content.as_ref() == Some(&all)));
}

#[test]
fn rule_set_group_id_fills_a_request_by_name() {
    let set = ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupName": "default", "ipPermissions": {"items": [permission(json!("tcp"), json!(80), json!(80),
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}))]}}),
        json!({"_return": true, "securityGroupRuleSet": {"items": [{
            "securityGroupRuleId": "sgr-1", "groupId": GROUP, "isEgress": false,
            "ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"
        }]}}),
    ));
    assert_eq!(set.group_id.as_deref(), Some(GROUP));
    assert_eq!(set.group_name.as_deref(), Some("default"));
}

#[test]
fn without_rule_set_the_request_is_used() {
    let set = ok(&authorize_ingress(json!([permission(
        json!("udp"),
        json!(53),
        json!(53),
        json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}})
    )])));
    assert_eq!(set.changes.len(), 1);
    assert_eq!(set.changes[0].rule_id, None);
    assert_eq!(set.changes[0].direction, Direction::Ingress);
    assert_eq!(
        set.changes[0].content,
        Some(content(
            Protocol::Udp,
            Some(53),
            Some(53),
            src("10.0.0.0/8"),
            None
        ))
    );
}

#[test]
fn one_permission_with_three_sources_gives_three_changes() {
    let set = ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "203.0.113.0/24", "description": "office"}]},
            "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}
        })
    )])));
    assert_eq!(
        set.changes,
        [
            added_ingress(tcp(22, "0.0.0.0/0")),
            added_ingress(content(
                Protocol::Tcp,
                Some(22),
                Some(22),
                src("203.0.113.0/24"),
                Some("office")
            )),
            added_ingress(tcp(22, "::/0")),
        ]
    );
}

#[test]
fn several_permissions_each_give_their_rules() {
    let set = ok(&authorize_ingress(json!([
        permission(
            json!("tcp"),
            json!(80),
            json!(80),
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}})
        ),
        permission(
            json!("tcp"),
            json!(443),
            json!(443),
            json!({"ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}})
        )
    ])));
    assert_eq!(
        set.changes,
        [
            added_ingress(tcp(80, "0.0.0.0/0")),
            added_ingress(tcp(443, "::/0"))
        ]
    );
}

#[test]
fn revoke_by_permissions() {
    let set = ok(&record(
        "RevokeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {"items": [permission(json!("tcp"), json!(3389), json!(3389),
            json!({"ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}))]}}),
        old_response(),
    ));
    assert_eq!(
        set.changes,
        [change(
            None,
            Direction::Ingress,
            ChangeKind::Removed,
            Some(tcp(3389, "::/0"))
        )]
    );
}

#[test]
fn revoke_by_rule_ids() {
    let set = ok(&record(
        "RevokeSecurityGroupEgress",
        json!({"groupId": GROUP, "securityGroupRuleIds": {"items": [
            {"securityGroupRuleId": "sgr-0aaa"}, {"securityGroupRuleId": "sgr-0bbb"}
        ]}}),
        old_response(),
    ));
    assert_eq!(
        set.changes,
        [
            change(
                Some("sgr-0aaa"),
                Direction::Egress,
                ChangeKind::Removed,
                None
            ),
            change(
                Some("sgr-0bbb"),
                Direction::Egress,
                ChangeKind::Removed,
                None
            ),
        ]
    );
}

#[test]
fn revoke_with_revoked_rule_set_uses_it() {
    let set = ok(&record(
        "RevokeSecurityGroupIngress",
        json!({"groupId": GROUP, "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-0aaa"}]}}),
        json!({"_return": true, "revokedSecurityGroupRuleSet": {"items": [{
            "securityGroupRuleId": "sgr-0aaa", "groupId": GROUP, "isEgress": false,
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"
        }]}}),
    ));
    assert_eq!(
        set.changes,
        [change(
            Some("sgr-0aaa"),
            Direction::Ingress,
            ChangeKind::Removed,
            Some(tcp(22, "0.0.0.0/0"))
        )]
    );
}

fn modify(rules: Value) -> Value {
    record(
        "ModifySecurityGroupRules",
        json!({"ModifySecurityGroupRulesRequest": {"GroupId": GROUP, "SecurityGroupRule": rules}}),
        json!({"ModifySecurityGroupRulesResponse": {"_return": true, "requestId": "req-1"}}),
    )
}

#[test]
fn modify_rules_with_one_rule_object() {
    let set = ok(&modify(json!({
        "SecurityGroupRuleId": "sgr-0a7c",
        "SecurityGroupRule": {
            "IpProtocol": "tcp", "FromPort": "22", "ToPort": "22",
            "CidrIpv4": "0.0.0.0/0", "Description": "debug access"
        },
        "tag": 1
    })));
    assert_eq!(set.group_id.as_deref(), Some(GROUP));
    assert_eq!(
        set.changes,
        [change(
            Some("sgr-0a7c"),
            Direction::Unknown,
            ChangeKind::Modified,
            Some(content(
                Protocol::Tcp,
                Some(22),
                Some(22),
                src("0.0.0.0/0"),
                Some("debug access")
            ))
        )]
    );
}

#[test]
fn modify_rules_with_a_list() {
    let set = ok(&modify(json!([
        {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {
            "IpProtocol": "tcp", "FromPort": "22", "ToPort": "22", "CidrIpv6": "2001:db8:1234::/48"}},
        {"SecurityGroupRuleId": "sgr-2", "SecurityGroupRule": {
            "IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "ReferencedGroupId": "sg-0ref"}},
        {"SecurityGroupRuleId": "sgr-3", "SecurityGroupRule": {
            "IpProtocol": "-1", "PrefixListId": "pl-0abc"}}
    ])));
    let modified = |id: &str, content| {
        change(
            Some(id),
            Direction::Unknown,
            ChangeKind::Modified,
            Some(content),
        )
    };
    assert_eq!(
        set.changes,
        [
            modified("sgr-1", tcp(22, "2001:db8:1234::/48")),
            modified(
                "sgr-2",
                content(Protocol::Tcp, Some(0), Some(65535), src("sg-0ref"), None)
            ),
            modified(
                "sgr-3",
                content(Protocol::All, None, None, src("pl-0abc"), None)
            ),
        ]
    );
}

#[test]
fn all_protocols() {
    for (from, to, want) in [
        (Value::Null, Value::Null, (None, None)),
        (json!(-1), json!(-1), (Some(-1), Some(-1))),
        (json!("-1"), json!("-1"), (Some(-1), Some(-1))),
    ] {
        let set = ok(&authorize_ingress(json!([permission(
            json!("-1"),
            from,
            to,
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}})
        )])));
        let c = set.changes[0].content.clone().unwrap();
        assert_eq!(c.protocol, Protocol::All);
        assert_eq!((c.from_port, c.to_port), want);
        assert!(c.port_range().is_all());
    }
}

#[test]
fn protocols_as_numbers_and_names() {
    for (written, want) in [
        (json!("tcp"), Protocol::Tcp),
        (json!("6"), Protocol::Tcp),
        (json!(6), Protocol::Tcp),
        (json!("UDP"), Protocol::Udp),
        (json!("17"), Protocol::Udp),
        (json!("50"), Protocol::Number(50)),
        (json!(-1), Protocol::All),
        // Found by the fuzz target: a number is folded by its value, however it is spelled.
        (json!("+6"), Protocol::Tcp),
        (json!("06"), Protocol::Tcp),
        (json!("017"), Protocol::Udp),
    ] {
        let set = ok(&authorize_ingress(json!([permission(
            written.clone(),
            json!(1),
            json!(1),
            json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}})
        )])));
        assert_eq!(
            set.changes[0].content.as_ref().map(|c| c.protocol),
            Some(want),
            "{written}"
        );
    }
}

/// Found by the fuzz target: a rule set that spells tcp `+6` was `Number(6)`, so the request's
/// `tcp` permission looked unlisted, and the rule missed the sensitive-port risk, every
/// `protocol = "tcp"` allowlist entry and, as EC2 reads it back as `tcp`, its revert.
#[test]
fn a_rule_set_protocol_spelled_as_a_signed_number_is_the_named_protocol() {
    let set = ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {"items": [permission(
            json!("tcp"), json!(22), json!(22),
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}})
        )]}}),
        json!({"_return": true, "securityGroupRuleSet": {"items": [{
            "securityGroupRuleId": "sgr-0aaaaaaaaaaaaaaa1", "groupId": GROUP, "isEgress": false,
            "ipProtocol": "+6", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"
        }]}}),
    ));
    assert_eq!(
        set.changes,
        [change(
            Some("sgr-0aaaaaaaaaaaaaaa1"),
            Direction::Ingress,
            ChangeKind::Added,
            Some(tcp(22, "0.0.0.0/0")),
        )]
    );
}

#[test]
fn icmp_type_and_code() {
    let set = ok(&authorize_ingress(json!([
        permission(
            json!("icmp"),
            json!(8),
            json!(0),
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}})
        ),
        permission(
            json!("58"),
            json!(128),
            json!(-1),
            json!({"ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}})
        )
    ])));
    assert_eq!(
        set.changes,
        [
            added_ingress(content(
                Protocol::Icmp,
                Some(8),
                Some(0),
                src("0.0.0.0/0"),
                None
            )),
            added_ingress(content(
                Protocol::Icmpv6,
                Some(128),
                Some(-1),
                src("::/0"),
                None
            )),
        ]
    );
    assert_eq!(
        set.changes[0].content.as_ref().map(RuleContent::port_range),
        Some(sgguard_core::PortRange::single(8))
    );
}

#[test]
fn prefix_list_source() {
    let set = ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(443),
        json!(443),
        json!({"prefixListIds": {"items": [{"prefixListId": "pl-0a1b2c3d4e5f60718", "description": "vpn"}]}})
    )])));
    assert_eq!(
        set.changes,
        [added_ingress(content(
            Protocol::Tcp,
            Some(443),
            Some(443),
            Source::PrefixList("pl-0a1b2c3d4e5f60718".into()),
            Some("vpn")
        ))]
    );
}

#[test]
fn referenced_group_with_user_and_peering() {
    let set = ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(0),
        json!(65535),
        json!({"groups": {"items": [{
            "groupId": "sg-0peer", "userId": "444455556666",
            "vpcPeeringConnectionId": "pcx-0a9b8c7d", "description": "analytics"
        }]}})
    )])));
    let peer = Source::SecurityGroup {
        group_id: "sg-0peer".into(),
        user_id: Some("444455556666".into()),
        vpc_peering_connection_id: Some("pcx-0a9b8c7d".into()),
    };
    assert_eq!(
        set.changes,
        [added_ingress(content(
            Protocol::Tcp,
            Some(0),
            Some(65535),
            peer.clone(),
            Some("analytics")
        ))]
    );
    // the rule set form carries the same in referencedGroupInfo
    let set = ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {}}),
        json!({"_return": true, "securityGroupRuleSet": {"items": [{
            "securityGroupRuleId": "sgr-1", "isEgress": false, "ipProtocol": "tcp", "fromPort": 0, "toPort": 65535,
            "referencedGroupInfo": {"groupId": "sg-0peer", "userId": "444455556666",
                                    "vpcPeeringConnectionId": "pcx-0a9b8c7d"}
        }]}}),
    ));
    assert_eq!(
        set.changes[0].content.as_ref().map(|c| &c.source),
        Some(&peer)
    );
    // a group named by name only (default VPC)
    let set = ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(80),
        json!(80),
        json!({"groups": {"items": [{"groupName": "lb", "userId": "111122223333"}]}})
    )])));
    assert!(matches!(
        set.changes[0].content.as_ref().map(|c| &c.source),
        Some(Source::SecurityGroup { group_id, .. }) if group_id == "lb"
    ));
}

#[test]
fn cidr_with_host_bits_is_kept_as_written() {
    let check = |set: &ChangeSet| {
        let source = &set.changes[0].content.as_ref().unwrap().source;
        assert_eq!(source.to_string(), "208.236.235.254/0");
        assert_eq!(source.network(), Some("0.0.0.0/0".parse().unwrap()));
    };
    // flat legacy form, as in the Stratus Red Team record
    check(&ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {}, "cidrIp": "208.236.235.254/0",
               "ipProtocol": "tcp", "fromPort": 22, "toPort": 22}),
        old_response(),
    )));
    // modern form
    check(&ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipRanges": {"items": [{"cidrIp": "208.236.235.254/0"}]}})
    )]))));
    // rule set form
    check(&ok(&record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {}, "cidrIp": "208.236.235.254/0",
               "ipProtocol": "tcp", "fromPort": 22, "toPort": 22}),
        json!({"_return": true, "securityGroupRuleSet": {"items": [{
            "securityGroupRuleId": "sgr-09b3", "isEgress": false, "ipProtocol": "tcp",
            "fromPort": 22, "toPort": 22, "cidrIpv4": "208.236.235.254/0"
        }]}}),
    )));
    // IPv6 host bits
    let set = ok(&authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipv6Ranges": {"items": [{"cidrIpv6": "2001:db8::1/0"}]}})
    )])));
    let source = &set.changes[0].content.as_ref().unwrap().source;
    assert_eq!(source.to_string(), "2001:db8::1/0");
    assert_eq!(source.network(), Some("::/0".parse().unwrap()));
}

#[test]
fn update_descriptions_ingress_and_egress() {
    let set = ok(&record(
        "UpdateSecurityGroupRuleDescriptionsIngress",
        json!({"groupId": GROUP, "ipPermissions": {"items": [permission(json!("tcp"), json!(22), json!(22),
            json!({"ipRanges": {"items": [{"cidrIp": "203.0.113.0/24", "description": "office (NET-1)"}]}}))]}}),
        old_response(),
    ));
    assert_eq!(
        set.changes,
        [change(
            None,
            Direction::Ingress,
            ChangeKind::Description,
            Some(content(
                Protocol::Tcp,
                Some(22),
                Some(22),
                src("203.0.113.0/24"),
                Some("office (NET-1)")
            ))
        )]
    );
    let set = ok(&record(
        "UpdateSecurityGroupRuleDescriptionsEgress",
        json!({"groupId": GROUP, "securityGroupRuleDescriptions": {"items": [
            {"securityGroupRuleId": "sgr-04c0", "description": "package mirrors"}
        ]}}),
        old_response(),
    ));
    assert_eq!(
        set.changes,
        [change(
            Some("sgr-04c0"),
            Direction::Egress,
            ChangeKind::Description,
            None
        )]
    );
}

#[test]
fn create_security_group_takes_the_id_from_the_response() {
    let set = ok(&record(
        "CreateSecurityGroup",
        json!({"groupName": "web", "groupDescription": "web tier", "vpcId": "vpc-1"}),
        json!({"requestId": "req-1", "_return": true, "groupId": "sg-0new"}),
    ));
    assert_eq!(set.group_id.as_deref(), Some("sg-0new"));
    assert_eq!(set.group_name.as_deref(), Some("web"));
    assert!(set.changes.is_empty());
}

#[test]
fn delete_security_group() {
    let set = ok(&record(
        "DeleteSecurityGroup",
        json!({"groupId": "sg-0old"}),
        old_response(),
    ));
    assert_eq!(set.group_id.as_deref(), Some("sg-0old"));
    assert!(set.changes.is_empty());
    let by_name = ok(&record(
        "DeleteSecurityGroup",
        json!({"groupName": "old"}),
        Value::Null,
    ));
    assert_eq!(
        (by_name.group_id, by_name.group_name.as_deref()),
        (None, Some("old"))
    );
    assert_eq!(
        invalid_field(&record("DeleteSecurityGroup", json!({}), old_response())),
        "requestParameters.groupId"
    );
}

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

#[test]
fn classify_failed_calls() {
    let mut failed = authorize_ingress(json!([]));
    failed["errorCode"] = json!("Client.InvalidPermission.Duplicate");
    failed["errorMessage"] = json!("the specified rule already exists");
    assert_eq!(
        classify_record(&failed),
        RecordClass::FailedCall {
            event_name: "AuthorizeSecurityGroupIngress".into(),
            error_code: "Client.InvalidPermission.Duplicate".into(),
        }
    );
    // a code that is not a string is still a failure
    failed["errorCode"] = json!(403);
    assert!(
        matches!(classify_record(&failed), RecordClass::FailedCall { error_code, .. } if error_code == "403")
    );
    // null errorCode means success
    failed["errorCode"] = Value::Null;
    assert_eq!(
        classify_record(&failed),
        RecordClass::SecurityGroupCall {
            event_name: "AuthorizeSecurityGroupIngress".into()
        }
    );
}

#[test]
fn classify_security_group_calls() {
    for name in [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "ModifySecurityGroupRules",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsEgress",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
    ] {
        let r = record(name, json!({}), Value::Null);
        assert_eq!(
            classify_record(&r),
            RecordClass::SecurityGroupCall {
                event_name: name.into()
            }
        );
    }
    // without eventSource, the name decides
    let bare = json!({"eventName": "AuthorizeSecurityGroupIngress"});
    assert!(matches!(
        classify_record(&bare),
        RecordClass::SecurityGroupCall { .. }
    ));
}

#[test]
fn classify_unrelated() {
    let unrelated = record("RunInstances", json!({}), Value::Null);
    assert_eq!(
        classify_record(&unrelated),
        RecordClass::Unrelated {
            event_name: Some("RunInstances".into())
        }
    );
    // same name from another service
    let mut other_service = record("AuthorizeSecurityGroupIngress", json!({}), Value::Null);
    other_service["eventSource"] = json!("redshift.amazonaws.com");
    assert!(matches!(
        classify_record(&other_service),
        RecordClass::Unrelated { .. }
    ));
    // an unrelated failure is unrelated, not a failed call
    let mut failed = record("GetObject", json!({}), Value::Null);
    failed["eventSource"] = json!("s3.amazonaws.com");
    failed["errorCode"] = json!("AccessDenied");
    assert_eq!(
        classify_record(&failed),
        RecordClass::Unrelated {
            event_name: Some("GetObject".into())
        }
    );
    for junk in [
        json!({}),
        json!(null),
        json!([1, 2]),
        json!({"eventName": 5}),
        json!("AuthorizeSecurityGroupIngress"),
    ] {
        assert_eq!(
            classify_record(&junk),
            RecordClass::Unrelated { event_name: None },
            "{junk}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Invalid events name the field
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_cidr_names_the_exact_field() {
    let r = authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/33"}]}})
    )]));
    let (field, message) = invalid(&r);
    assert_eq!(
        field,
        "requestParameters.ipPermissions.items[0].ipRanges.items[0].cidrIp"
    );
    assert!(message.contains("10.0.0.0/33"), "{message}");

    // IPv6 in the IPv4 field, the classic detection mistake, is rejected, not misread
    let r = authorize_ingress(json!([
        permission(
            json!("tcp"),
            json!(22),
            json!(22),
            json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}})
        ),
        permission(
            json!("tcp"),
            json!(22),
            json!(22),
            json!({"ipRanges": {"items": [
                {"cidrIp": "10.0.0.0/8"}, {"cidrIp": "::/0"}
            ]}})
        )
    ]));
    let (field, message) = invalid(&r);
    assert_eq!(
        field,
        "requestParameters.ipPermissions.items[1].ipRanges.items[1].cidrIp"
    );
    assert!(message.contains("IPv6"), "{message}");

    let r = authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipv6Ranges": {"items": [{"cidrIpv6": "0.0.0.0/0"}]}})
    )]));
    assert_eq!(
        invalid_field(&r),
        "requestParameters.ipPermissions.items[0].ipv6Ranges.items[0].cidrIpv6"
    );

    let r = record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {}, "cidrIp": "anywhere", "ipProtocol": "tcp"}),
        old_response(),
    );
    assert_eq!(invalid_field(&r), "requestParameters.cidrIp");

    let r = record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {}}),
        json!({"securityGroupRuleSet": {"items": [{"securityGroupRuleId": "sgr-1", "ipProtocol": "tcp",
            "cidrIpv4": "1.2.3.4/99"}]}}),
    );
    assert_eq!(
        invalid_field(&r),
        "responseElements.securityGroupRuleSet.items[0].cidrIpv4"
    );
}

#[test]
fn invalid_meta_fields() {
    let mut r = authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}})
    )]));
    assert!(normalize(&r).is_ok());

    let mut missing_id = r.clone();
    missing_id.as_object_mut().unwrap().remove("eventID");
    assert_eq!(invalid_field(&missing_id), "eventID");

    let mut empty_id = r.clone();
    empty_id["eventID"] = json!("");
    assert_eq!(invalid_field(&empty_id), "eventID");

    let mut bad_time = r.clone();
    bad_time["eventTime"] = json!("yesterday at noon");
    let (field, message) = invalid(&bad_time);
    assert_eq!(field, "eventTime");
    assert!(message.contains("yesterday at noon"), "{message}");

    let mut object_time = r.clone();
    object_time["eventTime"] = json!({"t": 1});
    assert_eq!(invalid_field(&object_time), "eventTime");

    let mut no_region = r.clone();
    no_region.as_object_mut().unwrap().remove("awsRegion");
    assert_eq!(invalid_field(&no_region), "awsRegion");

    let mut no_account = r.clone();
    no_account
        .as_object_mut()
        .unwrap()
        .remove("recipientAccountId");
    no_account["userIdentity"]
        .as_object_mut()
        .unwrap()
        .remove("accountId");
    assert_eq!(invalid_field(&no_account), "recipientAccountId");

    r["eventName"] = json!("RunInstances");
    assert_eq!(invalid_field(&r), "eventName");
}

#[test]
fn invalid_protocol_and_ports() {
    let with = |protocol: Value, from: Value| {
        authorize_ingress(json!([permission(
            protocol,
            from,
            json!(22),
            json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}})
        )]))
    };
    let (field, message) = invalid(&with(json!("tcpp"), json!(22)));
    assert_eq!(field, "requestParameters.ipPermissions.items[0].ipProtocol");
    assert!(message.contains("tcpp"), "{message}");
    assert_eq!(
        invalid_field(&with(json!("300"), json!(22))),
        "requestParameters.ipPermissions.items[0].ipProtocol"
    );
    assert_eq!(
        invalid_field(&with(Value::Null, json!(22))),
        "requestParameters.ipPermissions.items[0].ipProtocol"
    );
    assert_eq!(
        invalid_field(&with(json!("tcp"), json!("ssh"))),
        "requestParameters.ipPermissions.items[0].fromPort"
    );
    assert_eq!(
        invalid_field(&with(json!("tcp"), json!(1.5))),
        "requestParameters.ipPermissions.items[0].fromPort"
    );
    assert_eq!(
        invalid_field(&with(json!("tcp"), json!(1_u64 << 40))),
        "requestParameters.ipPermissions.items[0].fromPort"
    );
    assert_eq!(
        invalid_field(&with(json!("tcp"), json!([22]))),
        "requestParameters.ipPermissions.items[0].fromPort"
    );
}

#[test]
fn invalid_structure() {
    let no_rules = authorize_ingress(json!([]));
    assert_eq!(invalid_field(&no_rules), "requestParameters.ipPermissions");

    let no_group = record(
        "AuthorizeSecurityGroupIngress",
        json!({"ipPermissions": {"items": [permission(json!("tcp"), json!(22), json!(22),
            json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}))]}}),
        old_response(),
    );
    assert_eq!(invalid_field(&no_group), "requestParameters.groupId");

    let no_request = record("AuthorizeSecurityGroupIngress", Value::Null, old_response());
    assert_eq!(invalid_field(&no_request), "requestParameters");

    let items_not_list = record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {"items": "all"}}),
        old_response(),
    );
    assert!(invalid_field(&items_not_list).starts_with("requestParameters.ipPermissions"));

    let missing_cidr = authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipRanges": {"items": [{"description": "no cidr"}]}})
    )]));
    assert_eq!(
        invalid_field(&missing_cidr),
        "requestParameters.ipPermissions.items[0].ipRanges.items[0]"
    );

    let group_without_id = authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"groups": {"items": [{"userId": "444455556666"}]}})
    )]));
    assert_eq!(
        invalid_field(&group_without_id),
        "requestParameters.ipPermissions.items[0].groups.items[0].groupId"
    );

    let empty_rule_set_item = record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {}}),
        json!({"securityGroupRuleSet": {"items": [{"securityGroupRuleId": "sgr-1", "ipProtocol": "tcp"}]}}),
    );
    assert_eq!(
        invalid_field(&empty_rule_set_item),
        "responseElements.securityGroupRuleSet.items[0]"
    );
}

#[test]
fn invalid_modify_requests() {
    let no_group = record(
        "ModifySecurityGroupRules",
        json!({"ModifySecurityGroupRulesRequest": {"SecurityGroupRule": {"SecurityGroupRuleId": "sgr-1",
            "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "10.0.0.0/8"}}}}),
        Value::Null,
    );
    assert_eq!(
        invalid_field(&no_group),
        "requestParameters.ModifySecurityGroupRulesRequest.GroupId"
    );

    let bad_cidr = modify(json!([
        {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp", "CidrIpv4": "10.0.0.0/8"}},
        {"SecurityGroupRuleId": "sgr-2", "SecurityGroupRule": {"IpProtocol": "tcp", "CidrIpv4": "10.0.0.0/88"}}
    ]));
    assert_eq!(
        invalid_field(&bad_cidr),
        "requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule[1].SecurityGroupRule.CidrIpv4"
    );

    let bad_protocol = modify(json!({"SecurityGroupRuleId": "sgr-1",
        "SecurityGroupRule": {"IpProtocol": "bogus", "CidrIpv4": "10.0.0.0/8"}}));
    assert_eq!(
        invalid_field(&bad_protocol),
        "requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule[0].SecurityGroupRule.IpProtocol"
    );

    let no_source =
        modify(json!({"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp"}}));
    assert_eq!(
        invalid_field(&no_source),
        "requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule[0].SecurityGroupRule"
    );

    let no_rules = modify(json!([]));
    assert_eq!(
        invalid_field(&no_rules),
        "requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule"
    );

    let wrong_casing = record(
        "ModifySecurityGroupRules",
        json!({"groupId": GROUP, "securityGroupRule": {}}),
        Value::Null,
    );
    assert!(invalid_field(&wrong_casing).starts_with("requestParameters"));
}

// ---------------------------------------------------------------------------------------
// Containers and exporters
// ---------------------------------------------------------------------------------------

fn envelope(detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": "2026-05-01T10:00:01Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail
    })
}

fn a_record() -> Value {
    authorize_ingress(json!([permission(
        json!("tcp"),
        json!(22),
        json!(22),
        json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}})
    )]))
}

#[test]
fn records_from_an_envelope() {
    let records = input::records(envelope(a_record())).unwrap();
    assert_eq!(records, [a_record()]);
}

#[test]
fn records_from_a_bare_record() {
    assert_eq!(input::records(a_record()).unwrap(), [a_record()]);
    // a record is recognized by eventID alone as well
    let id_only = json!({"eventID": "x"});
    assert_eq!(input::records(id_only.clone()).unwrap(), [id_only]);
}

#[test]
fn records_from_a_log_file() {
    let unrelated = record("DescribeInstances", json!({}), Value::Null);
    let file = json!({"Records": [unrelated, a_record(), envelope(a_record())]});
    let records = input::records(file).unwrap();
    assert_eq!(records, [unrelated, a_record(), a_record()]);
    assert_eq!(
        input::records(json!({"Records": []})).unwrap(),
        Vec::<Value>::new()
    );
}

#[test]
fn records_from_an_array() {
    let records = input::records(json!([a_record(), envelope(a_record()), 42])).unwrap();
    assert_eq!(records, [a_record(), a_record(), json!(42)]);
    assert_eq!(
        classify_record(&records[2]),
        RecordClass::Unrelated { event_name: None }
    );
}

#[test]
fn garbage_is_an_unknown_shape() {
    for garbage in [
        json!("AuthorizeSecurityGroupIngress"),
        json!(42),
        json!(null),
        json!(true),
        json!({}),
        json!({"hello": "world"}),
        json!({"Records": {"items": []}}),
        json!({"Records": "none"}),
        json!({"detail": "not an object"}),
    ] {
        assert!(
            matches!(
                input::records(garbage.clone()),
                Err(Error::UnknownShape { .. })
            ),
            "{garbage} should be rejected"
        );
    }
}

#[test]
fn envelope_fills_region_and_account() {
    let mut detail = a_record();
    let map = detail.as_object_mut().unwrap();
    map.remove("awsRegion");
    map.remove("recipientAccountId");
    map["userIdentity"]
        .as_object_mut()
        .unwrap()
        .remove("accountId");
    assert_eq!(
        invalid_field(&detail),
        "recipientAccountId",
        "the record alone lacks its account"
    );

    let mut env = envelope(detail.clone());
    env["region"] = json!("ap-south-1");
    env["account"] = json!("444455556666");
    let records = input::records(env).unwrap();
    assert_eq!(records[0]["awsRegion"], "ap-south-1");
    assert_eq!(records[0]["recipientAccountId"], "444455556666");
    let set = ok(&records[0]);
    assert_eq!(set.meta.region, "ap-south-1");
    assert_eq!(set.meta.account, "444455556666");

    // a null field is filled too; a present one is kept
    let mut nulls = detail;
    nulls["awsRegion"] = Value::Null;
    nulls["recipientAccountId"] = json!(ACCOUNT);
    let records = input::records(envelope(nulls)).unwrap();
    assert_eq!(records[0]["awsRegion"], "eu-west-1");
    assert_eq!(records[0]["recipientAccountId"], ACCOUNT);

    // sanitized samples write the account as a number
    let mut numeric = a_record();
    numeric
        .as_object_mut()
        .unwrap()
        .remove("recipientAccountId");
    let mut env = envelope(numeric);
    env["account"] = json!(12345);
    env["detail-type"] = json!("...");
    let set = ok(&input::records(env).unwrap()[0]);
    assert_eq!(set.meta.account, "12345");
}

#[test]
fn account_falls_back_to_the_identity() {
    let mut r = a_record();
    r.as_object_mut().unwrap().remove("recipientAccountId");
    r["userIdentity"]["accountId"] = json!("444455556666");
    assert_eq!(ok(&r).meta.account, "444455556666");
}

#[test]
fn panther_style_lowercase_identity_and_naive_time() {
    let mut r = a_record();
    r["eventTime"] = json!("2021-01-24 04:55:45.000");
    r.as_object_mut().unwrap().remove("recipientAccountId");
    r["userIdentity"] = json!({
        "type": "AssumedRole",
        "principalid": "ARORJ4ULULLE0EEJAAKDO:alan",
        "arn": "arn:aws:sts::112233445566:assumed-role/TestAdmin/alan",
        "accountid": "112233445566",
        "accesskeyid": "ASIASWJRT64Z7ZLFLJNI",
        "sessioncontext": {
            "attributes": {"mfaauthenticated": "true", "creationdate": "2021-01-24T04:55:10Z"},
            "sessionissuer": {
                "type": "Role",
                "principalid": "ARORJ4ULULLE0EEJAAKDO",
                "arn": "arn:aws:iam::112233445566:role/TestAdmin",
                "accountid": "112233445566",
                "username": "TestAdmin"
            }
        }
    });
    r["p_event_time"] = json!("2021-01-24 04:55:45.000");
    r["p_any_aws_arns"] = json!(["arn:aws:iam::112233445566:role/TestAdmin"]);
    let set = ok(&r);
    assert_eq!(set.meta.event_time, at("2021-01-24T04:55:45Z"));
    assert_eq!(set.meta.account, "112233445566");
    assert_eq!(set.meta.identity.kind, "AssumedRole");
    assert_eq!(
        set.meta.identity.actor,
        "arn:aws:sts::112233445566:assumed-role/TestAdmin/alan"
    );
    assert_eq!(
        set.meta.identity.principal,
        "arn:aws:iam::112233445566:role/TestAdmin"
    );
    assert!(
        set.meta
            .identity
            .is("arn:aws:iam::112233445566:role/TestAdmin")
    );
}

#[test]
fn identities_of_every_kind() {
    let with_identity = |identity: Value| {
        let mut r = a_record();
        r["userIdentity"] = identity;
        ok(&r).meta.identity
    };
    let root = with_identity(
        json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": ACCOUNT}),
    );
    assert_eq!(
        (root.actor.as_str(), root.principal.as_str()),
        (
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333:root"
        )
    );

    let service =
        with_identity(json!({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}));
    assert_eq!(service.actor, "cloudformation.amazonaws.com");
    assert_eq!(
        service.invoked_by.as_deref(),
        Some("cloudformation.amazonaws.com")
    );

    let session = with_identity(json!({
        "type": "AssumedRole",
        "arn": "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/bob",
        "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123"}}
    }));
    assert_eq!(
        session.principal,
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123"
    );

    // no identity at all still normalizes, with an unknown caller
    let mut r = a_record();
    r.as_object_mut().unwrap().remove("userIdentity");
    let anonymous = ok(&r).meta.identity;
    assert_eq!(anonymous.kind, "Unknown");
    assert_eq!(anonymous.actor, "unknown");
}

#[test]
fn event_time_offsets_are_converted_to_utc() {
    let mut r = a_record();
    r["eventTime"] = json!("2026-05-01T12:00:00+02:00");
    assert_eq!(ok(&r).meta.event_time, at("2026-05-01T10:00:00Z"));
}

// ---------------------------------------------------------------------------------------
// What the response does not list, and prefix-list calls
// ---------------------------------------------------------------------------------------

#[test]
fn a_permission_the_rule_set_does_not_list_is_kept_with_a_note() {
    let request = json!({
        "groupId": GROUP,
        "ipPermissions": {"items": [
            permission(json!("tcp"), json!(443), json!(443), json!({"ipRanges": {"items": [{"cidrIp": "203.0.113.0/24"}]}})),
            permission(json!("tcp"), json!(22), json!(22), json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}))
        ]}
    });
    // The response lists the rule of one permission only (moto's reply to a
    // multi-permission call, or a truncated record).
    let response = json!({"_return": true, "securityGroupRuleSet": {"items": [
        {"securityGroupRuleId": "sgr-0bbb", "groupId": GROUP, "isEgress": false,
         "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "203.0.113.0/24"}
    ]}});
    let set = ok(&record("AuthorizeSecurityGroupIngress", request, response));
    assert_eq!(set.changes.len(), 2, "{:?}", set.changes);
    assert_eq!(set.changes[0].rule_id.as_deref(), Some("sgr-0bbb"));
    assert_eq!(set.changes[0].note, None);
    let unlisted = &set.changes[1];
    assert_eq!(unlisted.rule_id, None);
    assert_eq!(unlisted.kind, ChangeKind::Added);
    assert_eq!(unlisted.direction, Direction::Ingress);
    assert_eq!(unlisted.content, Some(tcp(22, "0.0.0.0/0")));
    assert!(
        unlisted
            .note
            .as_deref()
            .is_some_and(|n| n.contains("not in the response's rule set")),
        "{unlisted:?}"
    );
    // A rule set that lists everything (host bits and all) adds nothing.
    let request = json!({"groupId": GROUP, "cidrIp": "208.236.235.254/0", "ipProtocol": "tcp",
                         "fromPort": 22, "toPort": 22, "ipPermissions": {}});
    let response = json!({"_return": true, "securityGroupRuleSet": {"items": [
        {"securityGroupRuleId": "sgr-0ccc", "groupId": GROUP, "isEgress": false,
         "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "208.236.235.254/0"}
    ]}});
    assert_eq!(
        ok(&record("AuthorizeSecurityGroupIngress", request, response))
            .changes
            .len(),
        1
    );
}

#[test]
fn modify_managed_prefix_list_in_both_forms() {
    let wrapped = json!({"ModifyManagedPrefixListRequest": {
        "PrefixListId": "pl-0123", "CurrentVersion": 4,
        "AddEntry": [{"Cidr": "0.0.0.0/0", "Description": "oops"}, {"Cidr": "2001:db8::/32"}],
        "RemoveEntry": {"Cidr": "10.0.0.0/8"}
    }});
    // As AWS answers: the list is being modified, at the version the call started from.
    let response = json!({"ModifyManagedPrefixListResponse": {"prefixList": {"prefixListId": "pl-0123", "version": 4, "state": "modify-in-progress"}}});
    let plain = json!({
        "prefixListId": "pl-0123", "currentVersion": "4",
        "addEntry": {"items": [{"cidr": "0.0.0.0/0", "description": "oops"}, {"cidr": "2001:db8::/32"}]},
        "removeEntry": {"items": [{"cidr": "10.0.0.0/8"}]}
    });
    for (request, response) in [(wrapped, response), (plain, json!(null))] {
        let set = ok(&record("ModifyManagedPrefixList", request, response));
        assert_eq!(set.prefix_list_id.as_deref(), Some("pl-0123"));
        assert_eq!(set.group_id, None);
        assert_eq!(set.group_label(), "pl-0123");
        assert_eq!(set.prefix_list_version, Some(4));
        assert_eq!(set.restores_version, None);
        let shown: Vec<(ChangeKind, String)> = set
            .changes
            .iter()
            .map(|c| (c.kind, c.content.as_ref().unwrap().source.to_string()))
            .collect();
        assert_eq!(
            shown,
            [
                (ChangeKind::EntryAdded, "0.0.0.0/0".to_owned()),
                (ChangeKind::EntryAdded, "2001:db8::/32".to_owned()),
                (ChangeKind::EntryRemoved, "10.0.0.0/8".to_owned()),
            ]
        );
        assert_eq!(
            set.changes[0]
                .content
                .as_ref()
                .unwrap()
                .description
                .as_deref(),
            Some("oops")
        );
    }
    // A list id is required; a bad entry is named.
    let field = invalid_field(&record(
        "ModifyManagedPrefixList",
        json!({"ModifyManagedPrefixListRequest": {"AddEntry": {"Cidr": "0.0.0.0/0"}}}),
        json!(null),
    ));
    assert_eq!(
        field,
        "requestParameters.ModifyManagedPrefixListRequest.PrefixListId"
    );
    let field = invalid_field(&record(
        "ModifyManagedPrefixList",
        json!({"PrefixListId": "pl-1", "AddEntry": [{"Cidr": "not-a-cidr"}]}),
        json!(null),
    ));
    assert_eq!(field, "requestParameters.AddEntry[0].Cidr");
    // It is a call sgguard understands.
    assert!(matches!(
        classify_record(&record("ModifyManagedPrefixList", json!({}), json!(null))),
        RecordClass::SecurityGroupCall { .. }
    ));
    // A rename changes no entry.
    let renamed = ok(&record(
        "ModifyManagedPrefixList",
        json!({"ModifyManagedPrefixListRequest": {"PrefixListId": "pl-0123", "PrefixListName": "x"}}),
        json!(null),
    ));
    assert!(renamed.changes.is_empty());
}

#[test]
fn restore_managed_prefix_list_version_names_the_versions() {
    let set = ok(&record(
        "RestoreManagedPrefixListVersion",
        json!({"RestoreManagedPrefixListVersionRequest": {"PrefixListId": "pl-0123", "PreviousVersion": 5, "CurrentVersion": 6}}),
        json!(null),
    ));
    assert_eq!(set.prefix_list_id.as_deref(), Some("pl-0123"));
    assert_eq!(set.prefix_list_version, Some(6));
    assert_eq!(set.restores_version, Some(5));
    assert!(set.changes.is_empty(), "the entries are read from EC2");
    let field = invalid_field(&record(
        "RestoreManagedPrefixListVersion",
        json!({"prefixListId": "pl-0123", "currentVersion": 6}),
        json!(null),
    ));
    assert_eq!(field, "requestParameters.PreviousVersion");
}

#[test]
fn a_source_group_named_only_by_name_is_accounted_for_by_one_rule() {
    // Two permissions name their source group by name; the response lists one rule.
    let request = json!({
        "groupName": "default",
        "ipPermissions": {"items": [
            permission(json!("tcp"), json!(5432), json!(5432), json!({"groups": {"items": [{"groupName": "db-clients"}]}})),
            permission(json!("tcp"), json!(22), json!(22), json!({"groups": {"items": [{"groupName": "bastions"}]}}))
        ]}
    });
    let response = json!({"_return": true, "securityGroupRuleSet": {"items": [
        {"securityGroupRuleId": "sgr-0ddd", "groupId": GROUP, "isEgress": false,
         "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
         "referencedGroupInfo": {"groupId": "sg-0db0", "userId": ACCOUNT}}
    ]}});
    let set = ok(&record("AuthorizeSecurityGroupIngress", request, response));
    assert_eq!(set.changes.len(), 2, "{:?}", set.changes);
    assert_eq!(set.changes[1].rule_id, None);
    assert!(set.changes[1].note.is_some());
    assert_eq!(set.changes[1].content.as_ref().unwrap().from_port, Some(22));
}

// ---------------------------------------------------------------------------------------
// Records CloudTrail cut short (`omitted`)
// ---------------------------------------------------------------------------------------

/// A world-open ssh Authorize as CloudTrail writes it when the response was over its size
/// limit: the element replaced by its `omitted` marker.
fn authorize_with_response_omitted() -> Value {
    record(
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": GROUP, "ipPermissions": {"items": [permission(
            json!("tcp"), json!(22), json!(22),
            json!({"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}})
        )]}}),
        json!({"omitted": true, "originalSize": 131_072}),
    )
}

#[test]
fn an_omitted_response_keeps_the_requests_changes_and_names_what_is_missing() {
    let set = ok(&authorize_with_response_omitted());
    assert_eq!(set.omitted, ["responseElements"]);
    assert_eq!(set.group_id.as_deref(), Some(GROUP));
    assert_eq!(set.changes.len(), 1);
    assert_eq!(
        set.changes[0].rule_id, None,
        "the rule ids were in the response"
    );
    assert_eq!(set.changes[0].content, Some(tcp(22, "0.0.0.0/0")));
}

#[test]
fn an_omitted_request_leaves_no_changes_but_the_group_from_the_response() {
    let mut record = record(
        "AuthorizeSecurityGroupIngress",
        Value::Null,
        json!({"_return": true, "securityGroupRuleSet": {"items": [
            {"securityGroupRuleId": "sgr-0aaaaaaaaaaaaaaa1", "groupId": GROUP, "isEgress": false,
             "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}
        ]}}),
    );
    // Marked at the top of the record, the element itself left empty.
    record["omitted"] = json!(true);
    let set = ok(&record);
    assert_eq!(set.omitted, ["requestParameters"]);
    assert_eq!(set.group_id.as_deref(), Some(GROUP));
    assert!(set.changes.is_empty());
}

#[test]
fn an_omitted_modification_request_names_no_group() {
    let record = record(
        "ModifySecurityGroupRules",
        json!({"omitted": true}),
        json!({"_return": true}),
    );
    let set = ok(&record);
    assert_eq!(set.omitted, ["requestParameters"]);
    assert_eq!(set.group_id, None);
    assert!(set.changes.is_empty());
}

#[test]
fn a_top_level_mark_with_both_elements_present_omits_nothing_we_need() {
    let mut record = authorize_ingress(json!([permission(
        json!("tcp"),
        json!(443),
        json!(443),
        json!({"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}})
    )]));
    record["omitted"] = json!(true);
    assert!(ok(&record).omitted.is_empty());
}

#[test]
fn a_record_cut_short_is_incomplete_flagged_and_never_acted_on() {
    use sgguard_core::{Action, Allowlist, Context, Mode, Outcome, Policy, decide};
    let set = ok(&authorize_with_response_omitted());
    let allowlist = Allowlist::new(Vec::new());
    let policy = Policy {
        mode: Mode::Enforce,
        ..Policy::default()
    };
    let decision = decide(
        &set,
        &Context::offline(&allowlist, at("2026-05-01T10:00:05Z")),
        &policy,
    );
    assert_eq!(decision.outcome, Outcome::Incomplete);
    assert_eq!(decision.changes[0].action, Action::Flagged);
    assert!(
        decision.reason.contains("omitted responseElements") && decision.reason.contains(GROUP),
        "{}",
        decision.reason
    );
    // Without a group, the reason says so.
    let modify = ok(&record(
        "ModifySecurityGroupRules",
        json!({"omitted": true}),
        json!({"_return": true}),
    ));
    let decision = decide(
        &modify,
        &Context::offline(&allowlist, at("2026-05-01T10:00:05Z")),
        &policy,
    );
    assert_eq!(decision.outcome, Outcome::Incomplete);
    assert!(
        decision.reason.contains("does not name it"),
        "{}",
        decision.reason
    );
}
