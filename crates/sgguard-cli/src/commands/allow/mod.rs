//! `sgguard allow`: the allowlist people manage day to day. List it (expired entries are
//! marked, `--expiring` shows what is about to lapse), add and remove entries, import and
//! export the TOML form, and check which entry approves a rule, or why none does.
//!
//! Every change is recorded in the store's allowlist change log: who (the STS caller on
//! AWS, the OS user locally), when, what (`add`, `replace`, `remove`, `import`) and the
//! entry as one line of TOML.

use std::io::{IsTerminal, Write};

use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use sgguard_core::time::format_time;
use sgguard_responder::AllowlistChange;

use crate::Exit;
use crate::store::{StoreArgs, StoreSpec};

mod add;
mod check;
mod check_print;
mod list;
mod remove;
mod render;
mod transfer;

pub use add::{AddArgs, add};
pub use check::{CheckArgs, CheckRun, FailedCriterion, RuleVerdict, check_rules};
pub use check_print::check;
pub use list::{ListArgs, list};
pub use remove::{RemoveArgs, remove};
pub use transfer::{ExportArgs, ImportArgs, export, import};

use check_print::check_styled;
use list::list_styled;

const ALLOW_HELP: &str = "\
Entries are the TOML form `import`, `export` and `replay --allowlist` use (see
docs/allowlist.md). Every change (add, remove, import) is recorded in the store's audit
trail with who made it (the STS caller on AWS, the OS user locally) and when.

Examples:
  sgguard allow list
  sgguard allow list --expiring 7d
  sgguard allow add office-ssh --owner netops@example.com --reason 'NET-123 office SSH' \\
      --expires 90d --protocol tcp --ports 22 --cidr 203.0.113.0/24
  sgguard allow check --group sg-0123456789abcdef0 --protocol tcp --ports 22 --source 203.0.113.0/24
  sgguard allow check event.json
  sgguard allow export --output allowlist.toml
  sgguard allow import allowlist.toml
  sgguard allow remove office-ssh";

/// `sgguard allow`.
#[derive(Debug, Clone, Args)]
#[command(after_help = ALLOW_HELP)]
pub struct AllowArgs {
    #[command(subcommand)]
    pub command: AllowCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AllowCommand {
    /// List the entries; expired ones are shown as expired (they approve nothing).
    List(ListArgs),
    /// Add one entry (or replace one, with --replace).
    Add(AddArgs),
    /// Remove one entry.
    Remove(RemoveArgs),
    /// Add or replace every entry of a TOML file: all of them, or none when any is invalid.
    Import(ImportArgs),
    /// Print the allowlist as TOML (the form `import` and `replay --allowlist` read).
    Export(ExportArgs),
    /// Explain which entry approves each rule of an event (or of one rule given by flags), or why none does.
    Check(CheckArgs),
}

/// How `list` and `check` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AllowFormat {
    /// Aligned text for people.
    Table,
    /// One JSON object per line.
    Json,
}

/// `table` on a terminal, `json` when piped.
fn format_or_default(format: Option<AllowFormat>) -> AllowFormat {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        AllowFormat::Table
    } else {
        AllowFormat::Json
    })
}

/// Runs one `sgguard allow` subcommand, printing to `out` (colours only on a terminal).
pub async fn allow(args: &AllowArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match &args.command {
        AllowCommand::List(a) => list_styled(a, out, color).await,
        AllowCommand::Add(a) => add(a, out).await,
        AllowCommand::Remove(a) => remove(a, out).await,
        AllowCommand::Import(a) => import(a, out).await,
        AllowCommand::Export(a) => export(a, out).await,
        AllowCommand::Check(a) => check_styled(a, out, color).await,
    }
}

/// How the store is named in messages.
fn store_label(store: &StoreArgs) -> String {
    match &store.store {
        StoreSpec::Sqlite(_) => store.store.to_string(),
        StoreSpec::DynamoDb => format!("dynamodb table {}", store.allowlist_table),
    }
}

/// An allowlist change record made now by `by`.
fn change(by: &str, action: &str, entry_id: &str, detail: String) -> AllowlistChange {
    AllowlistChange {
        at: format_time(&Utc::now()),
        by: by.to_owned(),
        action: action.to_owned(),
        entry_id: entry_id.to_owned(),
        detail,
    }
}
