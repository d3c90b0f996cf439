//! The local bucket (the Firehose stand-in's output): its key layout, gzip NDJSON objects and
//! the shape of each record.

use inventory::capture::{CaptureRecord, SCHEMA_VERSION};
use pipeline_tests::faults::files_under;
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;

pub fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open"))
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("{} is not valid gzip text: {e}", path.display()));
    s
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `rawdata/year=YYYY/month=MM/day=DD/hour=HH/<name>.gz` → (y, m, d, h).
fn partition_of(key: &str) -> (String, String, String, String) {
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 6, "key {key}");
    assert_eq!(parts[0], "rawdata", "key {key}");
    let field = |i: usize, name: &str, n: usize| {
        let v = parts[i]
            .strip_prefix(&format!("{name}="))
            .unwrap_or_else(|| panic!("key {key}: segment {i} is not {name}="));
        assert!(digits(v, n), "key {key}: {name}={v}");
        v.to_owned()
    };
    assert!(
        parts[5].ends_with(".gz") && !parts[5].contains('/'),
        "key {key}"
    );
    (
        field(1, "year", 4),
        field(2, "month", 2),
        field(3, "day", 2),
        field(4, "hour", 2),
    )
}

/// Every record of the local bucket, with the key it came from; checks the key layout, the gzip
/// and the JSON of each line on the way.
pub fn read_bucket(data_dir: &Path) -> (Vec<(String, Value)>, String) {
    let bucket = data_dir.join("bucket");
    let raw = bucket.join("rawdata");
    let mut out = Vec::new();
    let mut all_text = String::new();
    for path in files_under(&raw) {
        let key = path
            .strip_prefix(&bucket)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let (y, m, d, h) = partition_of(&key);
        let text = gunzip(&path);
        assert!(text.ends_with('\n'), "{key}: NDJSON ends with a newline");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{key}: line is not JSON ({e}): {line}"));
            // The partition is the hour the buffer's first record arrived: the record's own
            // timestamp is that hour or (a buffer spanning the hour) the next.
            let ts = v["timestamp"].as_str().unwrap_or_default();
            let part = format!("{y}-{m}-{d}T{h}");
            assert!(
                ts.starts_with(&part) || ts > part.as_str(),
                "{key}: record at {ts} in partition {part}"
            );
            out.push((key.clone(), v));
        }
        all_text.push_str(&text);
    }
    (out, all_text)
}

pub fn assert_record_shape(v: &Value) {
    let o = v.as_object().expect("record is an object");
    assert_eq!(o["schema_version"], json!(SCHEMA_VERSION), "{v}");
    for f in [
        "kind",
        "request_id",
        "correlation_id",
        "timestamp",
        "method",
        "route",
        "service",
    ] {
        assert!(
            o.get(f)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "field {f} missing or empty: {v}"
        );
    }
    assert!(o["path_params"].is_object(), "{v}");
    assert!(
        o["status"]
            .as_u64()
            .is_some_and(|s| (100..600).contains(&s)),
        "{v}"
    );
    assert!(o["latency_ms"].as_f64().is_some_and(|l| l >= 0.0), "{v}");
    let ts = o["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "timestamp {ts}"
    );
    // The record deserialises into the schema type.
    serde_json::from_value::<CaptureRecord>(v.clone()).expect("a CaptureRecord");
}
