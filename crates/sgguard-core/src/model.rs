//! The domain vocabulary: what one security-group rule is, and what can happen to it.

use std::fmt;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// Which traffic a rule governs. `Unknown` only for `ModifySecurityGroupRules`, whose
/// record does not say; the responder resolves it from the rule's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
    Unknown,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
            Self::Unknown => "unknown",
        }
    }

    /// Unknown directions are treated as ingress: the safe side for a guard.
    pub fn is_ingress(self) -> bool {
        !matches!(self, Self::Egress)
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ingress" => Ok(Self::Ingress),
            "egress" => Ok(Self::Egress),
            "unknown" => Ok(Self::Unknown),
            other => Err(format!("`{other}` is not a direction (ingress, egress)")),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call did to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Modified,
    Removed,
    Description,
    /// An entry added to a managed prefix list: it widens every rule that references the list.
    EntryAdded,
    /// An entry removed from a managed prefix list.
    EntryRemoved,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Removed => "removed",
            Self::Description => "description",
            Self::EntryAdded => "entry_added",
            Self::EntryRemoved => "entry_removed",
        }
    }

    /// Only additions and modifications (of rules or prefix-list entries) can open anything.
    pub fn opens_access(self) -> bool {
        matches!(self, Self::Added | Self::Modified | Self::EntryAdded)
    }
}

impl FromStr for ChangeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "added" => Ok(Self::Added),
            "modified" => Ok(Self::Modified),
            "removed" => Ok(Self::Removed),
            "description" => Ok(Self::Description),
            "entry_added" => Ok(Self::EntryAdded),
            "entry_removed" => Ok(Self::EntryRemoved),
            other => Err(format!("`{other}` is not a change kind")),
        }
    }
}

/// An IP protocol as security groups name it. Numbers for tcp, udp, icmp and icmpv6
/// are folded into their names so `6` and `tcp` compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    All,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Number(u8),
}

impl Protocol {
    /// Parses `ipProtocol` as CloudTrail writes it (`tcp`, `6`, `-1`, `icmpv6`, `50`). A
    /// number is folded by its value, however it is spelled (`06`, `+6`: tcp), as EC2 reads it.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "-1" | "all" => Self::All,
            "tcp" => Self::Tcp,
            "udp" => Self::Udp,
            "icmp" => Self::Icmp,
            "icmpv6" => Self::Icmpv6,
            other => match other.parse::<u8>().ok()? {
                6 => Self::Tcp,
                17 => Self::Udp,
                1 => Self::Icmp,
                58 => Self::Icmpv6,
                n => Self::Number(n),
            },
        })
    }

    /// The name EC2 accepts back in `IpProtocol`.
    pub fn as_ec2(self) -> String {
        match self {
            Self::All => "-1".into(),
            Self::Tcp => "tcp".into(),
            Self::Udp => "udp".into(),
            Self::Icmp => "icmp".into(),
            Self::Icmpv6 => "icmpv6".into(),
            Self::Number(n) => n.to_string(),
        }
    }

    /// Whether `fromPort`/`toPort` are ports (tcp, udp) rather than ICMP type/code or nothing.
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
    }

    pub fn is_icmp(self) -> bool {
        matches!(self, Self::Icmp | Self::Icmpv6)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            other => f.write_str(&other.as_ec2()),
        }
    }
}

impl Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an IP protocol")))
    }
}

/// An inclusive range of ports (or ICMP types). `ALL` covers everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl PortRange {
    pub const ALL: Self = Self { from: 0, to: 65535 };

    pub fn single(port: u16) -> Self {
        Self {
            from: port,
            to: port,
        }
    }

    pub fn contains(self, other: Self) -> bool {
        self.from <= other.from && other.to <= self.to
    }

    pub fn overlaps(self, other: Self) -> bool {
        self.from <= other.to && other.from <= self.to
    }

    pub fn is_all(self) -> bool {
        self == Self::ALL
    }

    /// Parses `22`, `8000-8100` or `all`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(Self::ALL);
        }
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("`{text}` is not a port, a range like `8000-8100`, or `all`"))
        };
        let range = match text.split_once('-') {
            Some((from, to)) => Self {
                from: port(from)?,
                to: port(to)?,
            },
            None => Self::single(port(text)?),
        };
        if range.from > range.to {
            return Err(format!("port range `{text}` runs backwards"));
        }
        Ok(range)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("all")
        } else if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

/// Where traffic may come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// Kept exactly as written (host bits included) so a fallback revoke matches; risk
    /// and allowlist checks use the network.
    CidrV4(Ipv4Net),
    CidrV6(Ipv6Net),
    PrefixList(String),
    SecurityGroup {
        group_id: String,
        user_id: Option<String>,
        vpc_peering_connection_id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    CidrIpv4,
    CidrIpv6,
    PrefixList,
    SecurityGroup,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CidrIpv4 => "cidr_ipv4",
            Self::CidrIpv6 => "cidr_ipv6",
            Self::PrefixList => "prefix_list",
            Self::SecurityGroup => "security_group",
        }
    }
}

impl Source {
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::CidrV4(_) => SourceKind::CidrIpv4,
            Self::CidrV6(_) => SourceKind::CidrIpv6,
            Self::PrefixList(_) => SourceKind::PrefixList,
            Self::SecurityGroup { .. } => SourceKind::SecurityGroup,
        }
    }

    /// The CIDR source as a network with host bits cleared; `None` for other kinds.
    pub fn network(&self) -> Option<IpNet> {
        match self {
            Self::CidrV4(net) => Some(IpNet::V4(net.trunc())),
            Self::CidrV6(net) => Some(IpNet::V6(net.trunc())),
            _ => None,
        }
    }

    /// Whether two sources grant the same access: networks compared (host bits cleared),
    /// referenced groups by id (owner and peering are not part of what EC2 compares).
    pub fn same_as(&self, other: &Source) -> bool {
        match (self, other) {
            (Self::CidrV4(_) | Self::CidrV6(_), Self::CidrV4(_) | Self::CidrV6(_)) => {
                self.network() == other.network()
            }
            (Self::PrefixList(a), Self::PrefixList(b)) => a == b,
            (Self::SecurityGroup { group_id: a, .. }, Self::SecurityGroup { group_id: b, .. }) => {
                a == b
            }
            _ => false,
        }
    }

    /// Parses a source in its display form: a CIDR, `pl-…`, or `sg-…` (optionally
    /// `ACCOUNT/sg-…`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("pl-") {
            return Ok(Self::PrefixList(text.to_owned()));
        }
        let (user, group) = match text.split_once('/') {
            Some((user, group)) if group.starts_with("sg-") => (Some(user), group),
            _ => (None, text),
        };
        if group.starts_with("sg-") {
            return Ok(Self::SecurityGroup {
                group_id: group.to_owned(),
                user_id: user.map(str::to_owned),
                vpc_peering_connection_id: None,
            });
        }
        match text.parse::<IpNet>() {
            Ok(IpNet::V4(net)) => Ok(Self::CidrV4(net)),
            Ok(IpNet::V6(net)) => Ok(Self::CidrV6(net)),
            Err(_) => Err(format!(
                "`{text}` is not a CIDR, a prefix list (pl-…) or a security group (sg-…)"
            )),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CidrV4(net) => write!(f, "{net}"),
            Self::CidrV6(net) => write!(f, "{net}"),
            Self::PrefixList(id) => f.write_str(id),
            Self::SecurityGroup {
                group_id,
                user_id: Some(user),
                ..
            } => write!(f, "{user}/{group_id}"),
            Self::SecurityGroup { group_id, .. } => f.write_str(group_id),
        }
    }
}

/// The content of one rule: enough to classify, match and (re)create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleContent {
    pub protocol: Protocol,
    /// Ports (tcp/udp) or ICMP type/code exactly as given; `None` where absent or `-1`.
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
    pub description: Option<String>,
}

impl RuleContent {
    /// The range the rule opens, in the terms the allowlist and sensitive ports use:
    /// ports for tcp/udp, the ICMP type for ICMP, everything for other protocols.
    pub fn port_range(&self) -> PortRange {
        let bound = |p: Option<i32>| p.filter(|p| *p >= 0).and_then(|p| u16::try_from(p).ok());
        match self.protocol {
            Protocol::Tcp | Protocol::Udp => match (bound(self.from_port), bound(self.to_port)) {
                (Some(from), Some(to)) if from <= to => PortRange { from, to },
                (Some(from), None) => PortRange::single(from),
                _ => PortRange::ALL,
            },
            Protocol::Icmp | Protocol::Icmpv6 => match bound(self.from_port) {
                Some(icmp_type) => PortRange::single(icmp_type),
                None => PortRange::ALL,
            },
            Protocol::All | Protocol::Number(_) => PortRange::ALL,
        }
    }
}

impl RuleContent {
    /// Ports as EC2 stores them: `-1` where a protocol has none.
    pub fn canonical_ports(&self) -> (i32, i32) {
        match self.protocol {
            Protocol::Tcp | Protocol::Udp | Protocol::Icmp | Protocol::Icmpv6 => (
                self.from_port.unwrap_or(-1),
                self.to_port
                    .or(self.from_port.filter(|_| self.protocol.has_ports()))
                    .unwrap_or(-1),
            ),
            Protocol::All | Protocol::Number(_) => (-1, -1),
        }
    }

    /// Whether two contents grant the same access: protocol, ports and source, the
    /// description aside (it changes nothing on the wire).
    pub fn same_access(&self, other: &RuleContent) -> bool {
        self.protocol == other.protocol
            && self.canonical_ports() == other.canonical_ports()
            && self.source.same_as(&other.source)
    }
}

impl fmt::Display for RuleContent {
    /// `tcp 22 from 0.0.0.0/0`, the way people say it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.protocol)?;
        match self.canonical_ports() {
            _ if !self.protocol.has_ports() && !self.protocol.is_icmp() => {}
            (-1, _) => {}
            (a, b) if a == b || b == -1 => write!(f, " {a}")?,
            (a, b) => write!(f, " {a}-{b}")?,
        }
        write!(f, " from {}", self.source)
    }
}

/// One rule touched by one call, as normalized from any CloudTrail shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChange {
    /// `sgr-…` when the record carries it (rule sets since 2021, revokes by id, modifications).
    pub rule_id: Option<String>,
    pub direction: Direction,
    pub kind: ChangeKind,
    /// `None` for a revoke or description update that names only the rule id.
    pub content: Option<RuleContent>,
    /// Why this change needs a second look, e.g. a permission of the request that the
    /// response's rule set does not list.
    pub note: Option<String>,
}

/// What sgguard did, or would do, about one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    None,
    Flagged,
    WouldRevert,
    /// Decided under `enforce`, not yet carried out; only seen in a record interrupted mid-way.
    Pending,
    Reverted,
    Restored,
    /// Not acted on: EC2 showed the rule changed since this event; the later change is
    /// judged on its own.
    Superseded,
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Flagged => "flagged",
            Self::WouldRevert => "would_revert",
            Self::Pending => "pending",
            Self::Reverted => "reverted",
            Self::Restored => "restored",
            Self::Superseded => "superseded",
            Self::Failed => "failed",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "none" => Self::None,
            "flagged" => Self::Flagged,
            "would_revert" => Self::WouldRevert,
            "pending" => Self::Pending,
            "reverted" => Self::Reverted,
            "restored" => Self::Restored,
            "superseded" => Self::Superseded,
            "failed" => Self::Failed,
            other => return Err(format!("`{other}` is not an action")),
        })
    }
}

/// The verdict on one input record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    SkippedFailedCall,
    SkippedUnrelated,
    Duplicate,
    OwnAction,
    Invalid,
    /// A real change CloudTrail recorded only in part (it omits request or response
    /// elements over its size limit): what it changed is not fully known, so nothing is
    /// done, and a person is told.
    Incomplete,
    Recorded,
    Approved,
    Flagged,
    WouldRevert,
    /// Enforcement was decided and recorded but not yet carried out.
    Pending,
    /// Nothing was done: the rule changed (in EC2) since this event.
    Superseded,
    Restored,
    Reverted,
    RevertFailed,
}

impl Outcome {
    pub const ALL: [Self; 15] = [
        Self::SkippedFailedCall,
        Self::SkippedUnrelated,
        Self::Duplicate,
        Self::OwnAction,
        Self::Invalid,
        Self::Incomplete,
        Self::Recorded,
        Self::Approved,
        Self::Flagged,
        Self::WouldRevert,
        Self::Pending,
        Self::Superseded,
        Self::Restored,
        Self::Reverted,
        Self::RevertFailed,
    ];

    /// The outcomes worth telling a person about: something was reverted, restored, or
    /// would have been, an unapproved rule was flagged, or an event could not be handled
    /// in full. The deployed outcome rule (infra/template.yaml `NotableOutcomeRule`) passes
    /// on exactly these (and any report with an `allowlist_error`).
    pub const NOTABLE: [Self; 7] = [
        Self::Invalid,
        Self::Incomplete,
        Self::Flagged,
        Self::WouldRevert,
        Self::Restored,
        Self::Reverted,
        Self::RevertFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SkippedFailedCall => "skipped_failed_call",
            Self::SkippedUnrelated => "skipped_unrelated",
            Self::Duplicate => "duplicate",
            Self::OwnAction => "own_action",
            Self::Invalid => "invalid",
            Self::Incomplete => "incomplete",
            Self::Recorded => "recorded",
            Self::Approved => "approved",
            Self::Flagged => "flagged",
            Self::WouldRevert => "would_revert",
            Self::Pending => "pending",
            Self::Superseded => "superseded",
            Self::Restored => "restored",
            Self::Reverted => "reverted",
            Self::RevertFailed => "revert_failed",
        }
    }

    /// The event outcome that a change's action contributes; the strongest one wins.
    pub fn from_action(action: Action) -> Option<Self> {
        match action {
            Action::None => None,
            Action::Flagged => Some(Self::Flagged),
            Action::WouldRevert => Some(Self::WouldRevert),
            Action::Pending => Some(Self::Pending),
            Action::Reverted => Some(Self::Reverted),
            Action::Restored => Some(Self::Restored),
            Action::Superseded => Some(Self::Superseded),
            Action::Failed => Some(Self::RevertFailed),
        }
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not an outcome"))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_numbers_fold_into_names() {
        assert_eq!(Protocol::parse("6"), Some(Protocol::Tcp));
        assert_eq!(Protocol::parse("-1"), Some(Protocol::All));
        assert_eq!(Protocol::parse("ICMPv6"), Some(Protocol::Icmpv6));
        assert_eq!(Protocol::parse("50"), Some(Protocol::Number(50)));
        assert_eq!(Protocol::parse("bogus"), None);
        // Found by the fuzz target: `+6` and `06` were `Number(6)`, not tcp.
        for (text, protocol) in [
            ("+6", Protocol::Tcp),
            ("06", Protocol::Tcp),
            ("017", Protocol::Udp),
            ("001", Protocol::Icmp),
            ("0058", Protocol::Icmpv6),
            ("050", Protocol::Number(50)),
        ] {
            assert_eq!(Protocol::parse(text), Some(protocol), "{text}");
            assert_eq!(
                Protocol::parse(&protocol.as_ec2()),
                Some(protocol),
                "{text}"
            );
        }
        assert_eq!(Protocol::parse("256"), None);
        assert_eq!(Protocol::parse("-01"), None);
    }

    #[test]
    fn port_ranges_parse_and_contain() {
        assert_eq!(PortRange::parse("22"), Ok(PortRange::single(22)));
        assert_eq!(PortRange::parse("all"), Ok(PortRange::ALL));
        let r = PortRange::parse("8000-8100").unwrap_or(PortRange::ALL);
        assert!(r.contains(PortRange::single(8080)));
        assert!(!r.contains(PortRange {
            from: 7999,
            to: 8000
        }));
        assert!(PortRange::parse("90-80").is_err());
        assert!(PortRange::parse("http").is_err());
    }

    #[test]
    fn sources_parse_from_display_form() {
        for text in ["10.0.0.0/8", "::/0", "pl-0123", "sg-1", "444455556666/sg-1"] {
            let parsed = Source::parse(text);
            assert_eq!(parsed.map(|s| s.to_string()).as_deref(), Ok(text));
        }
        assert!(Source::parse("not-a-source").is_err());
    }

    #[test]
    fn icmp_and_all_protocol_ranges() {
        let content = |protocol, from, to| RuleContent {
            protocol,
            from_port: from,
            to_port: to,
            source: Source::PrefixList("pl-1".into()),
            description: None,
        };
        assert_eq!(
            content(Protocol::Icmp, Some(8), Some(0)).port_range(),
            PortRange::single(8)
        );
        assert_eq!(
            content(Protocol::Icmp, Some(-1), Some(-1)).port_range(),
            PortRange::ALL
        );
        assert_eq!(
            content(Protocol::All, None, None).port_range(),
            PortRange::ALL
        );
        assert_eq!(
            content(Protocol::Tcp, Some(20), Some(23)).port_range(),
            PortRange { from: 20, to: 23 }
        );
    }

    #[test]
    fn outcomes_round_trip_their_names() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
    }
}
