//! Section 4, bootstrap sizes: each binary as deployed (`bootstrap` alone in a zip, default
//! deflate level, like `cargo lambda build --output-format zip`), zipped with `zip` when
//! installed, else estimated with a raw deflate stream plus the zip headers.

use crate::coldstart::Binary;
use std::io::Write;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Size {
    pub name: &'static str,
    pub kind: &'static str,
    pub bytes: u64,
    pub zipped: u64,
    pub method: &'static str,
}

fn zip_with_cli(bin: &Binary) -> Option<u64> {
    let dir = tempfile::tempdir().ok()?;
    let bootstrap = dir.path().join("bootstrap");
    std::fs::copy(&bin.path, &bootstrap).ok()?;
    let zip = dir.path().join("bootstrap.zip");
    let ok = Command::new("zip")
        .args(["-q", "-X", "-j"])
        .arg(&zip)
        .arg(&bootstrap)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    std::fs::metadata(&zip).ok().map(|m| m.len())
}

fn zip_estimate(bin: &Binary) -> Option<u64> {
    let data = std::fs::read(&bin.path).ok()?;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&data).ok()?;
    let deflated = enc.finish().ok()?.len() as u64;
    // Local header (30) + central directory entry (46) + end record (22) + the name twice.
    Some(deflated + 30 + 46 + 22 + 2 * "bootstrap".len() as u64)
}

pub fn measure(binaries: &[Binary]) -> Vec<Size> {
    binaries
        .iter()
        .filter_map(|b| {
            let bytes = std::fs::metadata(&b.path).ok()?.len();
            let (zipped, method) = match zip_with_cli(b) {
                Some(z) => (z, "zip -X -j (deflate, level 6)"),
                None => (zip_estimate(b)?, "deflate level 6 + zip headers (estimate)"),
            };
            Some(Size {
                name: b.name,
                kind: b.kind,
                bytes,
                zipped,
                method,
            })
        })
        .collect()
}
