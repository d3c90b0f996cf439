//! What the local stack captured (the API capture records under its data dir).

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively, sorted (none when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every API capture record the local stack wrote under `<data_dir>/bucket` (gzip JSON lines;
/// complete once the stack is stopped).
pub fn captured_records(data_dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for p in files_under(&data_dir.join("bucket")) {
        if p.extension().is_some_and(|x| x == "gz") {
            let mut text = String::new();
            if let Ok(f) = std::fs::File::open(&p) {
                let _ = flate2::read::MultiGzDecoder::new(f).read_to_string(&mut text);
            }
            out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
    }
    out
}
