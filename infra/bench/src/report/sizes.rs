//! Section 4: bootstrap sizes (and scripts/bench-sizes.sh's output).

use super::{Report, mb};
use std::fmt::Write;

impl Report<'_> {
    pub(super) fn size_details(&self, s: &mut String) {
        if self.sizes.is_empty() && self.sizes_output.is_none() {
            return;
        }
        let _ = writeln!(s, "\n## 4. Bootstrap sizes\n");
        if !self.sizes.is_empty() {
            let _ = writeln!(
                s,
                "MB = 10^6 bytes. Each binary alone in a zip as `bootstrap` (method: {}).\n",
                self.sizes[0].method
            );
            let _ = writeln!(
                s,
                "| function | binary | unzipped | zipped |\n|---|---|---|---|"
            );
            for z in self.sizes {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} |",
                    z.name,
                    z.kind,
                    mb(z.bytes),
                    mb(z.zipped)
                );
            }
        }
        if let Some(out) = self.sizes_output {
            let _ = writeln!(
                s,
                "\nOutput of `scripts/bench-sizes.sh`:\n\n```\n{}\n```",
                out.trim_end()
            );
        }
    }
}
