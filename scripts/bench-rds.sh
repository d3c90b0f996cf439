#!/usr/bin/env bash
# The flash sale's single-row limit on an RDS-like MariaDB next to the current configuration, in
# one run (docs/rds-like-bench.md). Builds the bench in release and runs its flash sale on:
#   - current:  the test harness's private mariadbd (binary log off, no network latency);
#   - rds-like: a private mariadbd with the binary log on, sync_binlog=1, durable InnoDB commits,
#               every fsync/fdatasync taking --fsync-us (LD_PRELOAD shim, default 1000 µs), reached
#               through a TCP proxy delaying each direction by --one-way-us (default 250 µs).
# Writes target/bench/BENCHMARKS.rds.md (never BENCHMARKS.md) and prints its RDS-like section.
# Not part of the tests or CI. All traffic stays on 127.0.0.1. Takes about 2 minutes.
#
# Usage: ./scripts/bench-rds.sh [bench options...]
#   defaults (each replaced when given): --only flash --variants raw --concurrency 64
#   --db current,rds-like; e.g. --fsync-us 2000 --one-way-us 500 --rounds 3 --secs 5
# Environment: BENCH_LOG=file keeps the JSON logs of the code under test (default /dev/null).
set -euo pipefail
cd "$(dirname "$0")/.."
given() {
  local opt=$1 arg
  shift
  for arg in "$@"; do
    case "$arg" in "$opt" | "$opt="*) return 0 ;; esac
  done
  return 1
}
for arg in "$@"; do
  case "$arg" in -h | --help) sed -n '2,13p' "$0"; exit 0 ;; esac
done
defaults=()
given --only "$@" || defaults+=(--only flash)
given --variants "$@" || defaults+=(--variants raw)
given --concurrency "$@" || defaults+=(--concurrency 64)
given --db "$@" || defaults+=(--db current,rds-like)

target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/bench
mkdir -p "$out"
echo "bench-rds: cargo build --release -p bench" >&2
cargo build --release -p bench

report=$out/BENCHMARKS.rds.md
status=0
"$target/release/bench" --root "$PWD" --target-dir "$target" --out "$report" \
  --command scripts/bench-rds.sh "${defaults[@]}" "$@" >"${BENCH_LOG:-/dev/null}" || status=$?
if [ -f "$report" ]; then
  echo
  # The RDS-like section, up to the next section.
  awk '/^## 1b\./ { on = 1; print; next } on && /^## / { exit } on { print }' "$report"
  echo
  echo "Full report: $report"
fi
exit "$status"
