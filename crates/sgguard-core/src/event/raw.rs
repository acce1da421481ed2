//! Lenient serde shapes of the CloudTrail fields we read. They accept what real records
//! contain: `{}` for empty collections, ports as numbers or strings, one object or a list.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `{"items": [...]}`, where `{}` and `null` mean empty.
#[derive(Debug, Deserialize)]
pub(crate) struct Items<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

pub(crate) fn items<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Items<T>>::deserialize(d)?
        .unwrap_or_default()
        .items)
}

/// A port, ICMP type or code given as a number, a numeric string, or empty.
pub(crate) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("`{n}` is not a port"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{s}` is not a port"))),
        Some(other) => Err(D::Error::custom(format!("`{other}` is not a port"))),
    }
}

/// A string that some exporters wrote as a number (account ids, protocols).
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(D::Error::custom(format!(
            "expected a string, found `{other}`"
        ))),
    }
}

/// One object, or a list of them.
pub(crate) fn one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(t)) => vec![t],
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    #[serde(default, deserialize_with = "string_or_number")]
    pub ip_protocol: Option<String>,
    #[serde(default, deserialize_with = "port")]
    pub from_port: Option<i32>,
    #[serde(default, deserialize_with = "port")]
    pub to_port: Option<i32>,
    #[serde(default, deserialize_with = "items")]
    pub ip_ranges: Vec<IpRange>,
    #[serde(default, deserialize_with = "items")]
    pub ipv6_ranges: Vec<Ipv6Range>,
    #[serde(default, deserialize_with = "items")]
    pub prefix_list_ids: Vec<PrefixListId>,
    #[serde(default, deserialize_with = "items")]
    pub groups: Vec<GroupPair>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IpRange {
    pub cidr_ip: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ipv6Range {
    pub cidr_ipv6: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrefixListId {
    pub prefix_list_id: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupPair {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub user_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
    pub description: Option<String>,
}

/// `requestParameters` of Authorize*, Revoke* and UpdateSecurityGroupRuleDescriptions*.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionRequest {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "items")]
    pub ip_permissions: Vec<Permission>,
    // The flat legacy form: one permission directly under requestParameters.
    pub cidr_ip: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub ip_protocol: Option<String>,
    #[serde(default, deserialize_with = "port")]
    pub from_port: Option<i32>,
    #[serde(default, deserialize_with = "port")]
    pub to_port: Option<i32>,
    pub source_security_group_name: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub source_security_group_owner_id: Option<String>,
    #[serde(default, deserialize_with = "items")]
    pub security_group_rule_ids: Vec<RuleIdItem>,
    #[serde(default, deserialize_with = "items")]
    pub security_group_rule_descriptions: Vec<RuleDescriptionItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleIdItem {
    pub security_group_rule_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleDescriptionItem {
    pub security_group_rule_id: String,
}

/// `responseElements` of Authorize* and Revoke*: the rules created (or revoked) with their ids.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleSetResponse {
    #[serde(default, deserialize_with = "items")]
    pub security_group_rule_set: Vec<RuleSetItem>,
    #[serde(default, deserialize_with = "items")]
    pub revoked_security_group_rule_set: Vec<RuleSetItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleSetItem {
    pub security_group_rule_id: String,
    pub group_id: Option<String>,
    pub is_egress: Option<bool>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub ip_protocol: Option<String>,
    #[serde(default, deserialize_with = "port")]
    pub from_port: Option<i32>,
    #[serde(default, deserialize_with = "port")]
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    pub cidr_ipv6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub referenced_group_info: Option<ReferencedGroup>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReferencedGroup {
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub user_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
}

/// `requestParameters` of ModifySecurityGroupRules: PascalCase, under a wrapper.
#[derive(Debug, Deserialize)]
pub(crate) struct ModifyRequest {
    #[serde(rename = "ModifySecurityGroupRulesRequest")]
    pub request: ModifyRules,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ModifyRules {
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub security_group_rule: Vec<ModifyRuleItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ModifyRuleItem {
    pub security_group_rule_id: String,
    pub security_group_rule: ModifyRuleContent,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ModifyRuleContent {
    #[serde(default, deserialize_with = "string_or_number")]
    pub ip_protocol: Option<String>,
    #[serde(default, deserialize_with = "port")]
    pub from_port: Option<i32>,
    #[serde(default, deserialize_with = "port")]
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    pub cidr_ipv6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
}

/// `requestParameters` / `responseElements` of CreateSecurityGroup and DeleteSecurityGroup.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupCall {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
}

/// `requestParameters` of ModifyManagedPrefixList, in the PascalCase wrapper form
/// (`ModifyManagedPrefixListRequest`) or the plain camelCase form.
#[derive(Debug, Deserialize)]
pub(crate) struct PrefixListRequest {
    #[serde(alias = "PrefixListId", alias = "prefixListId")]
    pub prefix_list_id: Option<String>,
    #[serde(
        default,
        alias = "CurrentVersion",
        alias = "currentVersion",
        deserialize_with = "version"
    )]
    pub current_version: Option<i64>,
    #[serde(
        default,
        alias = "AddEntry",
        alias = "AddEntries",
        alias = "addEntry",
        alias = "addEntries",
        deserialize_with = "entries"
    )]
    pub add_entry: Vec<PrefixListEntry>,
    #[serde(
        default,
        alias = "RemoveEntry",
        alias = "RemoveEntries",
        alias = "removeEntry",
        alias = "removeEntries",
        deserialize_with = "entries"
    )]
    pub remove_entry: Vec<PrefixListEntry>,
}

/// `requestParameters` of RestoreManagedPrefixListVersion, wrapped or plain.
#[derive(Debug, Deserialize)]
pub(crate) struct PrefixListRestore {
    #[serde(alias = "PrefixListId", alias = "prefixListId")]
    pub prefix_list_id: Option<String>,
    #[serde(
        default,
        alias = "PreviousVersion",
        alias = "previousVersion",
        deserialize_with = "version"
    )]
    pub previous_version: Option<i64>,
    #[serde(
        default,
        alias = "CurrentVersion",
        alias = "currentVersion",
        deserialize_with = "version"
    )]
    pub current_version: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PrefixListEntry {
    #[serde(alias = "Cidr")]
    pub cidr: String,
    #[serde(default, alias = "Description")]
    pub description: Option<String>,
}

/// A version number given as a number or a numeric string.
fn version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("`{n}` is not a version"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{s}` is not a version"))),
        Some(other) => Err(D::Error::custom(format!("`{other}` is not a version"))),
    }
}

/// Entries as one object, a list, or `{"items": [...]}`.
fn entries<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PrefixListEntry>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Many(Vec<PrefixListEntry>),
        Items { items: Vec<PrefixListEntry> },
        One(PrefixListEntry),
        Empty {},
    }
    Ok(match Option::<Shape>::deserialize(d)? {
        None | Some(Shape::Empty {}) => Vec::new(),
        Some(Shape::Many(v) | Shape::Items { items: v }) => v,
        Some(Shape::One(e)) => vec![e],
    })
}
