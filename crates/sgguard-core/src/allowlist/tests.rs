use super::*;
use crate::error::{AllowlistProblem, Error};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const GROUP: &str = "sg-0123456789abcdef0";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/ci/terraform-deploy";
const SESSION_ARN: &str = "arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci-4711";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-06-01T12:00:00Z")
}

fn iam_user() -> Identity {
    Identity {
        kind: "IAMUser".into(),
        actor: "arn:aws:iam::111122223333:user/alice".into(),
        principal: "arn:aws:iam::111122223333:user/alice".into(),
        invoked_by: None,
    }
}

fn assumed_role() -> Identity {
    Identity {
        kind: "AssumedRole".into(),
        actor: SESSION_ARN.into(),
        principal: ROLE_ARN.into(),
        invoked_by: None,
    }
}

/// The owned counterpart of [`RuleFacts`], so tests can build and tweak rules freely.
#[derive(Debug, Clone)]
struct Rule {
    direction: Direction,
    content: RuleContent,
    group_id: Option<String>,
    account: String,
    region: String,
    identity: Identity,
}

impl Rule {
    fn new(protocol: Protocol, from: Option<i32>, to: Option<i32>, source: &str) -> Self {
        Self {
            direction: Direction::Ingress,
            content: RuleContent {
                protocol,
                from_port: from,
                to_port: to,
                source: Source::parse(source).unwrap(),
                description: None,
            },
            group_id: Some(GROUP.into()),
            account: ACCOUNT.into(),
            region: REGION.into(),
            identity: iam_user(),
        }
    }

    fn tcp(from: i32, to: i32, source: &str) -> Self {
        Self::new(Protocol::Tcp, Some(from), Some(to), source)
    }

    fn all(source: &str) -> Self {
        Self::new(Protocol::All, None, None, source)
    }

    fn source(mut self, source: Source) -> Self {
        self.content.source = source;
        self
    }

    fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    fn identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    fn facts(&self) -> RuleFacts<'_> {
        RuleFacts {
            direction: self.direction,
            content: &self.content,
            group_id: self.group_id.as_deref(),
            account: &self.account,
            region: &self.region,
            identity: &self.identity,
        }
    }
}

fn entry(id: &str) -> AllowEntry {
    AllowEntry::new(id, "netops@example.com", "NET-123 test entry")
}

/// An entry narrowed by `f`.
fn entry_with(f: impl FnOnce(&mut AllowEntry)) -> AllowEntry {
    let mut e = entry("e1");
    f(&mut e);
    e
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The names of the criteria `entry` fails for `rule` at [`now`].
fn failed(entry: &AllowEntry, rule: &Rule) -> Vec<&'static str> {
    entry
        .failures(&rule.facts(), now())
        .iter()
        .map(|f| f.criterion)
        .collect()
}

fn approves(entry: &AllowEntry, rule: &Rule) -> bool {
    failed(entry, rule).is_empty()
}

fn ssh_from(cidrs: &[&str]) -> AllowEntry {
    entry_with(|e| {
        e.protocol = Protocol::Tcp;
        e.ports = PortRange::single(22);
        e.cidrs = nets(cidrs);
    })
}

// ---------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------

#[test]
fn ipv4_cidr_containment() {
    let e = ssh_from(&["203.0.113.0/24"]);
    for inside in [
        "203.0.113.0/24",
        "203.0.113.128/25",
        "203.0.113.7/32",
        // host bits set, but the network 203.0.113.0/24 is inside
        "203.0.113.77/24",
    ] {
        assert!(
            approves(&e, &Rule::tcp(22, 22, inside)),
            "{inside} is inside"
        );
    }
    for outside in [
        "203.0.112.0/23",
        "198.51.100.0/24",
        "203.0.114.1/32",
        "0.0.0.0/0",
        // host bits inside the entry's range, but the network is the whole world
        "203.0.113.9/0",
        // network 203.0.0.0/16 is broader than the entry
        "203.0.113.77/16",
    ] {
        assert_eq!(
            failed(&e, &Rule::tcp(22, 22, outside)),
            ["source"],
            "{outside} is outside"
        );
    }
}

#[test]
fn entry_cidr_with_host_bits_is_compared_as_a_network() {
    let e = ssh_from(&["203.0.113.9/24"]);
    assert!(approves(&e, &Rule::tcp(22, 22, "203.0.113.200/32")));
    assert_eq!(failed(&e, &Rule::tcp(22, 22, "203.0.114.0/32")), ["source"]);
}

#[test]
fn ipv6_cidr_containment() {
    let e = ssh_from(&["2001:db8::/32"]);
    for inside in [
        "2001:db8::/32",
        "2001:db8:1::/48",
        "2001:db8::1/128",
        "2001:db8:ffff::1/48",
    ] {
        assert!(
            approves(&e, &Rule::tcp(22, 22, inside)),
            "{inside} is inside"
        );
    }
    for outside in [
        "2001:db9::/48",
        "2001:db8::/31",
        "::/0",
        "2001:db8::1/0",
        "2001:db8::1/16",
    ] {
        assert_eq!(
            failed(&e, &Rule::tcp(22, 22, outside)),
            ["source"],
            "{outside} is outside"
        );
    }
    // an IPv6 entry never contains an IPv4 source and vice versa
    assert_eq!(failed(&e, &Rule::tcp(22, 22, "10.0.0.0/8")), ["source"]);
    let v4 = ssh_from(&["0.0.0.0/0"]);
    assert_eq!(failed(&v4, &Rule::tcp(22, 22, "::/0")), ["source"]);
}

#[test]
fn ports_must_lie_inside_the_entry_range() {
    let e = entry_with(|e| {
        e.protocol = Protocol::Tcp;
        e.ports = PortRange {
            from: 8000,
            to: 8100,
        };
    });
    assert!(approves(&e, &Rule::tcp(8080, 8080, "0.0.0.0/0")));
    assert!(approves(&e, &Rule::tcp(8000, 8100, "0.0.0.0/0")));
    for (from, to) in [(7999, 8000), (8100, 8101), (22, 22), (0, 65535)] {
        assert_eq!(
            failed(&e, &Rule::tcp(from, to, "0.0.0.0/0")),
            ["ports"],
            "{from}-{to}"
        );
    }
    // a tcp rule without ports opens every port
    let no_ports = Rule::new(Protocol::Tcp, None, None, "0.0.0.0/0");
    assert_eq!(failed(&e, &no_ports), ["ports"]);
    let any_port = entry_with(|e| e.protocol = Protocol::Tcp);
    assert!(approves(&any_port, &no_ports));
    assert!(approves(&any_port, &Rule::tcp(0, 65535, "0.0.0.0/0")));
}

#[test]
fn all_protocols_rule_needs_protocol_all_and_ports_all() {
    let rule = Rule::all("10.0.0.0/8");
    let tcp_all_ports = entry_with(|e| e.protocol = Protocol::Tcp);
    assert_eq!(failed(&tcp_all_ports, &rule), ["protocol"]);
    let all_but_22 = entry_with(|e| e.ports = PortRange::single(22));
    assert_eq!(failed(&all_but_22, &rule), ["protocol"]);
    let detail = &all_but_22.failures(&rule.facts(), now())[0].detail;
    assert!(detail.contains("all"), "{detail}");
    let all = entry_with(|e| {
        e.protocol = Protocol::All;
        e.ports = PortRange::ALL;
    });
    assert!(approves(&all, &rule));
    // `-1` with explicit -1 ports is the same rule
    assert!(approves(
        &all,
        &Rule::new(Protocol::All, Some(-1), Some(-1), "10.0.0.0/8")
    ));
}

#[test]
fn protocol_all_entry_covers_any_protocol_within_its_ports() {
    let e = entry_with(|e| e.ports = PortRange::single(22));
    assert!(approves(&e, &Rule::tcp(22, 22, "10.0.0.0/8")));
    assert!(approves(
        &e,
        &Rule::new(Protocol::Udp, Some(22), Some(22), "10.0.0.0/8")
    ));
    assert_eq!(failed(&e, &Rule::tcp(23, 23, "10.0.0.0/8")), ["ports"]);
}

#[test]
fn protocol_mismatch_fails_protocol() {
    let udp = entry_with(|e| e.protocol = Protocol::Udp);
    assert_eq!(failed(&udp, &Rule::tcp(53, 53, "10.0.0.0/8")), ["protocol"]);
    assert!(approves(
        &udp,
        &Rule::new(Protocol::Udp, Some(53), Some(53), "10.0.0.0/8")
    ));
    // protocol numbers fold into names: 6 is tcp
    let six = entry_with(|e| e.protocol = Protocol::parse("6").unwrap());
    assert!(approves(&six, &Rule::tcp(443, 443, "10.0.0.0/8")));
    // ICMP: the type is the "port"
    let echo = entry_with(|e| {
        e.protocol = Protocol::Icmp;
        e.ports = PortRange::single(8);
    });
    assert!(approves(
        &echo,
        &Rule::new(Protocol::Icmp, Some(8), Some(0), "0.0.0.0/0")
    ));
    assert_eq!(
        failed(
            &echo,
            &Rule::new(Protocol::Icmp, Some(0), Some(0), "0.0.0.0/0")
        ),
        ["ports"]
    );
    assert_eq!(
        failed(
            &echo,
            &Rule::new(Protocol::Icmpv6, Some(8), Some(0), "::/0")
        ),
        ["protocol"]
    );
    assert_eq!(
        failed(
            &echo,
            &Rule::new(Protocol::Number(50), None, None, "0.0.0.0/0")
        ),
        ["protocol"]
    );
}

#[test]
fn prefix_list_criterion() {
    let e = entry_with(|e| e.prefix_lists = strings(&["pl-0a1b2c3d4e5f60718"]));
    let listed = Rule::tcp(443, 443, "pl-0a1b2c3d4e5f60718");
    assert!(approves(&e, &listed));
    assert_eq!(failed(&e, &Rule::tcp(443, 443, "pl-99999999")), ["source"]);
    // an entry that names only prefix lists does not approve a CIDR or a group
    assert_eq!(failed(&e, &Rule::tcp(443, 443, "10.0.0.0/8")), ["source"]);
    assert_eq!(failed(&e, &Rule::tcp(443, 443, "sg-0aaa")), ["source"]);
}

#[test]
fn source_group_criterion() {
    let e = entry_with(|e| e.source_groups = strings(&["sg-0peer"]));
    let peer = Rule::tcp(0, 65535, "sg-0peer").source(Source::SecurityGroup {
        group_id: "sg-0peer".into(),
        user_id: Some("444455556666".into()),
        vpc_peering_connection_id: Some("pcx-0123".into()),
    });
    assert!(approves(&e, &peer));
    assert_eq!(failed(&e, &Rule::tcp(0, 65535, "sg-0other")), ["source"]);
    assert_eq!(failed(&e, &Rule::tcp(0, 65535, "pl-0peer")), ["source"]);
}

#[test]
fn any_listed_source_kind_approves() {
    let e = entry_with(|e| {
        e.cidrs = nets(&["10.0.0.0/8"]);
        e.prefix_lists = strings(&["pl-1"]);
        e.source_groups = strings(&["sg-1"]);
    });
    for source in ["10.1.2.0/24", "pl-1", "sg-1"] {
        assert!(approves(&e, &Rule::tcp(443, 443, source)), "{source}");
    }
    for source in ["11.0.0.0/24", "pl-2", "sg-2"] {
        assert_eq!(
            failed(&e, &Rule::tcp(443, 443, source)),
            ["source"],
            "{source}"
        );
    }
}

#[test]
fn entry_without_source_criterion_approves_any_source() {
    let e = entry_with(|e| {
        e.protocol = Protocol::Tcp;
        e.ports = PortRange::single(443);
    });
    for source in [
        "0.0.0.0/0",
        "::/0",
        "10.0.0.0/8",
        "pl-1",
        "sg-1",
        "444455556666/sg-2",
    ] {
        assert!(approves(&e, &Rule::tcp(443, 443, source)), "{source}");
    }
    // ... but still only within its protocol and ports
    assert_eq!(failed(&e, &Rule::tcp(22, 22, "0.0.0.0/0")), ["ports"]);
}

#[test]
fn expired_entry_approves_nothing() {
    let rule = Rule::tcp(22, 22, "203.0.113.5/32");
    let expiring = |expires: &str| {
        let mut e = ssh_from(&["203.0.113.0/24"]);
        e.expires = Some(at(expires));
        e
    };
    let past = expiring("2026-06-01T11:59:59Z");
    assert!(past.is_expired(now()));
    assert_eq!(failed(&past, &rule), ["expires"]);
    let detail = &past.failures(&rule.facts(), now())[0].detail;
    assert!(detail.contains("2026-06-01T11:59:59Z"), "{detail}");
    // expiring exactly now is expired
    assert_eq!(
        failed(&expiring("2026-06-01T12:00:00Z"), &rule),
        ["expires"]
    );
    // still valid one second before the end, and the comparison uses `now`, not the clock
    let future = expiring("2026-06-01T12:00:01Z");
    assert!(approves(&future, &rule));
    assert!(
        !future
            .failures(&rule.facts(), at("2030-01-01T00:00:00Z"))
            .is_empty()
    );
    // an expired entry even fails a rule it would otherwise approve in every criterion
    let list = Allowlist::new(vec![past]);
    match list.evaluate(&rule.facts(), now()) {
        Approval::NotApproved {
            closest: Some((id, failures)),
        } => {
            assert_eq!(id, "e1");
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].criterion, "expires");
        }
        other => panic!("expected a miss on `expires`, got {other:?}"),
    }
}

#[test]
fn direction_unknown_counts_as_ingress() {
    let ingress = entry("in");
    assert!(approves(&ingress, &Rule::all("10.0.0.0/8")));
    assert!(approves(
        &ingress,
        &Rule::all("10.0.0.0/8").direction(Direction::Unknown)
    ));
    assert_eq!(
        failed(
            &ingress,
            &Rule::all("10.0.0.0/8").direction(Direction::Egress)
        ),
        ["direction"]
    );
    let egress = entry_with(|e| e.direction = Direction::Egress);
    assert!(approves(
        &egress,
        &Rule::all("10.0.0.0/8").direction(Direction::Egress)
    ));
    assert_eq!(failed(&egress, &Rule::all("10.0.0.0/8")), ["direction"]);
    assert_eq!(
        failed(
            &egress,
            &Rule::all("10.0.0.0/8").direction(Direction::Unknown)
        ),
        ["direction"]
    );
}

#[test]
fn groups_accounts_and_regions() {
    let rule = Rule::tcp(443, 443, "0.0.0.0/0");
    let e = entry_with(|e| {
        e.groups = strings(&[GROUP]);
        e.accounts = strings(&[ACCOUNT]);
        e.regions = strings(&[REGION, "us-east-1"]);
    });
    assert!(approves(&e, &rule));

    let mut other_group = rule.clone();
    other_group.group_id = Some("sg-0other".into());
    assert_eq!(failed(&e, &other_group), ["groups"]);
    // a group named only by name cannot match a listed group id
    let mut no_group = rule.clone();
    no_group.group_id = None;
    assert_eq!(failed(&e, &no_group), ["groups"]);
    // ... but an entry without `groups` does not care
    assert!(approves(&entry("any"), &no_group));

    let mut other_account = rule.clone();
    other_account.account = "444455556666".into();
    assert_eq!(failed(&e, &other_account), ["accounts"]);

    let mut other_region = rule.clone();
    other_region.region = "ap-south-1".into();
    assert_eq!(failed(&e, &other_region), ["regions"]);

    let mut us = rule;
    us.region = "us-east-1".into();
    assert!(approves(&e, &us));
}

#[test]
fn principals_glob_the_role_arn_and_the_session_arn() {
    let rule = Rule::tcp(443, 443, "0.0.0.0/0").identity(assumed_role());
    let by_role = entry_with(|e| e.principals = strings(&["arn:aws:iam::*:role/ci/terraform-*"]));
    assert!(approves(&by_role, &rule));
    let by_session = entry_with(|e| {
        e.principals = strings(&["arn:aws:sts::111122223333:assumed-role/terraform-deploy/*"])
    });
    assert!(approves(&by_session, &rule));
    let exact_role = entry_with(|e| e.principals = strings(&[ROLE_ARN]));
    assert!(approves(&exact_role, &rule));

    // the role glob does not approve a human with the same permissions
    let human = Rule::tcp(443, 443, "0.0.0.0/0");
    assert_eq!(failed(&by_role, &human), ["principals"]);
    let detail = &by_role.failures(&human.facts(), now())[0].detail;
    assert!(detail.contains("user/alice"), "{detail}");
    // another role's session fails too
    let other = Rule::tcp(443, 443, "0.0.0.0/0").identity(Identity {
        kind: "AssumedRole".into(),
        actor: "arn:aws:sts::111122223333:assumed-role/admin/bob".into(),
        principal: "arn:aws:iam::111122223333:role/admin".into(),
        invoked_by: None,
    });
    assert_eq!(failed(&by_role, &other), ["principals"]);
    assert_eq!(failed(&by_session, &other), ["principals"]);
    // any of several globs is enough
    let several =
        entry_with(|e| e.principals = strings(&["arn:aws:iam::*:user/nobody", "*:user/alice"]));
    assert!(approves(&several, &human));
}

#[test]
fn every_failed_criterion_is_listed() {
    let e = entry_with(|e| {
        e.expires = Some(at("2020-01-01T00:00:00Z"));
        e.direction = Direction::Egress;
        e.protocol = Protocol::Udp;
        e.cidrs = nets(&["10.0.0.0/8"]);
        e.groups = strings(&["sg-0other"]);
        e.accounts = strings(&["444455556666"]);
        e.regions = strings(&["us-east-1"]);
        e.principals = strings(&["arn:aws:iam::*:role/nobody"]);
    });
    assert_eq!(
        failed(&e, &Rule::tcp(22, 22, "0.0.0.0/0")),
        [
            "expires",
            "direction",
            "protocol",
            "source",
            "groups",
            "accounts",
            "regions",
            "principals"
        ]
    );
}

#[test]
fn first_approving_entry_wins() {
    let list = Allowlist::new(vec![
        ssh_from(&["198.51.100.0/24"]),
        {
            let mut e = ssh_from(&["203.0.113.0/24"]);
            e.id = "second".into();
            e
        },
        {
            let mut e = entry("third");
            e.protocol = Protocol::Tcp;
            e
        },
    ]);
    let rule = Rule::tcp(22, 22, "203.0.113.10/32");
    assert_eq!(
        list.evaluate(&rule.facts(), now()),
        Approval::Approved {
            entry_id: "second".into()
        }
    );
    assert!(list.get("third").is_some());
    assert!(list.get("fourth").is_none());
}

#[test]
fn closest_miss_names_the_failed_criterion() {
    let far = entry_with(|e| {
        e.id = "far".into();
        e.direction = Direction::Egress;
        e.protocol = Protocol::Udp;
        e.regions = strings(&["us-east-1"]);
    });
    let near = {
        let mut e = ssh_from(&["203.0.113.0/24"]);
        e.id = "near".into();
        e
    };
    let list = Allowlist::new(vec![far, near]);
    let rule = Rule::tcp(22, 22, "198.51.100.0/24");
    match list.evaluate(&rule.facts(), now()) {
        Approval::NotApproved {
            closest: Some((id, failures)),
        } => {
            assert_eq!(id, "near");
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].criterion, "source");
            assert!(
                failures[0].detail.contains("198.51.100.0/24"),
                "{}",
                failures[0].detail
            );
        }
        other => panic!("expected a miss on `source`, got {other:?}"),
    }
    let wide_ports = Rule::tcp(20, 23, "203.0.113.0/24");
    match list.evaluate(&wide_ports.facts(), now()) {
        Approval::NotApproved {
            closest: Some((id, failures)),
        } => {
            assert_eq!(id, "near");
            assert_eq!(
                failures.iter().map(|f| f.criterion).collect::<Vec<_>>(),
                ["ports"]
            );
            assert!(
                failures[0].detail.contains("20-23"),
                "{}",
                failures[0].detail
            );
        }
        other => panic!("expected a miss on `ports`, got {other:?}"),
    }
}

#[test]
fn closest_miss_ties_go_to_the_first_entry() {
    let a = entry_with(|e| {
        e.id = "a".into();
        e.regions = strings(&["us-east-1"]);
    });
    let b = entry_with(|e| {
        e.id = "b".into();
        e.accounts = strings(&["444455556666"]);
    });
    let list = Allowlist::new(vec![a, b]);
    match list.evaluate(&Rule::all("10.0.0.0/8").facts(), now()) {
        Approval::NotApproved {
            closest: Some((id, failures)),
        } => {
            assert_eq!(id, "a");
            assert_eq!(failures[0].criterion, "regions");
        }
        other => panic!("expected a miss, got {other:?}"),
    }
}

#[test]
fn empty_allowlist_has_no_closest_entry() {
    let rule = Rule::tcp(22, 22, "0.0.0.0/0");
    assert_eq!(
        Allowlist::default().evaluate(&rule.facts(), now()),
        Approval::NotApproved { closest: None }
    );
}

#[test]
fn new_entry_approves_any_ingress_until_narrowed() {
    let e = entry("open");
    assert_eq!(e.direction, Direction::Ingress);
    assert_eq!(e.protocol, Protocol::All);
    assert!(e.ports.is_all());
    assert!(e.expires.is_none());
    assert!(approves(&e, &Rule::all("0.0.0.0/0")));
    assert!(approves(&e, &Rule::tcp(22, 22, "::/0")));
}

// ---------------------------------------------------------------------------------------
// TOML
// ---------------------------------------------------------------------------------------

/// The form docs/allowlist.md documents (and `examples/allowlist.toml` uses), with every
/// criterion in use; `documented_allowlist_parses` reads the documented block itself.
const README_EXAMPLE: &str = r#"
# Exceptions granted by people, each with an owner, a reason and an expiry.

[[allow]]
id = "office-ssh"
owner = "netops@example.com"
reason = "NET-123 office SSH"
expires = "2030-01-31T00:00:00Z"
direction = "ingress"
protocol = "tcp"
ports = "22"
cidrs = ["203.0.113.0/24", "2001:db8::/32"]

[[allow]]
id = "terraform-public-https"
owner = "platform@example.com"
reason = "PLAT-77 public load balancers managed by Terraform"
protocol = "tcp"
ports = "443"
groups = ["sg-0fedcba9876543210"]
accounts = ["111122223333"]
regions = ["eu-west-1"]
principals = ["arn:aws:iam::*:role/terraform-*"]

[[allow]]
id = "vpn-prefix-list-https"
owner = "netops@example.com"
reason = "NET-140 corporate VPN"
protocol = "tcp"
ports = "8000-8100"
prefix_lists = ["pl-0a1b2c3d4e5f60718"]
source_groups = ["sg-0peer"]

[[allow]]
id = "nat-egress"
owner = "netops@example.com"
reason = "NET-150 everything out"
direction = "egress"
protocol = "all"
ports = "all"
"#;

/// The ```toml blocks of a Markdown file, in order.
fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_start().starts_with("```toml") => current = Some(String::new()),
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// The allowlist example in docs/allowlist.md ("The TOML form") and the file the tour
/// imports (`examples/allowlist.toml`) load as written: a documented key that the loader
/// refuses, or a broken example, fails here.
#[test]
fn documented_allowlist_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/allowlist.md")).unwrap();
    let blocks = toml_blocks(&doc);
    assert_eq!(blocks.len(), 1, "docs/allowlist.md has one TOML example");
    let entries = from_toml(&blocks[0], "docs/allowlist.md").unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.id, "office-ssh");
    // Every criterion the table documents is set in the example.
    assert_eq!(entry.cidrs.len(), 2);
    assert_eq!(entry.prefix_lists.len(), 1);
    assert_eq!(entry.source_groups.len(), 1);
    assert_eq!(entry.groups.len(), 1);
    assert_eq!(entry.accounts.len(), 1);
    assert_eq!(entry.regions.len(), 1);
    assert_eq!(entry.principals.len(), 1);
    assert!(entry.expires.is_some());

    let examples = std::fs::read_to_string(root.join("examples/allowlist.toml")).unwrap();
    let ids: Vec<_> = from_toml(&examples, "examples/allowlist.toml")
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        [
            "office-ssh",
            "terraform-public-https",
            "expired-db-window",
            "vpn-prefix-list-https"
        ]
    );
}

fn problems(text: &str) -> Vec<AllowlistProblem> {
    match from_toml(text, "allow.toml") {
        Err(Error::InvalidAllowlist { file, problems }) => {
            assert_eq!(file, "allow.toml");
            problems
        }
        other => panic!("expected InvalidAllowlist, got {other:?}"),
    }
}

/// `(entry, field)` of each problem; the entry label without its backticks.
fn where_(problems: &[AllowlistProblem]) -> Vec<(String, String)> {
    problems
        .iter()
        .map(|p| (p.entry.trim_matches('`').to_owned(), p.field.clone()))
        .collect()
}

fn pair(entry: &str, field: &str) -> (String, String) {
    (entry.to_owned(), field.to_owned())
}

#[test]
fn readme_example_parses() {
    let entries = from_toml(README_EXAMPLE, "docs/allowlist.md").unwrap();
    assert_eq!(entries.len(), 4);

    let office = &entries[0];
    assert_eq!(office.id, "office-ssh");
    assert_eq!(office.owner, "netops@example.com");
    assert_eq!(office.reason, "NET-123 office SSH");
    assert_eq!(office.expires, Some(at("2030-01-31T00:00:00Z")));
    assert_eq!(office.direction, Direction::Ingress);
    assert_eq!(office.protocol, Protocol::Tcp);
    assert_eq!(office.ports, PortRange::single(22));
    assert_eq!(office.cidrs, nets(&["203.0.113.0/24", "2001:db8::/32"]));

    let terraform = &entries[1];
    assert_eq!(terraform.expires, None);
    assert_eq!(
        terraform.direction,
        Direction::Ingress,
        "direction defaults to ingress"
    );
    assert_eq!(terraform.ports, PortRange::single(443));
    assert_eq!(terraform.groups, strings(&["sg-0fedcba9876543210"]));
    assert_eq!(terraform.accounts, strings(&["111122223333"]));
    assert_eq!(terraform.regions, strings(&["eu-west-1"]));
    assert_eq!(
        terraform.principals,
        strings(&["arn:aws:iam::*:role/terraform-*"])
    );

    let vpn = &entries[2];
    assert_eq!(
        vpn.ports,
        PortRange {
            from: 8000,
            to: 8100
        }
    );
    assert_eq!(vpn.prefix_lists, strings(&["pl-0a1b2c3d4e5f60718"]));
    assert_eq!(vpn.source_groups, strings(&["sg-0peer"]));

    let egress = &entries[3];
    assert_eq!(egress.direction, Direction::Egress);
    assert_eq!(egress.protocol, Protocol::All);
    assert!(egress.ports.is_all());
}

#[test]
fn project_example_allowlist_loads() {
    let text = include_str!("../../../../examples/allowlist.toml");
    let entries = from_toml(text, "examples/allowlist.toml").unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| !e.owner.is_empty() && !e.reason.is_empty())
    );
}

#[test]
fn omitted_fields_take_their_defaults() {
    let entries = from_toml(
        "[[allow]]\nid = \"open\"\nowner = \"me\"\nreason = \"because\"\n",
        "allow.toml",
    )
    .unwrap();
    assert_eq!(entries, vec![AllowEntry::new("open", "me", "because")]);
    assert_eq!(from_toml("", "empty.toml").unwrap(), Vec::new());
}

#[test]
fn toml_native_values_are_accepted() {
    let text = r#"
[[allow]]
id = "native"
owner = "me"
reason = "because"
expires = 2030-01-31T00:00:00Z
protocol = 6
ports = 22
"#;
    let entries = from_toml(text, "allow.toml").unwrap();
    assert_eq!(entries[0].expires, Some(at("2030-01-31T00:00:00Z")));
    assert_eq!(entries[0].protocol, Protocol::Tcp);
    assert_eq!(entries[0].ports, PortRange::single(22));
}

#[test]
fn each_invalid_field_is_named_with_its_entry() {
    let cases: &[(&str, &str)] = &[
        ("cidrs = [\"10.0.0.0/8\", \"10.0.0.0/33\"]", "cidrs[1]"),
        ("cidrs = [\"office\"]", "cidrs[0]"),
        ("ports = \"90-80\"", "ports"),
        ("ports = \"ssh\"", "ports"),
        ("ports = \"70000\"", "ports"),
        ("protocol = \"tcpp\"", "protocol"),
        ("protocol = \"256\"", "protocol"),
        ("expires = \"next tuesday\"", "expires"),
        ("expires = \"2030-01-31\"", "expires"),
        ("direction = \"sideways\"", "direction"),
        ("direction = \"unknown\"", "direction"),
        ("prefix_lists = [\"0a1b\"]", "prefix_lists[0]"),
        ("source_groups = [\"pl-1\"]", "source_groups[0]"),
        ("groups = [\"sg-1\", \"default\"]", "groups[1]"),
        ("accounts = [\"1234\"]", "accounts[0]"),
        ("regions = [\"EU West\"]", "regions[0]"),
        ("principals = [\"  \"]", "principals[0]"),
    ];
    for (line, field) in cases {
        let text =
            format!("[[allow]]\nid = \"broken\"\nowner = \"me\"\nreason = \"because\"\n{line}\n");
        let found = problems(&text);
        assert_eq!(where_(&found), [pair("broken", field)], "{line}");
        assert!(!found[0].message.is_empty());
    }
}

#[test]
fn bad_values_are_quoted_in_the_message() {
    let text = "[[allow]]\nid = \"x\"\nowner = \"me\"\nreason = \"r\"\ncidrs = [\"10.0.0.0/33\"]\n";
    let found = problems(text);
    assert!(
        found[0].message.contains("10.0.0.0/33"),
        "{}",
        found[0].message
    );
    let shown = found[0].to_string();
    assert!(shown.contains('x') && shown.contains("cidrs[0]"), "{shown}");
}

#[test]
fn missing_bookkeeping_is_reported() {
    let found = problems(
        r#"
[[allow]]
owner = "me"
reason = "no id"

[[allow]]
id = "no-owner"
reason = "r"

[[allow]]
id = "no-reason"
owner = "me"

[[allow]]
id = "blank-owner"
owner = "  "
reason = "r"

[[allow]]
id = "bad id!"
owner = "me"
reason = "r"
"#,
    );
    assert_eq!(
        where_(&found),
        [
            pair("#1", "id"),
            pair("no-owner", "owner"),
            pair("no-reason", "reason"),
            pair("blank-owner", "owner"),
            pair("bad id!", "id"),
        ]
    );
}

#[test]
fn unknown_keys_are_reported_with_entry_and_field() {
    let text = r#"
[[allow]]
id = "typo"
owner = "me"
reason = "r"
port = "22"
"#;
    match from_toml(text, "allow.toml") {
        Err(Error::InvalidAllowlist { problems, .. }) => {
            assert_eq!(where_(&problems), [pair("typo", "port")]);
        }
        Err(other) => {
            let shown = other.to_string();
            panic!("unknown key not reported per entry: {shown}");
        }
        Ok(entries) => panic!("unknown key accepted: {entries:?}"),
    }
}

#[test]
fn wrong_types_are_reported_with_entry_and_field() {
    let text = r#"
[[allow]]
id = "wrong-type"
owner = "me"
reason = "r"
cidrs = "10.0.0.0/8"
"#;
    let found = problems(text);
    assert_eq!(where_(&found), [pair("wrong-type", "cidrs")]);
}

#[test]
fn duplicate_ids_are_reported() {
    let found = problems(
        r#"
[[allow]]
id = "dup"
owner = "me"
reason = "first"

[[allow]]
id = "dup"
owner = "you"
reason = "second"
"#,
    );
    assert_eq!(where_(&found), [pair("dup", "id")]);
    assert!(found[0].message.contains("earlier"), "{}", found[0].message);
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = r#"
[[allow]]
id = "good"
owner = "me"
reason = "r"

[[allow]]
id = "many"
owner = "me"
reason = "r"
cidrs = ["10.0.0.0/8", "300.0.0.0/8"]
ports = "22-"
protocol = "tpc"
expires = "soon"
direction = "in"
typo = 1

[[allow]]
reason = "no id, no owner"
cidrs = ["nope"]

[[allow]]
id = "good"
owner = "me"
reason = "duplicate of the first"
"#;
    let found = problems(text);
    let mut got = where_(&found);
    got.sort();
    let mut want = vec![
        pair("many", "cidrs[1]"),
        pair("many", "ports"),
        pair("many", "protocol"),
        pair("many", "expires"),
        pair("many", "direction"),
        pair("many", "typo"),
        pair("#3", "id"),
        pair("#3", "owner"),
        pair("#3", "cidrs[0]"),
        pair("good", "id"),
    ];
    want.sort();
    assert_eq!(got, want);
    let shown = Error::InvalidAllowlist {
        file: "allow.toml".into(),
        problems: found,
    }
    .to_string();
    assert!(
        shown.contains("allow.toml") && shown.contains("10 invalid entries"),
        "{shown}"
    );
}

#[test]
fn malformed_toml_is_a_syntax_error() {
    match from_toml("[[allow]\nid = ", "broken.toml") {
        Err(Error::AllowlistSyntax { file, .. }) => assert_eq!(file, "broken.toml"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // an unknown top-level table is not an entry at all
    assert!(matches!(
        from_toml("[[alow]]\nid = \"x\"\n", "typo.toml"),
        Err(Error::AllowlistSyntax { .. })
    ));
}

#[test]
fn export_round_trips_and_is_stable() {
    let mut full = entry("full");
    full.expires = Some(at("2030-01-31T00:00:00Z"));
    full.direction = Direction::Egress;
    full.protocol = Protocol::Udp;
    full.ports = PortRange {
        from: 8000,
        to: 8100,
    };
    full.cidrs = nets(&["203.0.113.9/24", "2001:db8::/32"]);
    full.prefix_lists = strings(&["pl-1"]);
    full.source_groups = strings(&["sg-1"]);
    full.groups = strings(&[GROUP]);
    full.accounts = strings(&[ACCOUNT]);
    full.regions = strings(&[REGION]);
    full.principals = strings(&["arn:aws:iam::*:role/x-*"]);
    let mut icmp = entry("icmp");
    icmp.protocol = Protocol::Icmp;
    icmp.ports = PortRange::single(8);
    let mut esp = entry("esp");
    esp.protocol = Protocol::Number(50);
    let quoted = AllowEntry::new("quoted", "o\"wner", "reason with \"quotes\" and\nnewline");
    let entries = vec![full, entry("minimal"), icmp, esp, quoted];

    let first = to_toml(&entries).unwrap();
    let back = from_toml(&first, "export.toml").unwrap();
    assert_eq!(back, entries);
    let second = to_toml(&back).unwrap();
    assert_eq!(first, second, "exporting twice gives identical bytes");
    // host bits written in an entry survive the trip
    assert!(first.contains("203.0.113.9/24"), "{first}");

    let readme = from_toml(README_EXAMPLE, "docs/allowlist.md").unwrap();
    let exported = to_toml(&readme).unwrap();
    assert_eq!(from_toml(&exported, "export.toml").unwrap(), readme);
    assert_eq!(
        to_toml(&from_toml(&exported, "export.toml").unwrap()).unwrap(),
        exported
    );
}

#[test]
fn one_line_summary_is_an_inline_table_of_the_exported_keys() {
    let entry = entry_with(|e| {
        e.protocol = Protocol::Tcp;
        e.ports = PortRange::single(22);
        e.cidrs = nets(&["203.0.113.0/24"]);
        e.expires = Some(at("2027-01-31T00:00:00Z"));
    });
    let line = to_toml_line(&entry).unwrap_or_default();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.starts_with("{ id = "), "{line}");
    assert!(line.contains(r#"ports = "22""#), "{line}");
    assert!(line.contains(r#"cidrs = ["203.0.113.0/24"]"#), "{line}");
    assert!(
        line.contains(r#"expires = "2027-01-31T00:00:00Z""#),
        "{line}"
    );
    // It reads back as the same entry.
    let text = format!("allow = [{line}]");
    assert_eq!(from_toml(&text, "line").ok(), Some(vec![entry]));
}
