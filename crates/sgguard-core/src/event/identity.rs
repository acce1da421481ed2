//! Who made the call. CloudTrail has several identity types and some exporters lowercase
//! the keys; allowlist principals and self-detection need one stable answer.

use serde::{Deserialize, Serialize};

use super::raw::string_or_number;

/// The caller of one API call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService`, `FederatedUser`, …
    pub kind: String,
    /// The most specific name of the caller: the session ARN for an assumed role, the
    /// user or root ARN, or the invoking service.
    pub actor: String,
    /// The long-lived principal behind the actor: the role ARN for an assumed role,
    /// otherwise the same as `actor`. Allowlist `principals` and self ARNs match either.
    pub principal: String,
    pub invoked_by: Option<String>,
}

impl Identity {
    /// The caller named by one ARN, as a CloudTrail record without `sessionIssuer` would
    /// give it: for an assumed-role session ARN, the principal is the role behind it.
    pub fn from_arn(arn: &str) -> Self {
        let kind = if role_of_assumed_role_arn(arn).is_some() {
            "AssumedRole"
        } else if arn.ends_with(":root") {
            "Root"
        } else {
            "IAMUser"
        };
        Self {
            kind: kind.into(),
            actor: arn.to_owned(),
            principal: role_of_assumed_role_arn(arn).unwrap_or_else(|| arn.to_owned()),
            invoked_by: None,
        }
    }

    /// Whether `arn` names this caller: exactly, or as the role behind an assumed-role
    /// session. `arn` may be a glob (`*`, `?`), e.g. `arn:*:iam::*:role/sgguard-member`
    /// for a role of the same name in every member account.
    pub fn is(&self, arn: &str) -> bool {
        if self.actor == arn || self.principal == arn {
            return true;
        }
        if !arn.contains(['*', '?']) {
            return false;
        }
        let glob = wildmatch::WildMatch::new(arn);
        glob.matches(&self.actor) || glob.matches(&self.principal)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawIdentity {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(alias = "principalid")]
    principal_id: Option<String>,
    arn: Option<String>,
    #[serde(default, alias = "accountid", deserialize_with = "string_or_number")]
    account_id: Option<String>,
    #[serde(alias = "sessioncontext")]
    session_context: Option<RawSessionContext>,
    #[serde(alias = "invokedby")]
    invoked_by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSessionContext {
    #[serde(alias = "sessionissuer")]
    session_issuer: Option<RawIssuer>,
}

#[derive(Debug, Deserialize)]
struct RawIssuer {
    arn: Option<String>,
}

impl RawIdentity {
    pub(crate) fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    pub(crate) fn into_identity(self) -> Identity {
        let kind = self.kind.unwrap_or_else(|| "Unknown".into());
        let actor = self
            .arn
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| self.invoked_by.clone())
            .or_else(|| self.principal_id.clone())
            .unwrap_or_else(|| "unknown".into());
        let issuer = self
            .session_context
            .and_then(|c| c.session_issuer)
            .and_then(|i| i.arn)
            .filter(|a| !a.is_empty());
        let principal = issuer
            .or_else(|| role_of_assumed_role_arn(&actor))
            .unwrap_or_else(|| actor.clone());
        Identity {
            kind,
            actor,
            principal,
            invoked_by: self.invoked_by,
        }
    }
}

/// `arn:aws:sts::123:assumed-role/Name/session` → `arn:aws:iam::123:role/Name`, for records
/// that lack `sessionIssuer` (the role's path, if any, is not recoverable from the session ARN).
fn role_of_assumed_role_arn(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "sts" {
        return None;
    }
    let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(json: serde_json::Value) -> Identity {
        serde_json::from_value::<RawIdentity>(json)
            .map(RawIdentity::into_identity)
            .unwrap_or_default()
    }

    #[test]
    fn assumed_role_principal_is_the_role() {
        let id = identity(serde_json::json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci",
            "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/ci/terraform-deploy"}}
        }));
        assert_eq!(
            id.actor,
            "arn:aws:sts::111122223333:assumed-role/terraform-deploy/ci"
        );
        assert_eq!(
            id.principal,
            "arn:aws:iam::111122223333:role/ci/terraform-deploy"
        );
        assert!(id.is("arn:aws:iam::111122223333:role/ci/terraform-deploy"));
    }

    #[test]
    fn lowercase_keys_and_missing_issuer_still_give_the_role() {
        let id = identity(serde_json::json!({
            "type": "AssumedRole",
            "arn": "arn:aws:sts::112233445566:assumed-role/TestAdmin/alan",
            "sessioncontext": {"sessionissuer": {"arn": "arn:aws:iam::112233445566:role/TestAdmin"}}
        }));
        assert_eq!(id.principal, "arn:aws:iam::112233445566:role/TestAdmin");
        let derived = identity(serde_json::json!({
            "type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/tester"
        }));
        assert_eq!(derived.principal, "arn:aws:iam::123456789012:role/tester");
    }

    #[test]
    fn a_glob_names_the_same_role_in_every_account() {
        let member =
            Identity::from_arn("arn:aws:sts::222233334444:assumed-role/sgguard-member/sgguard");
        assert!(member.is("arn:*:iam::*:role/sgguard-member"));
        assert!(!member.is("arn:*:iam::*:role/sgguard-member-other"));
        let lookalike =
            Identity::from_arn("arn:aws:sts::222233334444:assumed-role/sgguard-membership/x");
        assert!(!lookalike.is("arn:*:iam::*:role/sgguard-member"));
        let user = Identity::from_arn("arn:aws:iam::222233334444:user/sgguard-member");
        assert!(!user.is("arn:*:iam::*:role/sgguard-member"));
    }

    #[test]
    fn an_arn_alone_gives_the_role_behind_a_session() {
        let id = Identity::from_arn("arn:aws:sts::111122223333:assumed-role/deploy/ci");
        assert_eq!(id.principal, "arn:aws:iam::111122223333:role/deploy");
        assert_eq!(id.kind, "AssumedRole");
        let user = Identity::from_arn("arn:aws:iam::111122223333:user/alice");
        assert_eq!(user.principal, user.actor);
    }

    #[test]
    fn services_are_named_by_invoked_by() {
        let id =
            identity(serde_json::json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}));
        assert_eq!(id.actor, "ec2.amazonaws.com");
        assert_eq!(id.principal, "ec2.amazonaws.com");
    }
}
