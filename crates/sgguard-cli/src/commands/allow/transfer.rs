//! `sgguard allow import` and `export`: the allowlist as TOML, all entries or none.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sgguard_core::AllowEntry;
use sgguard_core::allowlist::{from_toml, to_toml, to_toml_line};
use sgguard_responder::{AllowlistChange, AllowlistStore};

use crate::Exit;
use crate::store::StoreArgs;

use super::{change, store_label};

const IMPORT_HELP: &str = "\
The whole file is validated first: if any entry is invalid, every problem is reported
(file, entry, field) and nothing is written. Entries with a new id are added, entries
with an existing id are replaced, identical ones are left alone; entries in the store but
not in the file are kept. On SQLite the import is one transaction. On DynamoDB up to 50
entries are one transaction; a larger file is written 50 entries at a time after all of
it was validated (re-running the import finishes an interrupted one).

Examples:
  sgguard allow import allowlist.toml
  sgguard allow export --store sqlite:old.db | sgguard allow import --store dynamodb -";

#[derive(Debug, Clone, Default, Args)]
#[command(after_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// The TOML file (`[[allow]]` entries), or `-` for stdin.
    #[arg(value_name = "FILE.toml")]
    pub file: PathBuf,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `sgguard allow import`: all or nothing.
pub async fn import(args: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let label = if args.file.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        args.file.display().to_string()
    };
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin().lock())
            .context("cannot read the allowlist from stdin")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read allowlist `{label}`"))?
    };
    let entries = from_toml(&text, &label)?;
    let stores = args.store.open().await?;
    let store = store_label(&args.store);
    let existing: BTreeMap<String, AllowEntry> = stores
        .allowlist
        .entries()
        .await
        .with_context(|| format!("cannot read the allowlist from {store}"))?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let mut writes = Vec::new();
    let mut lines = Vec::new();
    let (mut added, mut replaced, mut unchanged) = (0, 0, 0);
    for entry in entries {
        let verb = match existing.get(&entry.id) {
            Some(old) if *old == entry => {
                unchanged += 1;
                lines.push(format!("unchanged {}", entry.id));
                continue;
            }
            Some(_) => {
                replaced += 1;
                "replaced"
            }
            None => {
                added += 1;
                "added"
            }
        };
        let line = to_toml_line(&entry)?;
        lines.push(format!("{verb} {}", entry.id));
        writes.push((entry, format!("{verb} from {label}: {line}")));
    }
    if !writes.is_empty() {
        let by = crate::identity::caller(&stores).await?;
        let changes: Vec<AllowlistChange> = writes
            .iter()
            .map(|(entry, detail)| change(&by, "import", &entry.id, detail.clone()))
            .collect();
        let entries: Vec<AllowEntry> = writes.into_iter().map(|(e, _)| e).collect();
        stores
            .allowlist
            .put_many(&entries, &changes)
            .await
            .with_context(|| format!("cannot import `{label}` into {store}"))?;
    }
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "imported {label} into {store}: {added} added, {replaced} replaced, {unchanged} unchanged"
    )?;
    Ok(Exit::Success)
}

#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "The output is canonical: entries in id order, fixed key order, times in UTC to the second.\nExporting, importing into an empty store and exporting again gives the same bytes.\n\nExamples:\n  sgguard allow export > allowlist.toml\n  sgguard allow export --output allowlist.toml --store dynamodb --aws-region eu-west-1\n  sgguard allow export | sgguard allow import --store sqlite:copy.db -"
)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `sgguard allow export`.
pub async fn export(args: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let stores = args.store.open().await?;
    let entries = stores.allowlist.entries().await.with_context(|| {
        format!(
            "cannot read the allowlist from {}",
            store_label(&args.store)
        )
    })?;
    let text = to_toml(&entries)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            writeln!(
                out,
                "exported {} entries from {} to {}",
                entries.len(),
                store_label(&args.store),
                path.display()
            )?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(Exit::Success)
}
