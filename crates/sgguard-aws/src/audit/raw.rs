//! The raw CloudTrail record on its event item, within DynamoDB's 400 KB item limit: the
//! JSON text when small, gzip when large, and only its SHA-256 and size when even
//! compressed it would crowd the item (the record stays in CloudTrail under its eventID).

use std::collections::HashMap;
use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Records up to this size are stored as their JSON text (`raw`).
pub(super) const INLINE_MAX: usize = 64 * 1024;
/// Larger records are stored gzip-compressed (`raw_gz`) up to this compressed size; an
/// EventBridge event (256 KB at most) always fits.
pub(super) const COMPRESSED_MAX: usize = 128 * 1024;

/// How one raw record is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoredRaw {
    Inline(String),
    Compressed(Vec<u8>),
    /// Too large to keep even compressed: its digest and size, to match it with CloudTrail.
    Digest {
        sha256: String,
        bytes: usize,
    },
}

impl StoredRaw {
    pub(super) fn encode(raw: &Value) -> Result<Self, Error> {
        let text = serde_json::to_string(raw).map_err(|source| Error::Json {
            what: "raw record".into(),
            source,
        })?;
        if text.len() <= INLINE_MAX {
            return Ok(Self::Inline(text));
        }
        let compressed = gzip(text.as_bytes()).map_err(|source| Error::Compression {
            what: "raw record".into(),
            source,
        })?;
        if compressed.len() <= COMPRESSED_MAX {
            return Ok(Self::Compressed(compressed));
        }
        Ok(Self::Digest {
            sha256: sha256_hex(text.as_bytes()),
            bytes: text.len(),
        })
    }

    /// Adds `raw` to `item`, kept as [`StoredRaw::encode`] decides.
    pub(super) fn keep_in(
        item: &mut HashMap<String, AttributeValue>,
        raw: &Value,
    ) -> Result<(), Error> {
        let attributes = Self::encode(raw)?.attributes();
        item.extend(
            attributes
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        Ok(())
    }

    /// The item attributes that hold it.
    pub(super) fn attributes(self) -> Vec<(&'static str, AttributeValue)> {
        match self {
            Self::Inline(text) => vec![("raw", AttributeValue::S(text))],
            Self::Compressed(bytes) => vec![("raw_gz", AttributeValue::B(Blob::new(bytes)))],
            Self::Digest { sha256, bytes } => vec![
                ("raw_sha256", AttributeValue::S(sha256)),
                ("raw_bytes", AttributeValue::N(bytes.to_string())),
            ],
        }
    }

    /// The names of every attribute a raw record may be kept in, for projections.
    pub(super) const ATTRIBUTES: [&'static str; 4] = ["raw", "raw_gz", "raw_sha256", "raw_bytes"];

    /// Reads back what [`StoredRaw::attributes`] wrote; `None` when the item has no raw.
    pub(super) fn decode(
        item: &HashMap<String, AttributeValue>,
        event_id: &str,
    ) -> Result<Option<Value>, Error> {
        let parse = |text: &str| {
            serde_json::from_str(text).map_err(|source| Error::Json {
                what: format!("raw of {event_id}"),
                source,
            })
        };
        if let Some(AttributeValue::S(text)) = item.get("raw") {
            return parse(text).map(Some);
        }
        if let Some(AttributeValue::B(blob)) = item.get("raw_gz") {
            let text = gunzip(blob.as_ref()).map_err(|source| Error::Compression {
                what: format!("raw of {event_id}"),
                source,
            })?;
            return parse(&text).map(Some);
        }
        if let Some(AttributeValue::S(sha256)) = item.get("raw_sha256") {
            let bytes = match item.get("raw_bytes") {
                Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
                _ => None,
            };
            return Ok(Some(json!({
                "omitted": true,
                "sha256": sha256,
                "bytes": bytes,
                "note": "the record was too large to keep in the audit table; find it in CloudTrail by its eventID and compare the SHA-256 of its JSON",
            })));
        }
        Ok(None)
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn gunzip(bytes: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)?;
    Ok(text)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_of(len: usize, compressible: bool) -> Value {
        let filler: String = if compressible {
            "a".repeat(len)
        } else {
            // A cheap generator of incompressible text: gzip finds no repeats in it.
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'!' + u8::try_from(state % 90).unwrap())
                })
                .collect()
        };
        json!({"eventID": "e-1", "requestParameters": {"filler": filler}})
    }

    fn item_of(raw: &Value) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::new();
        StoredRaw::keep_in(&mut item, raw).unwrap();
        item
    }

    #[test]
    fn a_small_record_is_kept_as_text_and_read_back() {
        let raw = record_of(100, true);
        let stored = StoredRaw::encode(&raw).unwrap();
        assert!(matches!(stored, StoredRaw::Inline(_)));
        let item = item_of(&raw);
        assert_eq!(StoredRaw::decode(&item, "e-1").unwrap(), Some(raw));
    }

    #[test]
    fn a_large_record_is_compressed_below_the_budget_and_read_back() {
        let raw = record_of(300 * 1024, true);
        let stored = StoredRaw::encode(&raw).unwrap();
        let StoredRaw::Compressed(bytes) = &stored else {
            panic!("expected compression, got {stored:?}");
        };
        assert!(bytes.len() <= COMPRESSED_MAX);
        let item = item_of(&raw);
        assert_eq!(StoredRaw::decode(&item, "e-1").unwrap(), Some(raw));
    }

    #[test]
    fn an_incompressible_giant_is_kept_as_its_digest() {
        let raw = record_of(400 * 1024, false);
        let text = serde_json::to_string(&raw).unwrap();
        let stored = StoredRaw::encode(&raw).unwrap();
        assert_eq!(
            stored,
            StoredRaw::Digest {
                sha256: sha256_hex(text.as_bytes()),
                bytes: text.len()
            }
        );
        let item = item_of(&raw);
        let read = StoredRaw::decode(&item, "e-1").unwrap().unwrap();
        assert_eq!(read["omitted"], json!(true));
        assert_eq!(read["bytes"], json!(text.len()));
        assert_eq!(read["sha256"].as_str().unwrap().len(), 64);
    }
}
