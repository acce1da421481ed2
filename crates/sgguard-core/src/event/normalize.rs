//! One successful security-group record → a [`ChangeSet`]. Every shape in the field notes
//! is handled here; a record we cannot understand is an [`Error::InvalidEvent`] that names
//! the field, never a guess.

use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::identity::RawIdentity;
use super::raw::{
    GroupCall, ModifyRequest, ModifyRuleContent, Permission, PermissionRequest, PrefixListEntry,
    PrefixListRequest, PrefixListRestore, RuleSetItem, RuleSetResponse,
};
use super::{ChangeSet, EventMeta};
use crate::error::Error;
use crate::model::{ChangeKind, Direction, Protocol, RuleChange, RuleContent, Source};
use crate::time::parse_event_time;

/// Normalizes one successful security-group call. Call [`super::classify_record`] first:
/// this function does not skip failed or unrelated records.
///
/// The rules a call added come from the response's rule set, with their ids, so a revert
/// can name exactly them:
///
/// ```
/// use serde_json::json;
/// use sgguard_core::{ChangeKind, Direction, Source, normalize};
///
/// let record = json!({
///     "eventID": "3f1c0a52-9f0e-4c1e-8f5c-0d6c7b2b1a11",
///     "eventTime": "2026-11-20T09:00:00Z",
///     "eventSource": "ec2.amazonaws.com",
///     "eventName": "AuthorizeSecurityGroupIngress",
///     "awsRegion": "eu-west-1",
///     "recipientAccountId": "111122223333",
///     "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
///     "requestParameters": {
///         "groupId": "sg-0a1b2c3d4e5f60718",
///         "ipPermissions": {"items": [{
///             "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
///             "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}
///         }]}
///     },
///     "responseElements": {
///         "_return": true,
///         "securityGroupRuleSet": {"items": [{
///             "securityGroupRuleId": "sgr-0123456789abcdef0",
///             "groupId": "sg-0a1b2c3d4e5f60718", "groupOwnerId": "111122223333",
///             "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
///             "cidrIpv4": "0.0.0.0/0"
///         }]}
///     }
/// });
/// let set = normalize(&record)?;
/// assert_eq!(set.group_id.as_deref(), Some("sg-0a1b2c3d4e5f60718"));
/// let [added] = set.changes.as_slice() else { panic!("one rule") };
/// assert_eq!(added.rule_id.as_deref(), Some("sgr-0123456789abcdef0"));
/// assert_eq!((added.direction, added.kind), (Direction::Ingress, ChangeKind::Added));
/// let content = added.content.as_ref().unwrap();
/// assert_eq!(content.source, Source::CidrV4("0.0.0.0/0".parse().unwrap()));
///
/// // A record without a field it needs is an error that names the field.
/// let err = normalize(&json!({"eventName": "AuthorizeSecurityGroupIngress"})).unwrap_err();
/// assert!(err.to_string().contains("eventID"), "{err}");
/// # Ok::<(), sgguard_core::Error>(())
/// ```
pub fn normalize(record: &Value) -> Result<ChangeSet, Error> {
    let omitted = omitted_elements(record);
    if omitted.is_empty() {
        return normalize_whole(record);
    }
    normalize_partial(record, omitted)
}

/// The elements CloudTrail left out of a record for their size: it marks each with
/// `"omitted": true`, in the element or at the top of the record (the element is then
/// empty).
fn omitted_elements(record: &Value) -> Vec<String> {
    let marked = |value: &Value| value.get("omitted").and_then(Value::as_bool) == Some(true);
    let whole_record = marked(record);
    ["requestParameters", "responseElements"]
        .into_iter()
        .filter(|field| match record.get(field) {
            Some(element) if marked(element) => true,
            None | Some(Value::Null) => whole_record,
            Some(_) => false,
        })
        .map(str::to_owned)
        .collect()
}

/// A record with elements omitted: what the rest shows (the request's permissions when only
/// the response is gone), else no changes, and the group wherever the record names it.
fn normalize_partial(record: &Value, omitted: Vec<String>) -> Result<ChangeSet, Error> {
    let meta = parse_meta(record)?;
    let mut rest = record.clone();
    if let Some(fields) = rest.as_object_mut() {
        for field in &omitted {
            fields.insert(field.clone(), Value::Null);
        }
    }
    let mut set = normalize_whole(&rest).unwrap_or_else(|_| ChangeSet {
        group_id: group_hint(record, "groupId", "GroupId"),
        group_name: group_hint(record, "groupName", "GroupName"),
        prefix_list_id: group_hint(record, "prefixListId", "PrefixListId"),
        prefix_list_version: None,
        restores_version: None,
        changes: Vec::new(),
        omitted: Vec::new(),
        meta,
    });
    set.omitted = omitted;
    Ok(set)
}

/// A group (or list) named anywhere a partial record still has it: the request, the
/// modification request, or the response's rule set.
fn group_hint(record: &Value, key: &str, upper: &str) -> Option<String> {
    let request = &record["requestParameters"];
    [
        &request[key],
        &request[upper],
        &request["ModifySecurityGroupRulesRequest"][upper],
        &request["ModifyManagedPrefixListRequest"][upper],
        &record["responseElements"]["securityGroupRuleSet"]["items"][0][key],
    ]
    .into_iter()
    .find_map(|value| value.as_str().filter(|v| !v.is_empty()).map(str::to_owned))
}

fn normalize_whole(record: &Value) -> Result<ChangeSet, Error> {
    let meta = parse_meta(record)?;
    let event_name = meta.event_name.clone();
    let request = record.get("requestParameters").unwrap_or(&Value::Null);
    let response = record.get("responseElements").unwrap_or(&Value::Null);

    let (direction, call) = match event_name.as_str() {
        "AuthorizeSecurityGroupIngress" => (Direction::Ingress, Call::Authorize),
        "AuthorizeSecurityGroupEgress" => (Direction::Egress, Call::Authorize),
        "RevokeSecurityGroupIngress" => (Direction::Ingress, Call::Revoke),
        "RevokeSecurityGroupEgress" => (Direction::Egress, Call::Revoke),
        "UpdateSecurityGroupRuleDescriptionsIngress" => (Direction::Ingress, Call::Describe),
        "UpdateSecurityGroupRuleDescriptionsEgress" => (Direction::Egress, Call::Describe),
        "ModifySecurityGroupRules" => (Direction::Unknown, Call::Modify),
        "CreateSecurityGroup" | "DeleteSecurityGroup" => (Direction::Unknown, Call::Group),
        "ModifyManagedPrefixList" => return prefix_list_change(meta, request),
        "RestoreManagedPrefixListVersion" => return prefix_list_restore(meta, request),
        other => {
            return Err(Error::invalid_event(
                "eventName",
                format!("`{other}` is not a security-group call"),
            ));
        }
    };

    let (group_id, group_name, changes) = match call {
        Call::Authorize | Call::Revoke | Call::Describe => {
            let req: PermissionRequest = parse_at(request, "requestParameters")?;
            let resp: RuleSetResponse = parse_optional_at(response, "responseElements")?;
            let changes = match call {
                Call::Authorize => authorized(&req, &resp, direction)?,
                Call::Revoke => revoked(&req, &resp, direction)?,
                _ => described(&req, direction)?,
            };
            let group_id = req.group_id.clone().or_else(|| {
                resp.security_group_rule_set
                    .iter()
                    .find_map(|r| r.group_id.clone())
            });
            if group_id.is_none() && req.group_name.is_none() {
                return Err(Error::invalid_event(
                    "requestParameters.groupId",
                    "neither groupId nor groupName is present",
                ));
            }
            (group_id, req.group_name, changes)
        }
        Call::Modify => {
            let req: ModifyRequest = parse_at(request, "requestParameters")?;
            let changes = modified(&req)?;
            let group_id = req.request.group_id.ok_or_else(|| {
                Error::invalid_event(
                    "requestParameters.ModifySecurityGroupRulesRequest.GroupId",
                    "missing",
                )
            })?;
            (Some(group_id), None, changes)
        }
        Call::Group => {
            let req: GroupCall = parse_optional_at(request, "requestParameters")?;
            let resp: GroupCall = parse_optional_at(response, "responseElements")?;
            let group_id = req.group_id.or(resp.group_id);
            if group_id.is_none() && req.group_name.is_none() {
                return Err(Error::invalid_event(
                    "requestParameters.groupId",
                    "neither groupId nor groupName is present",
                ));
            }
            (group_id, req.group_name, Vec::new())
        }
    };
    Ok(ChangeSet {
        meta,
        group_id,
        group_name,
        prefix_list_id: None,
        prefix_list_version: None,
        restores_version: None,
        changes,
        omitted: Vec::new(),
    })
}

/// `ModifyManagedPrefixList`: the entries the request added and removed. The record is
/// CloudTrail's own (an authentic envelope), so its request says exactly which entries the
/// call changed; EC2 is read to see which of them the list still holds, and the rules that
/// reference it. A call that only renames the list changes no entry.
fn prefix_list_change(meta: EventMeta, request: &Value) -> Result<ChangeSet, Error> {
    let (root, inner) = match request.get("ModifyManagedPrefixListRequest") {
        Some(inner) => ("requestParameters.ModifyManagedPrefixListRequest", inner),
        None => ("requestParameters", request),
    };
    let req: PrefixListRequest = parse_at(inner, root)?;
    let prefix_list_id = req
        .prefix_list_id
        .ok_or_else(|| Error::invalid_event(format!("{root}.PrefixListId"), "missing"))?;
    let entries = |list: &[PrefixListEntry], kind, field: &str| -> Result<Vec<RuleChange>, Error> {
        list.iter()
            .enumerate()
            .map(|(i, entry)| {
                let source = match cidr(&entry.cidr, &format!("{root}.{field}[{i}].Cidr"))? {
                    IpNet::V4(net) => Source::CidrV4(net),
                    IpNet::V6(net) => Source::CidrV6(net),
                };
                Ok(RuleChange {
                    rule_id: None,
                    direction: Direction::Unknown,
                    kind,
                    content: Some(RuleContent {
                        protocol: Protocol::All,
                        from_port: None,
                        to_port: None,
                        source,
                        description: entry.description.clone(),
                    }),
                    note: None,
                })
            })
            .collect()
    };
    let mut changes = entries(&req.add_entry, ChangeKind::EntryAdded, "AddEntry")?;
    changes.extend(entries(
        &req.remove_entry,
        ChangeKind::EntryRemoved,
        "RemoveEntry",
    )?);
    Ok(ChangeSet {
        meta,
        group_id: None,
        group_name: None,
        prefix_list_id: Some(prefix_list_id),
        prefix_list_version: req.current_version,
        restores_version: None,
        changes,
        omitted: Vec::new(),
    })
}

/// `RestoreManagedPrefixListVersion`: the list gets the entries of an earlier version. Which
/// entries that adds and removes is known only from EC2 (both versions); offline the call
/// is recorded with no entry changes, and the responder says so.
fn prefix_list_restore(meta: EventMeta, request: &Value) -> Result<ChangeSet, Error> {
    let (root, inner) = match request.get("RestoreManagedPrefixListVersionRequest") {
        Some(inner) => (
            "requestParameters.RestoreManagedPrefixListVersionRequest",
            inner,
        ),
        None => ("requestParameters", request),
    };
    let req: PrefixListRestore = parse_at(inner, root)?;
    let prefix_list_id = req
        .prefix_list_id
        .ok_or_else(|| Error::invalid_event(format!("{root}.PrefixListId"), "missing"))?;
    let restores = req
        .previous_version
        .ok_or_else(|| Error::invalid_event(format!("{root}.PreviousVersion"), "missing"))?;
    Ok(ChangeSet {
        meta,
        group_id: None,
        group_name: None,
        prefix_list_id: Some(prefix_list_id),
        prefix_list_version: req.current_version,
        restores_version: Some(restores),
        changes: Vec::new(),
        omitted: Vec::new(),
    })
}

#[derive(Clone, Copy)]
enum Call {
    Authorize,
    Revoke,
    Describe,
    Modify,
    Group,
}

fn parse_meta(record: &Value) -> Result<EventMeta, Error> {
    let text = |key: &str| -> Result<String, Error> {
        match record.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) if !other.is_null() => Err(Error::invalid_event(
                key,
                format!("expected a string, found `{other}`"),
            )),
            _ => Err(Error::invalid_event(key, "missing")),
        }
    };
    let event_id = text("eventID")?;
    let event_name = text("eventName")?;
    let time_text = text("eventTime")?;
    let event_time = parse_event_time(&time_text).ok_or_else(|| {
        Error::invalid_event(
            "eventTime",
            format!("`{time_text}` is not an RFC 3339 time"),
        )
    })?;
    let raw_identity: RawIdentity = parse_optional_at(
        record.get("userIdentity").unwrap_or(&Value::Null),
        "userIdentity",
    )?;
    let account = text("recipientAccountId")
        .ok()
        .or_else(|| raw_identity.account_id().map(str::to_owned))
        .ok_or_else(|| {
            Error::invalid_event(
                "recipientAccountId",
                "missing, and userIdentity.accountId is missing too",
            )
        })?;
    let region = text("awsRegion")?;
    let optional = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(EventMeta {
        event_id,
        event_name,
        event_time,
        account,
        region,
        identity: raw_identity.into_identity(),
        source_ip: optional("sourceIPAddress"),
        user_agent: optional("userAgent"),
    })
}

/// Deserializes `value` and, on failure, names the exact field below `root`.
fn parse_at<T: DeserializeOwned>(value: &Value, root: &str) -> Result<T, Error> {
    if value.is_null() {
        return Err(Error::invalid_event(root, "missing"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            root.to_owned()
        } else {
            format!("{root}.{path}")
        };
        Error::invalid_event(field, err.into_inner())
    })
}

/// Like [`parse_at`], where an absent or null value means the type's default.
fn parse_optional_at<T: DeserializeOwned + Default>(value: &Value, root: &str) -> Result<T, Error> {
    if value.is_null() {
        Ok(T::default())
    } else {
        parse_at(value, root)
    }
}

fn protocol(text: Option<&str>, field: &str) -> Result<Protocol, Error> {
    let text = text.ok_or_else(|| Error::invalid_event(field, "missing"))?;
    Protocol::parse(text)
        .ok_or_else(|| Error::invalid_event(field, format!("`{text}` is not an IP protocol")))
}

fn cidr(text: &str, field: &str) -> Result<IpNet, Error> {
    text.trim()
        .parse::<IpNet>()
        .map_err(|_| Error::invalid_event(field, format!("`{text}` is not a CIDR")))
}

fn cidr_v4(text: &str, field: &str) -> Result<Source, Error> {
    match cidr(text, field)? {
        IpNet::V4(net) => Ok(Source::CidrV4(net)),
        IpNet::V6(_) => Err(Error::invalid_event(
            field,
            format!("`{text}` is IPv6 in an IPv4 field"),
        )),
    }
}

fn cidr_v6(text: &str, field: &str) -> Result<Source, Error> {
    match cidr(text, field)? {
        IpNet::V6(net) => Ok(Source::CidrV6(net)),
        IpNet::V4(_) => Err(Error::invalid_event(
            field,
            format!("`{text}` is IPv4 in an IPv6 field"),
        )),
    }
}

/// Each source of a permission becomes one rule, as EC2 itself stores them.
fn permission_contents(permission: &Permission, field: &str) -> Result<Vec<RuleContent>, Error> {
    let protocol = protocol(
        permission.ip_protocol.as_deref(),
        &format!("{field}.ipProtocol"),
    )?;
    let content = |source, description: &Option<String>| RuleContent {
        protocol,
        from_port: permission.from_port,
        to_port: permission.to_port,
        source,
        description: description.clone(),
    };
    let mut contents = Vec::new();
    for (i, r) in permission.ip_ranges.iter().enumerate() {
        let source = cidr_v4(&r.cidr_ip, &format!("{field}.ipRanges.items[{i}].cidrIp"))?;
        contents.push(content(source, &r.description));
    }
    for (i, r) in permission.ipv6_ranges.iter().enumerate() {
        let source = cidr_v6(
            &r.cidr_ipv6,
            &format!("{field}.ipv6Ranges.items[{i}].cidrIpv6"),
        )?;
        contents.push(content(source, &r.description));
    }
    for p in &permission.prefix_list_ids {
        contents.push(content(
            Source::PrefixList(p.prefix_list_id.clone()),
            &p.description,
        ));
    }
    for (i, g) in permission.groups.iter().enumerate() {
        let group_id = g
            .group_id
            .clone()
            .or_else(|| g.group_name.clone())
            .ok_or_else(|| {
                Error::invalid_event(format!("{field}.groups.items[{i}].groupId"), "missing")
            })?;
        let source = Source::SecurityGroup {
            group_id,
            user_id: g.user_id.clone(),
            vpc_peering_connection_id: g.vpc_peering_connection_id.clone(),
        };
        contents.push(content(source, &g.description));
    }
    Ok(contents)
}

/// The permissions named in the request: `ipPermissions.items` and the flat legacy form.
fn requested_contents(req: &PermissionRequest) -> Result<Vec<RuleContent>, Error> {
    let mut contents = Vec::new();
    for (i, permission) in req.ip_permissions.iter().enumerate() {
        contents.extend(permission_contents(
            permission,
            &format!("requestParameters.ipPermissions.items[{i}]"),
        )?);
    }
    let legacy_source = match (&req.cidr_ip, &req.source_security_group_name) {
        (Some(text), _) => Some(cidr_v4(text, "requestParameters.cidrIp")?),
        (None, Some(name)) => Some(Source::SecurityGroup {
            group_id: name.clone(),
            user_id: req.source_security_group_owner_id.clone(),
            vpc_peering_connection_id: None,
        }),
        (None, None) => None,
    };
    if let Some(source) = legacy_source {
        let protocol = match req.ip_protocol.as_deref() {
            Some(text) => protocol(Some(text), "requestParameters.ipProtocol")?,
            None => Protocol::All,
        };
        contents.push(RuleContent {
            protocol,
            from_port: req.from_port,
            to_port: req.to_port,
            source,
            description: None,
        });
    }
    Ok(contents)
}

fn rule_set_change(
    item: &RuleSetItem,
    index: usize,
    set: &str,
    default: Direction,
    kind: ChangeKind,
) -> Result<RuleChange, Error> {
    let field = format!("responseElements.{set}.items[{index}]");
    let source = match (
        &item.cidr_ipv4,
        &item.cidr_ipv6,
        &item.prefix_list_id,
        &item.referenced_group_info,
    ) {
        (Some(v4), _, _, _) => cidr_v4(v4, &format!("{field}.cidrIpv4"))?,
        (_, Some(v6), _, _) => cidr_v6(v6, &format!("{field}.cidrIpv6"))?,
        (_, _, Some(pl), _) => Source::PrefixList(pl.clone()),
        (_, _, _, Some(group)) => Source::SecurityGroup {
            group_id: group.group_id.clone().ok_or_else(|| {
                Error::invalid_event(format!("{field}.referencedGroupInfo.groupId"), "missing")
            })?,
            user_id: group.user_id.clone(),
            vpc_peering_connection_id: group.vpc_peering_connection_id.clone(),
        },
        _ => {
            return Err(Error::invalid_event(
                field,
                "no cidrIpv4, cidrIpv6, prefixListId or referencedGroupInfo",
            ));
        }
    };
    let direction = match item.is_egress {
        Some(true) => Direction::Egress,
        Some(false) => Direction::Ingress,
        None => default,
    };
    Ok(RuleChange {
        rule_id: Some(item.security_group_rule_id.clone()),
        direction,
        kind,
        content: Some(RuleContent {
            protocol: protocol(item.ip_protocol.as_deref(), &format!("{field}.ipProtocol"))?,
            from_port: item.from_port,
            to_port: item.to_port,
            source,
            description: item.description.clone(),
        }),
        note: None,
    })
}

/// Authorize: the rule set of the response is authoritative (it has the rule ids); older
/// records without it fall back to the request.
fn authorized(
    req: &PermissionRequest,
    resp: &RuleSetResponse,
    direction: Direction,
) -> Result<Vec<RuleChange>, Error> {
    let changes: Vec<RuleChange> = if resp.security_group_rule_set.is_empty() {
        requested_contents(req)?
            .into_iter()
            .map(|content| RuleChange {
                rule_id: None,
                direction,
                kind: ChangeKind::Added,
                content: Some(content),
                note: None,
            })
            .collect()
    } else {
        let mut listed: Vec<RuleChange> = resp
            .security_group_rule_set
            .iter()
            .enumerate()
            .map(|(i, item)| {
                rule_set_change(
                    item,
                    i,
                    "securityGroupRuleSet",
                    direction,
                    ChangeKind::Added,
                )
            })
            .collect::<Result<_, _>>()?;
        let unlisted: Vec<RuleChange> = unlisted(requested_contents(req)?, &listed)
            .into_iter()
            .map(|content| RuleChange {
                rule_id: None,
                direction,
                kind: ChangeKind::Added,
                content: Some(content),
                note: Some(UNLISTED.into()),
            })
            .collect();
        listed.extend(unlisted);
        listed
    };
    if changes.is_empty() {
        return Err(Error::invalid_event(
            "requestParameters.ipPermissions",
            "the call authorizes no rule",
        ));
    }
    Ok(changes)
}

/// The note on a permission of an Authorize request that its response does not list: a
/// partial or truncated record, or an emulator's reply. It is handled like any change.
pub const UNLISTED: &str =
    "in the request but not in the response's rule set; matched to EC2's rules by content";

/// The permissions of the request that the response's rule set lists no rule for. Each
/// listed rule accounts for one permission. A source group named only by name cannot be
/// compared with the ids of the rule set: it is accounted for by a rule with the same
/// protocol and ports and a referenced group that no permission by id claimed.
fn unlisted(requested: Vec<RuleContent>, listed: &[RuleChange]) -> Vec<RuleContent> {
    let mut free: Vec<&RuleContent> = listed.iter().filter_map(|c| c.content.as_ref()).collect();
    let by_name = |c: &RuleContent| matches!(&c.source, Source::SecurityGroup { group_id, .. } if !group_id.starts_with("sg-"));
    let mut missing = Vec::new();
    let mut named = Vec::new();
    for content in requested {
        if by_name(&content) {
            named.push(content);
        } else if let Some(at) = free.iter().position(|c| c.same_access(&content)) {
            free.remove(at);
        } else {
            missing.push(content);
        }
    }
    for content in named {
        let at = free.iter().position(|c| {
            matches!(c.source, Source::SecurityGroup { .. })
                && c.protocol == content.protocol
                && c.canonical_ports() == content.canonical_ports()
        });
        match at {
            Some(at) => {
                free.remove(at);
            }
            None => missing.push(content),
        }
    }
    missing
}

fn revoked(
    req: &PermissionRequest,
    resp: &RuleSetResponse,
    direction: Direction,
) -> Result<Vec<RuleChange>, Error> {
    if !resp.revoked_security_group_rule_set.is_empty() {
        return resp
            .revoked_security_group_rule_set
            .iter()
            .enumerate()
            .map(|(i, item)| {
                rule_set_change(
                    item,
                    i,
                    "revokedSecurityGroupRuleSet",
                    direction,
                    ChangeKind::Removed,
                )
            })
            .collect();
    }
    let by_content = requested_contents(req)?
        .into_iter()
        .map(|content| RuleChange {
            rule_id: None,
            direction,
            kind: ChangeKind::Removed,
            content: Some(content),
            note: None,
        });
    let by_id = req.security_group_rule_ids.iter().map(|r| RuleChange {
        rule_id: Some(r.security_group_rule_id.clone()),
        direction,
        kind: ChangeKind::Removed,
        content: None,
        note: None,
    });
    Ok(by_content.chain(by_id).collect())
}

fn described(req: &PermissionRequest, direction: Direction) -> Result<Vec<RuleChange>, Error> {
    let by_content = requested_contents(req)?
        .into_iter()
        .map(|content| RuleChange {
            rule_id: None,
            direction,
            kind: ChangeKind::Description,
            content: Some(content),
            note: None,
        });
    let by_id = req
        .security_group_rule_descriptions
        .iter()
        .map(|r| RuleChange {
            rule_id: Some(r.security_group_rule_id.clone()),
            direction,
            kind: ChangeKind::Description,
            content: None,
            note: None,
        });
    Ok(by_content.chain(by_id).collect())
}

fn modified(req: &ModifyRequest) -> Result<Vec<RuleChange>, Error> {
    let rules = &req.request.security_group_rule;
    if rules.is_empty() {
        return Err(Error::invalid_event(
            "requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule",
            "missing",
        ));
    }
    rules
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule[{i}].SecurityGroupRule");
            Ok(RuleChange {
                rule_id: Some(item.security_group_rule_id.clone()),
                direction: Direction::Unknown,
                kind: ChangeKind::Modified,
                content: Some(modified_content(&item.security_group_rule, &field)?),
                note: None,
            })
        })
        .collect()
}

fn modified_content(rule: &ModifyRuleContent, field: &str) -> Result<RuleContent, Error> {
    let source = match (
        &rule.cidr_ipv4,
        &rule.cidr_ipv6,
        &rule.prefix_list_id,
        &rule.referenced_group_id,
    ) {
        (Some(v4), _, _, _) => cidr_v4(v4, &format!("{field}.CidrIpv4"))?,
        (_, Some(v6), _, _) => cidr_v6(v6, &format!("{field}.CidrIpv6"))?,
        (_, _, Some(pl), _) => Source::PrefixList(pl.clone()),
        (_, _, _, Some(group)) => Source::SecurityGroup {
            group_id: group.clone(),
            user_id: None,
            vpc_peering_connection_id: None,
        },
        _ => {
            return Err(Error::invalid_event(
                field,
                "no CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId",
            ));
        }
    };
    Ok(RuleContent {
        protocol: protocol(rule.ip_protocol.as_deref(), &format!("{field}.IpProtocol"))?,
        from_port: rule.from_port,
        to_port: rule.to_port,
        source,
        description: rule.description.clone(),
    })
}
