//! The IAM permissions the responder's AWS calls need: the source of truth for the
//! execution role in `infra/template.yaml` and the member role in `infra/member-role.yaml`.
//! Tests keep all three in step: every request the adapters send (counted against the
//! emulator) must be authorized by an entry here, and the templates must grant exactly
//! these entries, each under the condition and on the resource named here.

/// What a permission is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// The audit table itself.
    AuditTable,
    /// The audit table's indexes (`<table>/index/*`).
    AuditTableIndexes,
    /// The allowlist table.
    AllowlistTable,
    /// Security groups and security-group rules of the account (and prefix lists a
    /// restored rule may reference).
    SecurityGroups,
    /// The account's own managed prefix lists (removing an unapproved entry).
    OwnPrefixLists,
    /// Any managed prefix list, the account's or one shared with it (reading entries).
    AnyPrefixList,
    /// `*`: the action supports no resource-level permissions.
    Any,
    /// The member role in other accounts (`arn:…:iam::*:role/<name>`).
    MemberRole,
}

/// When the permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Need {
    /// Always: recording and reading.
    Always,
    /// Only when enforcing (reverting ingress, restoring).
    Enforce,
    /// Only when enforcing with egress revert enabled.
    EnforceEgress,
    /// Only in the multi-account layout.
    MemberRole,
}

/// One IAM action, where and when it is needed, and the requests it authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub action: &'static str,
    pub resource: Resource,
    pub need: Need,
    /// The requests (`Service:Operation`, as the SDK names them) this action authorizes.
    /// `TransactWriteItems` has no action of its own: each item is authorized as the
    /// `PutItem` / `UpdateItem` it performs.
    pub operations: &'static [&'static str],
}

/// Everything the Lambda's own code calls, with its execution role.
pub const RESPONDER: &[Permission] = &[
    Permission {
        action: "dynamodb:PutItem",
        resource: Resource::AuditTable,
        need: Need::Always,
        operations: &["DynamoDB:TransactWriteItems", "DynamoDB:PutItem"],
    },
    Permission {
        action: "dynamodb:UpdateItem",
        resource: Resource::AuditTable,
        need: Need::Always,
        operations: &["DynamoDB:TransactWriteItems", "DynamoDB:UpdateItem"],
    },
    Permission {
        action: "dynamodb:GetItem",
        resource: Resource::AuditTable,
        need: Need::Always,
        operations: &["DynamoDB:GetItem"],
    },
    Permission {
        action: "dynamodb:Query",
        resource: Resource::AuditTableIndexes,
        need: Need::Always,
        operations: &["DynamoDB:Query"],
    },
    Permission {
        action: "dynamodb:Scan",
        resource: Resource::AllowlistTable,
        need: Need::Always,
        operations: &["DynamoDB:Scan"],
    },
    Permission {
        action: "ec2:DescribeSecurityGroupRules",
        resource: Resource::Any,
        need: Need::Always,
        operations: &["EC2:DescribeSecurityGroupRules"],
    },
    Permission {
        action: "ec2:DescribeManagedPrefixLists",
        resource: Resource::Any,
        need: Need::Always,
        operations: &["EC2:DescribeManagedPrefixLists"],
    },
    Permission {
        action: "ec2:GetManagedPrefixListEntries",
        resource: Resource::AnyPrefixList,
        need: Need::Always,
        operations: &["EC2:GetManagedPrefixListEntries"],
    },
    Permission {
        action: "ec2:RevokeSecurityGroupIngress",
        resource: Resource::SecurityGroups,
        need: Need::Enforce,
        operations: &["EC2:RevokeSecurityGroupIngress"],
    },
    Permission {
        action: "ec2:ModifySecurityGroupRules",
        resource: Resource::SecurityGroups,
        need: Need::Enforce,
        operations: &["EC2:ModifySecurityGroupRules"],
    },
    Permission {
        action: "ec2:ModifyManagedPrefixList",
        resource: Resource::OwnPrefixLists,
        need: Need::Enforce,
        operations: &["EC2:ModifyManagedPrefixList"],
    },
    Permission {
        action: "ec2:RevokeSecurityGroupEgress",
        resource: Resource::SecurityGroups,
        need: Need::EnforceEgress,
        operations: &["EC2:RevokeSecurityGroupEgress"],
    },
    Permission {
        action: "sts:AssumeRole",
        resource: Resource::MemberRole,
        need: Need::MemberRole,
        operations: &["STS:AssumeRole"],
    },
];

/// Requests that need no permission (`GetCallerIdentity` is always allowed).
pub const UNRESTRICTED_OPERATIONS: &[&str] = &["STS:GetCallerIdentity"];

/// The permissions that authorize one request (`Service:Operation`); empty when none does.
pub fn authorizing(operation: &str) -> Vec<&'static Permission> {
    RESPONDER
        .iter()
        .filter(|p| p.operations.contains(&operation))
        .collect()
}

/// Whether a request is covered: authorized by a declared permission or unrestricted.
pub fn is_covered(operation: &str) -> bool {
    UNRESTRICTED_OPERATIONS.contains(&operation) || !authorizing(operation).is_empty()
}

/// The EC2 permissions the member role grants in a member account: the remediation
/// subset of [`RESPONDER`].
pub fn member_role() -> impl Iterator<Item = &'static Permission> {
    RESPONDER.iter().filter(|p| p.action.starts_with("ec2:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_need_put_and_update() {
        let actions: Vec<&str> = authorizing("DynamoDB:TransactWriteItems")
            .iter()
            .map(|p| p.action)
            .collect();
        assert_eq!(actions, ["dynamodb:PutItem", "dynamodb:UpdateItem"]);
        assert!(is_covered("STS:GetCallerIdentity"));
        assert!(!is_covered("DynamoDB:DeleteItem"));
    }

    #[test]
    fn write_actions_need_enforce() {
        for p in RESPONDER {
            let writes_ec2 = p.action.starts_with("ec2:")
                && !p.action.starts_with("ec2:Describe")
                && !p.action.starts_with("ec2:Get");
            assert_eq!(
                writes_ec2,
                matches!(p.need, Need::Enforce | Need::EnforceEgress),
                "{}",
                p.action
            );
        }
    }
}
