//! The progress line of `dlq redrive --wait`.

use std::time::Duration;
/// Progress of a move task on stderr while `redrive --wait` polls: one line rewritten in
/// place on a terminal, a line per change otherwise (and at least every 30 s).
pub struct Progress {
    tty: bool,
    started: std::time::Instant,
    expected: u64,
    last: Option<(String, i64)>,
    last_print: std::time::Instant,
}
impl Progress {
    pub fn new(tty: bool, expected: u64) -> Self {
        let now = std::time::Instant::now();
        Progress {
            tty,
            started: now,
            expected,
            last: None,
            last_print: now,
        }
    }

    pub(crate) fn start(&mut self, handle: &str) {
        eprintln!(
            "move task {handle} started: {} message(s) to move; waiting for it (Ctrl-C stops \
             waiting, not the task)",
            self.expected
        );
    }

    /// `RUNNING: 40 moved, 60 remaining (12 s)`.
    pub fn line(
        status: &str,
        moved: i64,
        to_move: Option<i64>,
        expected: u64,
        secs: u64,
    ) -> String {
        let total = to_move.unwrap_or(expected as i64).max(moved);
        format!(
            "{status}: {moved} moved, {} remaining ({secs} s)",
            (total - moved).max(0)
        )
    }

    pub(crate) fn update(&mut self, status: &str, moved: i64, to_move: Option<i64>) {
        let key = (status.to_owned(), moved);
        let stale = self.last_print.elapsed() >= Duration::from_secs(30);
        if !self.tty && self.last.as_ref() == Some(&key) && !stale {
            return;
        }
        let line = Self::line(
            status,
            moved,
            to_move,
            self.expected,
            self.started.elapsed().as_secs(),
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        self.last = Some(key);
        self.last_print = std::time::Instant::now();
    }

    pub(crate) fn finish(&mut self) {
        if self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    pub(crate) fn progress_lines() {
        assert_eq!(
            Progress::line("RUNNING", 40, Some(100), 90, 12),
            "RUNNING: 40 moved, 60 remaining (12 s)"
        );
        assert_eq!(
            Progress::line("COMPLETED", 7, None, 5, 3),
            "COMPLETED: 7 moved, 0 remaining (3 s)"
        );
    }
}
