//! `sgguard init`: create the audit store.

use clap::Args;
use sgguard_local::SqliteStore;

use crate::Exit;
use crate::store::StoreSpec;

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Where the audit log and allowlist live: `sqlite:PATH` or `dynamodb`.
    #[arg(long, default_value = "sqlite:sgguard.db", env = "SGGUARD_STORE")]
    pub store: StoreSpec,
}

pub async fn init(args: &InitArgs) -> anyhow::Result<Exit> {
    match &args.store {
        StoreSpec::Sqlite(path) => {
            let store = SqliteStore::open(path)?;
            println!("audit store {} ready (schema version {})", store.path(), store.schema_version()?);
            Ok(Exit::Success)
        }
        StoreSpec::DynamoDb => anyhow::bail!("`--store dynamodb` is not available in this build yet; use `sqlite:PATH`"),
    }
}
