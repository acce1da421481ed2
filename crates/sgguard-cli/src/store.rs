//! `--store`: where the audit log and allowlist live, and the adapters behind it. The
//! enums let one pipeline type serve every store and remediator pairing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use sgguard_aws::{DynamoAllowlist, DynamoAuditLog, Ec2Remediator, TableNames};
use sgguard_core::{AllowEntry, ObservedRule, Outcome, PrefixList, Reference};
use sgguard_local::SqliteStore;
use sgguard_responder::settings::{self, Retention};
use sgguard_responder::{
    AllowlistChange, AllowlistStore, AuditLog, Begin, EventReport, InvalidRecord, Lease, PortError,
    RemediationStep, Remediator, ReportOnlyRemediator, RuleSnapshot, Scope, StaticAllowlist,
    StepResult,
};

/// `sqlite:PATH` (the default, `sqlite:sgguard.db`) or `dynamodb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Sqlite(PathBuf),
    DynamoDb,
}

impl Default for StoreSpec {
    fn default() -> Self {
        Self::Sqlite(PathBuf::from("sgguard.db"))
    }
}

impl FromStr for StoreSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dynamodb" => Ok(Self::DynamoDb),
            "sqlite" => Ok(Self::default()),
            _ => match s.strip_prefix("sqlite:") {
                Some(path) if !path.is_empty() => Ok(Self::Sqlite(PathBuf::from(path))),
                _ => Err(format!(
                    "`{s}` is not a store: use `sqlite:PATH` or `dynamodb`"
                )),
            },
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::DynamoDb => f.write_str("dynamodb"),
        }
    }
}

/// The store options every command shares.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where the audit log and allowlist live: `sqlite:PATH` or `dynamodb`.
    #[arg(long, default_value = "sqlite:sgguard.db", env = "SGGUARD_STORE")]
    pub store: StoreSpec,

    /// DynamoDB audit table.
    #[arg(
        long,
        env = settings::AUDIT_TABLE.name,
        default_value = settings::AUDIT_TABLE.default,
        value_parser = settings::parser(settings::AUDIT_TABLE, settings::table_name)
    )]
    pub audit_table: String,

    /// DynamoDB allowlist table.
    #[arg(
        long,
        env = settings::ALLOWLIST_TABLE.name,
        default_value = settings::ALLOWLIST_TABLE.default,
        value_parser = settings::parser(settings::ALLOWLIST_TABLE, settings::table_name)
    )]
    pub allowlist_table: String,

    /// DynamoDB: the audit items this command writes expire after this many days, as the
    /// Lambda's do (0 keeps them forever).
    #[arg(
        long,
        value_name = "DAYS",
        env = settings::RETENTION_DAYS.name,
        default_value = settings::RETENTION_DAYS.default,
        value_parser = settings::parser(settings::RETENTION_DAYS, Retention::from_str)
    )]
    pub retention_days: Retention,

    /// AWS endpoint, e.g. a local emulator.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// AWS region of the tables (and of EC2 calls without a region of their own).
    /// Named `--aws-region` because `--region` is a filter or criterion in some commands.
    #[arg(long = "aws-region", value_name = "REGION", env = "AWS_REGION")]
    pub region: Option<String>,
}

impl Default for StoreArgs {
    fn default() -> Self {
        Self {
            store: StoreSpec::default(),
            audit_table: TableNames::default().audit,
            allowlist_table: TableNames::default().allowlist,
            retention_days: Retention::Forever,
            endpoint_url: None,
            region: None,
        }
    }
}

/// The opened store: audit log, allowlist, and the AWS configuration when on AWS.
#[derive(Debug)]
pub struct Stores {
    pub audit: AnyAudit,
    pub allowlist: AnyAllowlist,
    pub sdk: Option<aws_config::SdkConfig>,
}

impl StoreArgs {
    pub fn table_names(&self) -> TableNames {
        TableNames {
            audit: self.audit_table.clone(),
            allowlist: self.allowlist_table.clone(),
        }
    }

    /// The AWS configuration these flags describe (no network call).
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        sgguard_aws::load_config(self.endpoint_url.as_deref(), self.region.as_deref()).await
    }

    pub async fn open(&self) -> anyhow::Result<Stores> {
        match &self.store {
            StoreSpec::Sqlite(path) => {
                let store = Arc::new(SqliteStore::open(path)?);
                Ok(Stores {
                    audit: AnyAudit::Sqlite(store.clone()),
                    allowlist: AnyAllowlist::Sqlite(store),
                    sdk: None,
                })
            }
            StoreSpec::DynamoDb => {
                let sdk = self.sdk().await;
                if sdk.region().is_none() {
                    anyhow::bail!(
                        "`--store dynamodb` needs a region: pass `--aws-region` or set AWS_REGION"
                    );
                }
                let client = aws_sdk_dynamodb::Client::new(&sdk);
                Ok(Stores {
                    audit: AnyAudit::Dynamo(
                        DynamoAuditLog::new(client.clone(), &self.audit_table)
                            .with_retention_days(self.retention_days.days()),
                    ),
                    allowlist: AnyAllowlist::Dynamo(DynamoAllowlist::new(
                        client,
                        &self.allowlist_table,
                        &self.audit_table,
                    )),
                    sdk: Some(sdk),
                })
            }
        }
    }
}

/// Reads an allowlist file for what-if runs.
pub fn file_allowlist(path: &std::path::Path) -> anyhow::Result<AnyAllowlist> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read allowlist `{}`", path.display()))?;
    let entries = sgguard_core::allowlist::from_toml(&text, &path.display().to_string())?;
    Ok(AnyAllowlist::File(StaticAllowlist::new(entries)))
}

/// The audit log of either store.
#[derive(Debug, Clone)]
pub enum AnyAudit {
    Sqlite(Arc<SqliteStore>),
    Dynamo(DynamoAuditLog),
}

impl AuditLog for AnyAudit {
    async fn begin(
        &self,
        report: &EventReport,
        raw: &Value,
        lease: &Lease,
        take_over: &[Outcome],
    ) -> Result<Begin, PortError> {
        match self {
            Self::Sqlite(s) => s.begin(report, raw, lease, take_over).await,
            Self::Dynamo(d) => d.begin(report, raw, lease, take_over).await,
        }
    }
    async fn complete(&self, report: &EventReport, lease: &Lease) -> Result<(), PortError> {
        match self {
            Self::Sqlite(s) => s.complete(report, lease).await,
            Self::Dynamo(d) => d.complete(report, lease).await,
        }
    }
    async fn release(&self, event_id: &str, lease: &Lease) -> Result<(), PortError> {
        match self {
            Self::Sqlite(s) => s.release(event_id, lease).await,
            Self::Dynamo(d) => d.release(event_id, lease).await,
        }
    }
    async fn record_invalid(&self, record: &InvalidRecord) -> Result<(), PortError> {
        match self {
            Self::Sqlite(s) => s.record_invalid(record).await,
            Self::Dynamo(d) => d.record_invalid(record).await,
        }
    }
    async fn rule_history_page(
        &self,
        rule_id: &str,
        until: &str,
        before: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        match self {
            Self::Sqlite(s) => s.rule_history_page(rule_id, until, before, limit).await,
            Self::Dynamo(d) => d.rule_history_page(rule_id, until, before, limit).await,
        }
    }

    async fn rule_history(&self, rule_id: &str) -> Result<Vec<RuleSnapshot>, PortError> {
        match self {
            Self::Sqlite(s) => s.rule_history(rule_id).await,
            Self::Dynamo(d) => d.rule_history(rule_id).await,
        }
    }
    async fn changes_after(
        &self,
        group_id: &str,
        event_time: &str,
    ) -> Result<Vec<RuleSnapshot>, PortError> {
        match self {
            Self::Sqlite(s) => s.changes_after(group_id, event_time).await,
            Self::Dynamo(d) => d.changes_after(group_id, event_time).await,
        }
    }
    async fn event(&self, event_id: &str) -> Result<Option<EventReport>, PortError> {
        match self {
            Self::Sqlite(s) => s.event(event_id).await,
            Self::Dynamo(d) => d.event(event_id).await,
        }
    }
}

impl sgguard_responder::AuditReader for AnyAudit {
    async fn query(
        &self,
        filter: &sgguard_responder::AuditFilter,
    ) -> Result<Vec<EventReport>, PortError> {
        match self {
            Self::Sqlite(s) => sgguard_responder::AuditReader::query(s.as_ref(), filter).await,
            Self::Dynamo(d) => sgguard_responder::AuditReader::query(d, filter).await,
        }
    }
    async fn raw_event(&self, event_id: &str) -> Result<Option<Value>, PortError> {
        match self {
            Self::Sqlite(s) => {
                sgguard_responder::AuditReader::raw_event(s.as_ref(), event_id).await
            }
            Self::Dynamo(d) => sgguard_responder::AuditReader::raw_event(d, event_id).await,
        }
    }
    async fn allowlist_changes(
        &self,
        filter: &sgguard_responder::AuditFilter,
    ) -> Result<Vec<AllowlistChange>, PortError> {
        match self {
            Self::Sqlite(s) => {
                sgguard_responder::AuditReader::allowlist_changes(s.as_ref(), filter).await
            }
            Self::Dynamo(d) => sgguard_responder::AuditReader::allowlist_changes(d, filter).await,
        }
    }
}

/// The allowlist of either store, or a file.
#[derive(Debug, Clone)]
pub enum AnyAllowlist {
    Sqlite(Arc<SqliteStore>),
    Dynamo(DynamoAllowlist),
    File(StaticAllowlist),
}

impl AllowlistStore for AnyAllowlist {
    async fn entries(&self) -> Result<Vec<AllowEntry>, PortError> {
        match self {
            Self::Sqlite(s) => s.entries().await,
            Self::Dynamo(d) => d.entries().await,
            Self::File(f) => f.entries().await,
        }
    }
    async fn put(&self, entry: &AllowEntry, change: &AllowlistChange) -> Result<(), PortError> {
        match self {
            Self::Sqlite(s) => s.put(entry, change).await,
            Self::Dynamo(d) => d.put(entry, change).await,
            Self::File(f) => f.put(entry, change).await,
        }
    }
    async fn remove(&self, id: &str, change: &AllowlistChange) -> Result<bool, PortError> {
        match self {
            Self::Sqlite(s) => s.remove(id, change).await,
            Self::Dynamo(d) => d.remove(id, change).await,
            Self::File(f) => f.remove(id, change).await,
        }
    }
    async fn put_many(
        &self,
        entries: &[AllowEntry],
        changes: &[AllowlistChange],
    ) -> Result<(), PortError> {
        match self {
            Self::Sqlite(s) => s.put_many(entries, changes).await,
            Self::Dynamo(d) => d.put_many(entries, changes).await,
            Self::File(f) => f.put_many(entries, changes).await,
        }
    }
}

/// EC2 for `respond`, or only reporting (`replay`, `respond --dry-run`).
#[derive(Debug)]
pub enum AnyRemediator {
    ReportOnly(ReportOnlyRemediator),
    Ec2(Box<Ec2Remediator>),
}

impl Remediator for AnyRemediator {
    async fn execute(&self, step: &RemediationStep) -> Result<StepResult, PortError> {
        match self {
            Self::ReportOnly(r) => r.execute(step).await,
            Self::Ec2(e) => e.execute(step).await,
        }
    }
    fn is_live(&self) -> bool {
        match self {
            Self::ReportOnly(r) => r.is_live(),
            Self::Ec2(e) => e.is_live(),
        }
    }
    async fn describe_rules(
        &self,
        scope: &Scope,
        rule_ids: &[String],
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        match self {
            Self::ReportOnly(r) => r.describe_rules(scope, rule_ids).await,
            Self::Ec2(e) => e.describe_rules(scope, rule_ids).await,
        }
    }
    async fn describe_group(
        &self,
        scope: &Scope,
        group_id: &str,
    ) -> Result<Option<Vec<ObservedRule>>, PortError> {
        match self {
            Self::ReportOnly(r) => r.describe_group(scope, group_id).await,
            Self::Ec2(e) => e.describe_group(scope, group_id).await,
        }
    }
    async fn prefix_list(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
        version: Option<i64>,
    ) -> Result<Option<PrefixList>, PortError> {
        match self {
            Self::ReportOnly(r) => r.prefix_list(scope, prefix_list_id, version).await,
            Self::Ec2(e) => e.prefix_list(scope, prefix_list_id, version).await,
        }
    }
    async fn prefix_list_references(
        &self,
        scope: &Scope,
        prefix_list_id: &str,
    ) -> Result<Option<Vec<Reference>>, PortError> {
        match self {
            Self::ReportOnly(r) => r.prefix_list_references(scope, prefix_list_id).await,
            Self::Ec2(e) => e.prefix_list_references(scope, prefix_list_id).await,
        }
    }
}
