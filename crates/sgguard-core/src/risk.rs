//! Risk classification of one added or modified rule. The table is data ([`RiskTable`]),
//! so a deployment can tune sensitive ports and breadth thresholds without new code paths.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::{ChangeKind, PortRange, Protocol, RuleChange, RuleContent, Source};
use crate::prefix_list::{PrefixList, PrefixLists, Reference};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    pub const ALL: [Self; 5] = [
        Self::None,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl FromStr for RiskLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a risk level (none, low, medium, high, critical)"))
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level and the reasons that produced it, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub level: RiskLevel,
    pub reasons: Vec<String>,
}

impl Risk {
    pub fn none() -> Self {
        Self {
            level: RiskLevel::None,
            reasons: Vec::new(),
        }
    }
}

/// The classification table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskTable {
    /// Ports whose exposure to the world is critical.
    pub sensitive_ports: Vec<PortRange>,
    /// A public IPv4 CIDR shorter than this prefix is `medium`; this long or longer, `low`.
    pub broad_ipv4_prefix: u8,
    /// The same for IPv6.
    pub broad_ipv6_prefix: u8,
    /// A public IPv4 CIDR this short or shorter (`/16`: 65,536 addresses) on a sensitive
    /// port or all protocols is `high`, not `medium`.
    pub very_broad_ipv4_prefix: u8,
    /// The same for IPv6 (`/32`, a whole ISP allocation).
    pub very_broad_ipv6_prefix: u8,
    /// A public source this short or shorter is treated as world-open: `0.0.0.0/1` plus
    /// `128.0.0.0/1` opens as much as `0.0.0.0/0`, and `2000::/3` is every public IPv6 address.
    pub world_prefix: u8,
    /// Networks that are private or local: sources inside them are `low`.
    pub private_networks: Vec<IpNet>,
}

impl Default for RiskTable {
    fn default() -> Self {
        let ports: [(u16, u16); 17] = [
            (20, 23),
            (135, 135),
            (137, 139),
            (445, 445),
            (1433, 1433),
            (1521, 1521),
            (2049, 2049),
            (2375, 2376),
            (3306, 3306),
            (3389, 3389),
            (5432, 5432),
            (5900, 5900),
            (5985, 5986),
            (6379, 6379),
            (9200, 9200),
            (11211, 11211),
            (27017, 27017),
        ];
        let private = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "0.0.0.0/8",
            "::1/128",
            "fe80::/10",
            "fc00::/7",
        ];
        Self {
            sensitive_ports: ports
                .into_iter()
                .map(|(from, to)| PortRange { from, to })
                .collect(),
            broad_ipv4_prefix: 24,
            broad_ipv6_prefix: 48,
            very_broad_ipv4_prefix: 16,
            very_broad_ipv6_prefix: 32,
            world_prefix: 4,
            private_networks: private.iter().filter_map(|n| n.parse().ok()).collect(),
        }
    }
}

impl RiskTable {
    /// Classifies one change without knowing any prefix list's entries (offline).
    pub fn classify(&self, change: &RuleChange) -> Risk {
        self.classify_in(change, &PrefixLists::default())
    }

    /// Classifies one change: only additions and modifications carry risk. A prefix-list
    /// source is judged by the entries in `lists` (see [`Self::classify_content_in`]).
    pub fn classify_in(&self, change: &RuleChange, lists: &PrefixLists) -> Risk {
        match (&change.content, change.kind) {
            (Some(content), ChangeKind::Added | ChangeKind::Modified) => {
                self.classify_content_in(content, lists)
            }
            _ => Risk::none(),
        }
    }

    /// Classifies the content of a rule, whatever the call that made it, without knowing
    /// any prefix list's entries.
    pub fn classify_content(&self, content: &RuleContent) -> Risk {
        self.classify_content_in(content, &PrefixLists::default())
    }

    /// Classifies the content of a rule. A customer-managed prefix list counts as its
    /// widest entry; an AWS-managed list, a referenced group and a list whose entries are
    /// unknown are `low`, and the reason says which.
    pub fn classify_content_in(&self, content: &RuleContent, lists: &PrefixLists) -> Risk {
        match &content.source {
            Source::PrefixList(id) => match lists.get(id) {
                Some(list) => self.classify_prefix_list(content, list),
                None => low(format!(
                    "managed prefix list {id}; its entries were not resolved"
                )),
            },
            Source::SecurityGroup { group_id, .. } => {
                low(format!("referenced security group {group_id}"))
            }
            Source::CidrV4(_) | Source::CidrV6(_) => self.classify_cidr(content),
        }
    }

    /// The risk of `content` (whose source is `list`) is the risk of its widest entry.
    fn classify_prefix_list(&self, content: &RuleContent, list: &PrefixList) -> Risk {
        if list.aws_managed {
            return low(format!("AWS-managed prefix list {}", list.label()));
        }
        let widest = list
            .entries
            .iter()
            .map(|entry| {
                let through = RuleContent {
                    source: source_of(*entry),
                    ..content.clone()
                };
                (entry, self.classify_cidr(&through))
            })
            .max_by_key(|(entry, risk)| (risk.level, std::cmp::Reverse(entry.prefix_len())));
        match widest {
            None => low(format!("prefix list {} has no entries", list.label())),
            Some((entry, risk)) => Risk {
                level: risk.level,
                reasons: std::iter::once(format!("prefix list {} holds {entry}", list.label()))
                    .chain(risk.reasons)
                    .collect(),
            },
        }
    }

    /// The risk of an entry added to a prefix list whose referencing rules are not known
    /// (offline): as if it opened all traffic.
    pub fn classify_unresolved_entry(&self, entry: &RuleContent, list_id: &str) -> Risk {
        let all = RuleContent {
            protocol: Protocol::All,
            from_port: None,
            to_port: None,
            ..entry.clone()
        };
        let mut risk = self.classify_cidr(&all);
        risk.reasons.insert(
            0,
            format!(
                "the rules that reference {list_id} were not resolved; judged as if the entry opened all traffic"
            ),
        );
        risk
    }

    /// The risk of an entry added to a prefix list, through one rule that references it.
    pub fn classify_through(&self, entry: &RuleContent, reference: &Reference) -> Risk {
        let through = RuleContent {
            source: entry.source.clone(),
            ..reference.content.clone()
        };
        let risk = self.classify_cidr(&through);
        Risk {
            level: risk.level,
            reasons: std::iter::once(format!(
                "opens {} rule {} in {} ({}) to {}",
                reference.direction,
                reference.rule_id,
                reference.group_id,
                reference.content,
                entry.source
            ))
            .chain(risk.reasons)
            .collect(),
        }
    }

    fn classify_cidr(&self, content: &RuleContent) -> Risk {
        let Some(net) = content.source.network() else {
            return Risk::none();
        };
        let written = content.source.to_string();
        let private = self.private_networks.iter().any(|p| p.contains(&net));
        if net.prefix_len() <= self.world_prefix && !private {
            let family = if matches!(net, IpNet::V4(_)) {
                "IPv4"
            } else {
                "IPv6"
            };
            let world = if net.prefix_len() == 0 {
                format!("world-open {family} source {written}")
            } else {
                format!(
                    "world-open {family} source {written} (a /{} covers a large share of the internet)",
                    net.prefix_len()
                )
            };
            if content.protocol == Protocol::All {
                return Risk {
                    level: RiskLevel::Critical,
                    reasons: vec![world, "all protocols and ports".into()],
                };
            }
            if let Some(sensitive) = self.sensitive_overlap(content) {
                return Risk {
                    level: RiskLevel::Critical,
                    reasons: vec![world, sensitive],
                };
            }
            return Risk {
                level: RiskLevel::High,
                reasons: vec![world],
            };
        }
        if private {
            return low(format!("private or local network {written}"));
        }
        let (broad, very_broad) = match net {
            IpNet::V4(_) => (self.broad_ipv4_prefix, self.very_broad_ipv4_prefix),
            IpNet::V6(_) => (self.broad_ipv6_prefix, self.very_broad_ipv6_prefix),
        };
        if net.prefix_len() <= very_broad {
            let exposed = if content.protocol == Protocol::All {
                Some("all protocols and ports".to_owned())
            } else {
                self.sensitive_overlap(content)
            };
            if let Some(exposed) = exposed {
                return Risk {
                    level: RiskLevel::High,
                    reasons: vec![
                        format!("public network {written} of /{very_broad} or broader"),
                        exposed,
                    ],
                };
            }
        }
        if net.prefix_len() < broad {
            Risk {
                level: RiskLevel::Medium,
                reasons: vec![format!("public network {written} broader than /{broad}")],
            }
        } else {
            low(format!("public network {written} no broader than /{broad}"))
        }
    }

    /// The sensitive ports that the rule's range exposes, as a reason, if any.
    fn sensitive_overlap(&self, content: &RuleContent) -> Option<String> {
        if !content.protocol.has_ports() {
            return None;
        }
        let range = content.port_range();
        let hits: Vec<String> = self
            .sensitive_ports
            .iter()
            .filter(|p| p.overlaps(range))
            .map(ToString::to_string)
            .collect();
        if hits.is_empty() {
            return None;
        }
        let shown: Vec<&str> = hits.iter().take(5).map(String::as_str).collect();
        let more = if hits.len() > 5 {
            format!(" and {} more", hits.len() - 5)
        } else {
            String::new()
        };
        Some(format!(
            "{} port range {range} includes sensitive port{} {}{more}",
            content.protocol,
            if hits.len() == 1 && !hits[0].contains('-') {
                ""
            } else {
                "s"
            },
            shown.join(", ")
        ))
    }
}

fn source_of(net: IpNet) -> Source {
    match net {
        IpNet::V4(net) => Source::CidrV4(net),
        IpNet::V6(net) => Source::CidrV6(net),
    }
}

fn low(reason: String) -> Risk {
    Risk {
        level: RiskLevel::Low,
        reasons: vec![reason],
    }
}
