//! Managed prefix lists as EC2 holds them, resolved for one event. A rule whose source is a
//! prefix list opens whatever the list holds, so its risk is the risk of its widest entry;
//! an entry added to a list opens it to every rule that references the list.

use std::collections::HashMap;

use ipnet::IpNet;

use crate::model::{Direction, RuleContent};

/// One managed prefix list, as read from EC2 just now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixList {
    pub id: String,
    pub name: Option<String>,
    /// Owned by AWS (`com.amazonaws.…`): AWS's own service ranges, not something a user widens.
    pub aws_managed: bool,
    /// The version the entries were read at.
    pub version: Option<i64>,
    /// A modification is in progress: the current version's entries are not final yet.
    pub busy: bool,
    pub entries: Vec<IpNet>,
    /// The security-group rules that reference the list, when they were looked up (for a
    /// change of the list's entries); `None` when unknown.
    pub references: Option<Vec<Reference>>,
}

impl PrefixList {
    /// `pl-0123 (office-ranges)`, or the id alone.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => format!("{} ({name})", self.id),
            _ => self.id.clone(),
        }
    }
}

/// A security-group rule that references a prefix list: through it, every entry of the
/// list is a source of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub rule_id: String,
    pub group_id: String,
    pub direction: Direction,
    /// The rule's content, its source being the list.
    pub content: RuleContent,
}

/// The prefix lists resolved for one event, by id. A list that is absent was not resolved
/// (offline, or EC2 could not be asked); classification says so instead of guessing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixLists {
    lists: HashMap<String, PrefixList>,
}

impl PrefixLists {
    pub fn new(lists: impl IntoIterator<Item = PrefixList>) -> Self {
        Self {
            lists: lists.into_iter().map(|l| (l.id.clone(), l)).collect(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&PrefixList> {
        self.lists.get(id)
    }

    pub fn insert(&mut self, list: PrefixList) {
        self.lists.insert(list.id.clone(), list);
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}
