//! Conformance against the corpus of published CloudTrail records (`../shared/corpus`, beside the repository):
//! every record parses, failed calls are skipped, every other record normalizes, and the
//! outcome of each agrees with what its source expects. See `PROVENANCE.tsv` there.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sgguard_core::event::RecordClass;
use sgguard_core::{
    AllowEntry, Allowlist, Context, Decision, Outcome, Policy, PortRange, Protocol, RiskLevel,
    classify_record, decide, input, normalize,
};

/// File → the outcome sgguard must give (audit mode, min risk `high`, the allowlist of
/// [`allowlist`]), and a phrase of its PROVENANCE.tsv notes that states the source's own
/// expectation (`None` where the source states none).
const EXPECTED: &[(&str, Outcome, Option<&str>)] = &[
    // tcp 22 from 208.236.235.254/0 (flat legacy form, host bits: world-open) → critical,
    // reverted in enforce mode. Source: a detonation of an attack technique, which should alert.
    (
        "stratus-red-team__AuthorizeSecurityGroupIngress__1.json",
        Outcome::WouldRevert,
        Some("real detonation log"),
    ),
    // all protocols from 0.0.0.0/0 and ::/0 → two critical rules. Source: alert.
    (
        "streamalert__AuthorizeSecurityGroupIngress__1.json",
        Outcome::WouldRevert,
        Some("-> alert expected"),
    ),
    // all protocols from 10.0.0.0/8 → low, below the threshold: reported, not reverted.
    // Source: no world-open alert.
    (
        "streamalert__AuthorizeSecurityGroupIngress__2.json",
        Outcome::Flagged,
        Some("-> no alert expected"),
    ),
    // tcp 443 from 0.0.0.0/16, inside the reserved 0.0.0.0/8 → low; unapproved manual change,
    // so reported. Source: manual change alert (true).
    (
        "panther__AuthorizeSecurityGroupIngress__1.json",
        Outcome::Flagged,
        Some("ExpectedResult: true"),
    ),
    // tcp 22 from 0.0.0.0/0 → critical. Source: alert (true).
    (
        "panther__AuthorizeSecurityGroupIngress__2.json",
        Outcome::WouldRevert,
        Some("ExpectedResult: true"),
    ),
    // errorCode UnauthorizedOperation: changed nothing. Source: false.
    (
        "panther__AuthorizeSecurityGroupIngress__3.json",
        Outcome::SkippedFailedCall,
        Some("ExpectedResult: false"),
    ),
    // ssh from 127.0.0.1/32 → low, unapproved: reported. Source: security group modified (true).
    (
        "panther__AuthorizeSecurityGroupIngress__4.json",
        Outcome::Flagged,
        Some("ExpectedResult: true"),
    ),
    // errorCode RequestExpired: changed nothing. Source: false.
    (
        "panther__AuthorizeSecurityGroupIngress__5.json",
        Outcome::SkippedFailedCall,
        Some("ExpectedResult: false"),
    ),
    // all protocols to 0.0.0.0/0, egress → critical, but egress is only flagged without
    // --revert-egress. Source: false (Terraform); sgguard cannot tell Terraform by its user
    // agent, and the allowlist has no user-agent criterion, so it reports the rule.
    (
        "panther__AuthorizeSecurityGroupEgress__1.json",
        Outcome::Flagged,
        Some("ExpectedResult: false"),
    ),
    // CreateSecurityGroup opens nothing: recorded. Source: false (Terraform creation).
    (
        "panther__CreateSecurityGroup__1.json",
        Outcome::Recorded,
        Some("ExpectedResult: false"),
    ),
    // tcp 0-65535 from referenced group sg-4e386e22 → low, unapproved: reported.
    // Source: a test vector with no expectation.
    (
        "netflix-historical__AuthorizeSecurityGroupIngress__1.json",
        Outcome::Flagged,
        None,
    ),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

/// The allowlist the corpus is judged with: real-looking entries that approve none of the
/// published records (they come from strangers' accounts), so every unapproved rule shows.
fn allowlist() -> Allowlist {
    let mut office = AllowEntry::new("office-ssh", "netops@example.com", "NET-123 office SSH");
    office.protocol = Protocol::Tcp;
    office.ports = PortRange::single(22);
    office.cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    let mut terraform = AllowEntry::new(
        "terraform-https",
        "platform@example.com",
        "PLAT-77 load balancers",
    );
    terraform.protocol = Protocol::Tcp;
    terraform.ports = PortRange::single(443);
    terraform.principals = vec!["arn:aws:iam::*:role/terraform-*".into()];
    Allowlist::new(vec![office, terraform])
}

/// The outcome of one record as the pipeline decides it, and the decision if there is one.
fn judge(record: &Value) -> (Outcome, Option<Decision>) {
    match classify_record(record) {
        RecordClass::FailedCall { .. } => (Outcome::SkippedFailedCall, None),
        RecordClass::Unrelated { .. } => (Outcome::SkippedUnrelated, None),
        RecordClass::SecurityGroupCall { .. } => {
            let set = normalize(record).unwrap_or_else(|e| panic!("normalize failed: {e}"));
            let decision = decide(
                &set,
                &Context::offline(&allowlist(), set.meta.event_time),
                &Policy::default(),
            );
            (decision.outcome, Some(decision))
        }
    }
}

struct CorpusFile {
    name: String,
    records: Vec<Value>,
}

/// The corpus, or `None` (with a notice) where it is not available.
fn corpus() -> Option<Vec<CorpusFile>> {
    let dir = corpus_dir();
    if !dir.is_dir() {
        eprintln!("skipping corpus conformance: {} not found", dir.display());
        return None;
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).unwrap();
        let document: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        let records = input::records(document).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!records.is_empty(), "{name} holds no record");
        files.push(CorpusFile { name, records });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Some(files)
}

/// `file` → `notes` of PROVENANCE.tsv.
fn provenance() -> Vec<(String, String)> {
    let text = fs::read_to_string(corpus_dir().join("PROVENANCE.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let file = header.iter().position(|h| *h == "file").unwrap();
    let notes = header.iter().position(|h| *h == "notes").unwrap();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (
                cols[file].to_owned(),
                cols.get(notes).copied().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_record_parses_and_normalizes() {
    let Some(files) = corpus() else { return };
    assert!(!files.is_empty(), "the corpus folder holds no JSON file");
    for file in &files {
        for (i, record) in file.records.iter().enumerate() {
            let has_error = record.get("errorCode").is_some_and(|c| !c.is_null());
            match classify_record(record) {
                RecordClass::FailedCall { error_code, .. } => {
                    assert!(
                        has_error,
                        "{}[{i}] classified as failed without errorCode",
                        file.name
                    );
                    assert!(!error_code.is_empty());
                }
                RecordClass::SecurityGroupCall { .. } => {
                    assert!(
                        !has_error,
                        "{}[{i}] has errorCode but was not skipped",
                        file.name
                    );
                    if let Err(e) = normalize(record) {
                        panic!("{}[{i}] does not normalize: {e}", file.name);
                    }
                }
                RecordClass::Unrelated { event_name } => {
                    panic!(
                        "{}[{i}] is not a security-group call: {event_name:?}",
                        file.name
                    )
                }
            }
        }
    }
}

#[test]
fn outcomes_agree_with_the_sources() {
    let Some(files) = corpus() else { return };
    let notes = provenance();
    for file in &files {
        let (_, want, says) = EXPECTED
            .iter()
            .find(|(name, ..)| *name == file.name)
            .unwrap_or_else(|| {
                panic!(
                    "{} is not in this test's table: add it with its expected outcome",
                    file.name
                )
            });
        let note = notes
            .iter()
            .find(|(name, _)| *name == file.name)
            .map(|(_, note)| note.as_str())
            .unwrap_or_else(|| panic!("{} is not in PROVENANCE.tsv", file.name));
        if let Some(says) = says {
            assert!(
                note.contains(says),
                "{}: PROVENANCE.tsv no longer says `{says}`: {note}",
                file.name
            );
        }
        for (i, record) in file.records.iter().enumerate() {
            let (got, decision) = judge(record);
            let reason = decision.as_ref().map_or("", |d| d.reason.as_str());
            assert_eq!(got, *want, "{}[{i}]: {reason}", file.name);
        }
    }
}

#[test]
fn the_table_and_provenance_cover_the_same_files() {
    let Some(files) = corpus() else { return };
    let on_disk: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let in_table: BTreeSet<&str> = EXPECTED.iter().map(|(name, ..)| *name).collect();
    let notes = provenance();
    let in_provenance: BTreeSet<&str> = notes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        in_table.len(),
        EXPECTED.len(),
        "a file is listed twice in the table"
    );
    assert_eq!(
        on_disk, in_table,
        "corpus files and this test's table differ"
    );
    assert_eq!(
        on_disk, in_provenance,
        "corpus files and PROVENANCE.tsv differ"
    );
}

/// Details that the outcome alone would not show.
#[test]
fn corpus_details() {
    let Some(files) = corpus() else { return };
    let decision = |name: &str| {
        let file = files.iter().find(|f| f.name == name).unwrap();
        judge(&file.records[0]).1.unwrap()
    };

    let stratus = decision("stratus-red-team__AuthorizeSecurityGroupIngress__1.json");
    assert_eq!(stratus.changes.len(), 1);
    let change = &stratus.changes[0];
    assert_eq!(
        change.change.rule_id.as_deref(),
        Some("sgr-09b3e3d2ca1edf2a2")
    );
    let source = &change.change.content.as_ref().unwrap().source;
    assert_eq!(source.to_string(), "208.236.235.254/0");
    assert_eq!(
        source.network().map(|n| n.to_string()).as_deref(),
        Some("0.0.0.0/0")
    );
    assert_eq!(change.risk.level, RiskLevel::Critical);

    let streamalert = decision("streamalert__AuthorizeSecurityGroupIngress__1.json");
    let sources: Vec<String> = streamalert
        .changes
        .iter()
        .map(|c| c.change.content.as_ref().unwrap().source.to_string())
        .collect();
    assert_eq!(sources, ["0.0.0.0/0", "::/0"]);
    assert!(
        streamalert
            .changes
            .iter()
            .all(|c| c.risk.level == RiskLevel::Critical)
    );

    let panther = decision("panther__AuthorizeSecurityGroupIngress__1.json");
    assert_eq!(panther.changes[0].risk.level, RiskLevel::Low);
    let content = panther.changes[0].change.content.as_ref().unwrap();
    assert_eq!((content.from_port, content.to_port), (Some(443), Some(443)));
    // the closest entry names what failed
    let (_, failures) = panther.changes[0].closest_miss.as_ref().unwrap();
    assert!(!failures.is_empty());

    let egress = decision("panther__AuthorizeSecurityGroupEgress__1.json");
    assert_eq!(egress.changes[0].risk.level, RiskLevel::Critical);
    assert!(egress.reason.contains("egress"), "{}", egress.reason);

    let netflix = decision("netflix-historical__AuthorizeSecurityGroupIngress__1.json");
    assert_eq!(
        netflix.changes[0]
            .change
            .content
            .as_ref()
            .unwrap()
            .source
            .to_string(),
        "sg-4e386e22"
    );
    assert_eq!(netflix.changes[0].risk.level, RiskLevel::Low);
}
