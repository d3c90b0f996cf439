//! What the local stack captured (the API capture records under its data dir).

use serde_json::Value;
use std::path::Path;

/// Every API capture record the local stack wrote under `<data_dir>/bucket` (gzip JSON lines;
/// complete once the stack is stopped).
pub fn captured_records(data_dir: &Path) -> Vec<Value> {
    fn walk(dir: &Path, out: &mut Vec<Value>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "gz") {
                let mut text = String::new();
                if let Ok(f) = std::fs::File::open(&p) {
                    use std::io::Read;
                    let _ = flate2::read::MultiGzDecoder::new(f).read_to_string(&mut text);
                }
                out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&data_dir.join("bucket"), &mut out);
    out
}
