//! Reading what a user points `replay` at: files, directories (recursively), `-` for
//! stdin; JSON documents or JSON Lines; gzip-compressed or not. Each record keeps its
//! origin (file and index) so an error can name it.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde_json::Value;
use sgguard_core::input::{Delivery, deliveries};
use sgguard_responder::Origin;

/// One record read from the input (with the envelope it came in, if any), or the reason it
/// could not be read.
#[derive(Debug)]
pub struct InputRecord {
    pub origin: Origin,
    pub record: Result<Delivery, InputError>,
}

/// A record that could not be read: its text is kept so nothing is lost.
#[derive(Debug)]
pub struct InputError {
    pub message: String,
    pub raw: Value,
}

/// Expands directories (recursively, sorted, JSON-looking files only) into files.
pub fn expand_paths(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            files.push(path.clone());
        } else {
            walk(path, &mut files)?;
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files)?;
        } else if looks_like_events(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn looks_like_events(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Reads one file (or stdin for `-`) into records.
pub fn read_file(path: &Path) -> io::Result<Vec<InputRecord>> {
    let label = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin().lock().read_to_end(&mut bytes)?;
    } else {
        bytes = fs::read(path)?;
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        if let Err(e) = MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut text) {
            // A damaged archive becomes one invalid record, so the rest of the input goes on.
            let message = format!("not a valid gzip file: {e}");
            let origin = Origin {
                file: label,
                index: 0,
            };
            return Ok(vec![InputRecord {
                origin,
                record: Err(InputError {
                    message,
                    raw: Value::String(format!("{} bytes of damaged gzip", bytes.len())),
                }),
            }]);
        }
        bytes = text;
    }
    Ok(split_records(&bytes, &label))
}

/// Splits a document (or JSON Lines) into records, in order.
pub fn split_records(bytes: &[u8], label: &str) -> Vec<InputRecord> {
    let mut out = Vec::new();
    let mut push = |result: Result<Delivery, InputError>| {
        let origin = Origin {
            file: label.to_owned(),
            index: out.len(),
        };
        out.push(InputRecord {
            origin,
            record: result,
        });
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(document) => expand_document(document, &mut push),
        Err(whole_error) => {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<(usize, &str)> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .collect();
            if lines.len() <= 1 {
                push(Err(InputError {
                    message: format!("not valid JSON: {whole_error}"),
                    raw: Value::String(text.into_owned()),
                }));
                return out;
            }
            for (line_no, line) in lines {
                match serde_json::from_str::<Value>(line) {
                    Ok(document) => expand_document(document, &mut push),
                    Err(e) => push(Err(InputError {
                        message: format!("line {}: not valid JSON: {e}", line_no + 1),
                        raw: Value::String(line.to_owned()),
                    })),
                }
            }
        }
    }
    out
}

fn expand_document(document: Value, push: &mut impl FnMut(Result<Delivery, InputError>)) {
    let raw = document.clone();
    match deliveries(document) {
        Ok(records) => records.into_iter().for_each(|r| push(Ok(r))),
        Err(e) => push(Err(InputError {
            message: e.to_string(),
            raw,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_their_index_and_bad_lines_are_kept() {
        let text = b"{\"eventName\":\"A\",\"eventID\":\"1\"}\nnot json\n{\"detail\":{\"eventName\":\"B\"},\"region\":\"eu-west-1\"}\n";
        let records = split_records(text, "x.jsonl");
        assert_eq!(records.len(), 3);
        assert!(records[0].record.is_ok());
        let bad = records[1].record.as_ref().err().unwrap();
        assert!(bad.message.contains("line 2"), "{}", bad.message);
        let b = &records[2].record.as_ref().unwrap().record;
        assert_eq!(b["awsRegion"], "eu-west-1");
        assert_eq!(records[2].origin.index, 2);
    }

    #[test]
    fn log_files_expand_into_records() {
        let text = br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
        let records = split_records(text, "log.json");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].record.as_ref().unwrap().record["eventName"], "B");
    }

    #[test]
    fn a_single_broken_document_is_one_invalid_record() {
        let records = split_records(b"{\"eventName\": ", "broken.json");
        assert_eq!(records.len(), 1);
        assert!(
            records[0]
                .record
                .as_ref()
                .err()
                .unwrap()
                .message
                .contains("not valid JSON")
        );
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"Records":[{"eventName":"A"}]}"#).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let records = read_file(&path).unwrap();
        assert_eq!(records.len(), 1);
        let files = expand_paths(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(files, vec![path]);
    }
}
