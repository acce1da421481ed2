//! Managed prefix lists: their entries at a version, the rules that reference them, and the
//! removal of entries pinned to the version they were seen in.

use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::RemovePrefixListEntry;
use ipnet::IpNet;
use sgguard_core::{PrefixList, Reference};
use sgguard_responder::{StepResult, StepStatus};

use super::observe;
use crate::error::Error;

/// A list and its entries at `version` (`None`: current). `None` when EC2 knows no such list.
pub(crate) async fn read(
    client: &Client,
    id: &str,
    version: Option<i64>,
) -> Result<Option<PrefixList>, Error> {
    let described = client
        .describe_managed_prefix_lists()
        .prefix_list_ids(id)
        .send()
        .await;
    let lists = match described {
        Ok(output) => output.prefix_lists.unwrap_or_default(),
        Err(err) => {
            let err = Error::from_sdk("DescribeManagedPrefixLists", err);
            if err
                .code()
                .is_some_and(|c| c.starts_with("InvalidPrefixListID"))
            {
                return Ok(None);
            }
            return Err(err);
        }
    };
    let Some(list) = lists.into_iter().find(|l| l.prefix_list_id() == Some(id)) else {
        return Ok(None);
    };
    let name = list.prefix_list_name().map(str::to_owned);
    // By owner only: anyone can choose a name.
    let aws_managed = list.owner_id() == Some("AWS");
    let busy = list
        .state()
        .is_some_and(|s| s.as_str().ends_with("in-progress"));
    let version = version.or(list.version());
    let mut entries = Vec::new();
    let mut token = None;
    loop {
        let output = client
            .get_managed_prefix_list_entries()
            .prefix_list_id(id)
            .set_target_version(version)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::from_sdk("GetManagedPrefixListEntries", e))?;
        for entry in output.entries.unwrap_or_default() {
            let cidr = entry.cidr().unwrap_or_default();
            let net = cidr.parse::<IpNet>().map_err(|_| {
                Error::Inconsistent(format!("{id} holds `{cidr}`, which is not a CIDR"))
            })?;
            entries.push(net);
        }
        token = output.next_token.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(Some(PrefixList {
        id: id.to_owned(),
        name,
        aws_managed,
        version,
        busy,
        entries,
        references: None,
    }))
}

/// The rules of the region that reference the list. One scan of the region's rules:
/// `GetManagedPrefixListAssociations` would name the groups first, but the local emulator
/// lacks it, and a list change is rare.
pub(crate) async fn references(client: &Client, id: &str) -> Result<Vec<Reference>, Error> {
    let rules = observe::all_rules(client).await?;
    Ok(rules
        .iter()
        .filter(|r| r.prefix_list_id() == Some(id))
        .filter_map(|r| match observe::observed(r) {
            Ok(rule) => Some(rule),
            Err(err) => {
                tracing::warn!(error = %sgguard_responder::error_chain(&err), "skipping a rule that cannot be read");
                None
            }
        })
        .map(|rule| Reference {
            rule_id: rule.rule_id,
            group_id: rule.group_id,
            direction: rule.direction,
            content: rule.content,
        })
        .collect())
}

/// Removes `entries` at `version`, waits for EC2 to finish the modification, and confirms
/// that the list's new version lacks them.
pub(crate) async fn remove_entries(
    client: &Client,
    id: &str,
    entries: &[IpNet],
    version: Option<i64>,
) -> Result<StepResult, Error> {
    let removal: Vec<RemovePrefixListEntry> = entries
        .iter()
        .map(|e| RemovePrefixListEntry::builder().cidr(e.to_string()).build())
        .collect();
    let modified = client
        .modify_managed_prefix_list()
        .prefix_list_id(id)
        .set_current_version(version)
        .set_remove_entries(Some(removal))
        .send()
        .await
        .map_err(|e| Error::from_sdk("ModifyManagedPrefixList", e));
    if let Err(err) = modified {
        // Refused because the list moved on (a concurrent change won, or one is still in
        // progress): a retry reads the list again and removes what is still there.
        let now = read(client, id, None).await?;
        let moved = now.as_ref().is_some_and(|l| l.busy || l.version != version);
        return Err(if moved && !err.is_retryable() {
            Error::Concurrent {
                what: format!("{id} changed while its entries were being removed"),
                source: Box::new(err),
            }
        } else {
            err
        });
    }
    // The modification is asynchronous: wait (briefly) until EC2 has applied it.
    let mut after = None;
    for attempt in 0..10_u32 {
        let list = client
            .describe_managed_prefix_lists()
            .prefix_list_ids(id)
            .send()
            .await
            .map_err(|e| Error::from_sdk("DescribeManagedPrefixLists", e))?
            .prefix_lists
            .unwrap_or_default()
            .into_iter()
            .find(|l| l.prefix_list_id() == Some(id));
        let in_progress = list
            .as_ref()
            .and_then(|l| l.state())
            .is_some_and(|s| s.as_str().ends_with("in-progress"));
        if !in_progress {
            after = list.and_then(|l| l.version());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
    }
    let Some(current) = read(client, id, after).await? else {
        return Ok(StepResult {
            status: StepStatus::AlreadyGone,
            detail: format!("{id} no longer exists"),
        });
    };
    let left: Vec<String> = entries
        .iter()
        .filter(|e| current.entries.contains(e))
        .map(ToString::to_string)
        .collect();
    if !left.is_empty() {
        return Ok(StepResult {
            status: StepStatus::Failed,
            detail: format!(
                "still in {id} version {} after ModifyManagedPrefixList: {}",
                current.version.unwrap_or_default(),
                left.join(", ")
            ),
        });
    }
    Ok(StepResult {
        status: StepStatus::Reverted,
        detail: format!(
            "removed from {id}; confirmed absent in version {} by GetManagedPrefixListEntries",
            current.version.unwrap_or_default()
        ),
    })
}
