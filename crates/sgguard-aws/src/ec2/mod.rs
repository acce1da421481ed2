//! [`Ec2Remediator`]: reads what EC2 holds and carries out remediation steps with the EC2
//! API: revokes by rule id (exact), the exact permissions of a record without ids (offline
//! fallback), restores of modified rules in place, and removals of prefix-list entries. Every
//! step is confirmed by reading EC2 back.

mod observe;
mod prefix_list;
mod restore;
mod revoke;

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use sgguard_core::{ObservedRule, PrefixList, Reference};
use sgguard_responder::{
    PortError, RemediationStep, Remediator, Scope, StepKind, StepResult, StepStatus,
};

use crate::accounts::{Access, AccountAccess};
use crate::error::Error;

/// Error codes that mean "that rule is not there (any more)".
const NOT_FOUND_CODES: &[&str] = &[
    "InvalidPermission.NotFound",
    "InvalidSecurityGroupRuleId.NotFound",
    "InvalidGroup.NotFound",
];

/// Which client a step uses: the account's access (home or a member role) and the region.
type ClientKey = (Option<String>, String);

/// EC2 clients, one per account and region, built on first use from one shared
/// configuration (and, for member accounts, the member role's credentials).
#[derive(Debug)]
pub struct Ec2Remediator {
    config: SdkConfig,
    accounts: AccountAccess,
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl Ec2Remediator {
    /// A remediator acting in the home account of `config`'s credentials only.
    pub fn new(config: SdkConfig) -> Self {
        Self {
            accounts: AccountAccess::new(config.clone()),
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Acts on events of other accounts through the role of this name in each of them
    /// (see [`AccountAccess`]); without one, their reverts fail instead.
    pub fn with_member_role(mut self, role_name: Option<String>) -> Self {
        self.accounts = self.accounts.with_member_role(role_name);
        self
    }

    /// Uses `client` for home-account steps in `region` instead of building one from the
    /// shared configuration: a client with its own interceptors (interceptors are
    /// per-client configuration, not part of an `SdkConfig`), e.g. one that counts requests.
    pub fn with_client(mut self, region: impl Into<String>, client: Client) -> Self {
        if let Ok(clients) = self.clients.get_mut() {
            clients.insert((None, region.into()), client);
        }
        self
    }

    /// The client for an event's account and region (EventBridge rules are regional, but a
    /// replayed or forwarded event may come from another region or account).
    async fn client(&self, account: &str, region: &str) -> Result<Client, Error> {
        let access = self.accounts.access(account).await?;
        let key = match &access {
            Access::Home => (None, region.to_owned()),
            Access::Member(_) => (Some(account.to_owned()), region.to_owned()),
        };
        let build = || {
            let mut builder = aws_sdk_ec2::config::Builder::from(&self.config);
            if !region.is_empty() {
                builder = builder.region(aws_sdk_ec2::config::Region::new(region.to_owned()));
            }
            if let Access::Member(credentials) = &access {
                builder = builder.credentials_provider(credentials.clone());
            }
            Client::from_conf(builder.build())
        };
        Ok(match self.clients.lock() {
            Ok(mut clients) => clients.entry(key).or_insert_with(build).clone(),
            Err(_) => build(),
        })
    }

    async fn execute_inner(&self, step: &RemediationStep) -> Result<StepResult, Error> {
        let client = self.client(&step.account, &step.region).await?;
        match &step.kind {
            StepKind::RevokeRules { rule_ids } => revoke::rules(&client, step, rule_ids).await,
            StepKind::RevokePermissions { contents } => {
                revoke::permissions(&client, step, contents).await
            }
            StepKind::Restore {
                rule_id, content, ..
            } => restore::rule(&client, step, rule_id, content).await,
            StepKind::RemoveEntries {
                prefix_list_id,
                entries,
                version,
            } => prefix_list::remove_entries(&client, prefix_list_id, entries, *version).await,
        }
    }
}

impl Remediator for Ec2Remediator {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        Ok(self.execute_inner(step).await?)
    }

    fn is_live(&self) -> bool {
        true
    }

    async fn describe_rules(
        &self,
        scope: &Scope,
        rule_ids: &[String],
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        let client = self.client(&scope.account, &scope.region).await?;
        let rules = observe::rules_by_id(&client, rule_ids).await?;
        Ok(Some(observe::observed_all(&rules)?))
    }

    async fn describe_group(
        &self,
        scope: &Scope,
        group_id: &str,
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        let client = self.client(&scope.account, &scope.region).await?;
        let rules = observe::rules_of_group(&client, group_id).await?;
        Ok(Some(observe::observed_all(&rules)?))
    }

    async fn prefix_list(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
        version: Option<i64>,
    ) -> Result<Option<PrefixList>, PortError> {
        let client = self.client(&scope.account, &scope.region).await?;
        Ok(prefix_list::read(&client, prefix_list_id, version).await?)
    }

    async fn prefix_list_references(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
    ) -> Result<Option<Vec<Reference>>, PortError> {
        let client = self.client(&scope.account, &scope.region).await?;
        Ok(Some(
            prefix_list::references(&client, prefix_list_id).await?,
        ))
    }
}

fn is_not_found(err: &Error) -> bool {
    err.code().is_some_and(|c| NOT_FOUND_CODES.contains(&c))
}

fn failed(detail: impl Into<String>) -> StepResult {
    StepResult {
        status: StepStatus::Failed,
        detail: detail.into(),
    }
}
