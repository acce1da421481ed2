//! `sgguard allow remove`: one entry, recorded in the change log.

use std::io::Write;

use anyhow::{Context, bail};
use clap::Args;
use sgguard_core::allowlist::to_toml_line;
use sgguard_responder::AllowlistStore;

use crate::Exit;
use crate::store::StoreArgs;

use super::{change, store_label};

#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "The removal is recorded in the audit trail with the entry as it was.\n\nExamples:\n  sgguard allow remove office-ssh\n  sgguard allow remove office-ssh --store dynamodb --aws-region eu-west-1"
)]
pub struct RemoveArgs {
    /// The id of the entry to remove.
    pub id: String,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `sgguard allow remove`: an error naming the id when there is no such entry.
pub async fn remove(args: &RemoveArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let label = store_label(&args.store);
    let entries = stores
        .allowlist
        .entries()
        .await
        .with_context(|| format!("cannot read the allowlist from {label}"))?;
    let Some(entry) = entries.iter().find(|e| e.id == args.id) else {
        bail!("no allowlist entry `{}` in {label}", args.id);
    };
    let line = to_toml_line(entry)?;
    let by = crate::identity::caller(&stores).await?;
    let removed = stores
        .allowlist
        .remove(&args.id, &change(&by, "remove", &args.id, line.clone()))
        .await
        .with_context(|| format!("cannot remove entry `{}`", args.id))?;
    if !removed {
        bail!("no allowlist entry `{}` in {label}", args.id);
    }
    writeln!(out, "removed {}: {line}", args.id)?;
    Ok(Exit::Success)
}
