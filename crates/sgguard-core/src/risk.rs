//! Risk classification of one added or modified rule. The table is data ([`RiskTable`]),
//! so a deployment can tune sensitive ports and breadth thresholds without new code paths.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::{PortRange, Protocol, RuleChange, RuleContent, Source};

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
            world_prefix: 4,
            private_networks: private.iter().filter_map(|n| n.parse().ok()).collect(),
        }
    }
}

impl RiskTable {
    /// Classifies one change: only additions and modifications carry risk.
    pub fn classify(&self, change: &RuleChange) -> Risk {
        match (&change.content, change.kind.opens_access()) {
            (Some(content), true) => self.classify_content(content),
            _ => Risk::none(),
        }
    }

    /// Classifies the content of a rule, whatever the call that made it.
    pub fn classify_content(&self, content: &RuleContent) -> Risk {
        match &content.source {
            Source::PrefixList(id) => low(format!("managed prefix list {id}")),
            Source::SecurityGroup { group_id, .. } => {
                low(format!("referenced security group {group_id}"))
            }
            Source::CidrV4(_) | Source::CidrV6(_) => self.classify_cidr(content),
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
        let broad = match net {
            IpNet::V4(_) => self.broad_ipv4_prefix,
            IpNet::V6(_) => self.broad_ipv6_prefix,
        };
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

fn low(reason: String) -> Risk {
    Risk {
        level: RiskLevel::Low,
        reasons: vec![reason],
    }
}
