//! The project's example fixtures (`examples/events`) replayed through the core with
//! `examples/allowlist.toml`: every outcome the core decides alone must match
//! `examples/expected.tsv`. Duplicates (a store's concern) and gzip files (the CLI's) are
//! left to the full pipeline's tests.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sgguard_core::allowlist::from_toml;
use sgguard_core::event::RecordClass;
use sgguard_core::{
    Allowlist, Context, Outcome, Policy, classify_record, decide, input, normalize,
};

const RESPONDER_ROLE: &str = "arn:aws:iam::111122223333:role/sgguard-responder";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `(file, index, event_id, outcome)` rows of expected.tsv.
fn expected() -> Vec<(String, usize, String, Outcome)> {
    let text = fs::read_to_string(examples().join("expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (
                cols[0].to_owned(),
                cols[1].parse().unwrap(),
                cols[2].to_owned(),
                cols[4].parse().unwrap(),
            )
        })
        .collect()
}

fn records_of(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    let documents: Vec<Value> = if path.extension().is_some_and(|e| e == "jsonl") {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    };
    documents
        .into_iter()
        .flat_map(|d| input::records(d).unwrap())
        .collect()
}

#[test]
fn example_outcomes_match_expected_tsv() {
    let dir = examples().join("events");
    if !dir.is_dir() {
        eprintln!("skipping example fixtures: {} not found", dir.display());
        return;
    }
    let allowlist = Allowlist::new(
        from_toml(
            &fs::read_to_string(examples().join("allowlist.toml")).unwrap(),
            "allowlist.toml",
        )
        .unwrap(),
    );
    let policy = Policy {
        self_arns: vec![RESPONDER_ROLE.into()],
        ..Policy::default()
    };
    let mut checked = 0;
    for (file, index, event_id, want) in expected() {
        if want == Outcome::Duplicate || file.ends_with(".gz") {
            continue;
        }
        let records = records_of(&dir.join(&file));
        let record = records
            .get(index)
            .unwrap_or_else(|| panic!("{file} has no record {index}"));
        let got = match classify_record(record) {
            RecordClass::FailedCall { .. } => Outcome::SkippedFailedCall,
            RecordClass::Unrelated { .. } => Outcome::SkippedUnrelated,
            RecordClass::SecurityGroupCall { .. } => {
                let set = normalize(record).unwrap_or_else(|e| panic!("{file}[{index}]: {e}"));
                assert_eq!(set.meta.event_id, event_id, "{file}[{index}]");
                let decision = decide(
                    &set,
                    &Context::offline(&allowlist, set.meta.event_time),
                    &policy,
                );
                assert_eq!(
                    decision.outcome, want,
                    "{file}[{index}]: {}",
                    decision.reason
                );
                decision.outcome
            }
        };
        assert_eq!(got, want, "{file}[{index}]");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} example records were checked");
}
