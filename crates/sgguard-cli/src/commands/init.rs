//! `sgguard init`: create the audit store (SQLite file, or the two DynamoDB tables with
//! exactly the design `infra/template.yaml` declares). Idempotent.

use clap::Args;
use sgguard_local::SqliteStore;

use crate::Exit;
use crate::store::{StoreArgs, StoreSpec};

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  sgguard init\n  sgguard init --store dynamodb --aws-region eu-west-1\n  sgguard init --store dynamodb --endpoint-url http://127.0.0.1:5000"
)]
pub struct InitArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn init(args: &InitArgs) -> anyhow::Result<Exit> {
    match &args.store.store {
        StoreSpec::Sqlite(path) => {
            let store = SqliteStore::open(path)?;
            println!(
                "audit store {} ready (schema version {})",
                store.path(),
                store.schema_version()?
            );
        }
        StoreSpec::DynamoDb => {
            let sdk = args.store.sdk().await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let names = args.store.table_names();
            let created = sgguard_aws::create_tables(&client, &names).await?;
            for table in [&names.audit, &names.allowlist] {
                let state = if created.contains(table) {
                    "created"
                } else {
                    "already exists"
                };
                println!("table {table}: {state}");
            }
        }
    }
    Ok(Exit::Success)
}
