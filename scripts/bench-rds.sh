#!/usr/bin/env bash
# The flash sale on an RDS-like MariaDB next to the current configuration, in one run
# (docs/rds-like-bench.md). Builds the bench in release and runs its flash sale on:
#   - current:  the test harness's private mariadbd (binary log off, no network latency);
#               variants raw, handler, http-on, http-off;
#   - rds-like: a private mariadbd with the binary log on, sync_binlog=1, durable InnoDB commits,
#               every fsync/fdatasync taking --fsync-us (LD_PRELOAD shim, default 1000 µs), reached
#               through a TCP proxy delaying each direction by --one-way-us (default 250 µs);
#               variants raw (the single-row limit), handler (one round trip), handler-b4 and
#               handler-b16 (one round trip, stock in 4 / 16 buckets).
# Writes target/bench/BENCHMARKS.rds.md (never BENCHMARKS.md) and its figures next to it, copies
# the sales/s-against-buckets figure to docs/bench/flash-buckets.svg, and prints the summary
# table and the RDS-like section. Not part of the tests or CI. All traffic stays on 127.0.0.1.
# Takes about 4 minutes (5 rounds).
#
# Usage: ./scripts/bench-rds.sh [bench options...]
#   defaults (each replaced when given): --only flash --concurrency 64 --db current,rds-like;
#   --variants (given: the same list on both configurations), e.g. --variants raw,handler-b16
#   --fsync-us 2000 --one-way-us 500 --rounds 3 --secs 5
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
  case "$arg" in -h | --help) sed -n '2,21p' "$0"; exit 0 ;; esac
done
defaults=()
given --only "$@" || defaults+=(--only flash)
given --concurrency "$@" || defaults+=(--concurrency 64)
given --db "$@" || defaults+=(--db current,rds-like)

target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/bench
mkdir -p "$out"
echo "bench-rds: cargo build --release -p bench" >&2
cargo build --release -p bench

report=$out/BENCHMARKS.rds.md
table=$out/table.rds.md
plot=flash-buckets.svg
rm -f "$report" "$table" "$out/$plot"
status=0
"$target/release/bench" --root "$PWD" --target-dir "$target" --out "$report" --table "$table" \
  --command scripts/bench-rds.sh "${defaults[@]}" "$@" >"${BENCH_LOG:-/dev/null}" || status=$?
if [ -f "$out/$plot" ]; then
  mkdir -p docs/bench
  cp "$out/$plot" "docs/bench/$plot"
fi
if [ -f "$report" ]; then
  echo
  cat "$table"
  echo
  # The RDS-like section, up to the next section.
  awk '/^## 1b\./ { on = 1; print; next } on && /^## / { exit } on { print }' "$report"
  echo
  echo "Full report: $report"
  if [ -f "docs/bench/$plot" ] && [ -f "$out/$plot" ]; then
    echo "Sales/s against buckets: docs/bench/$plot"
  fi
fi
exit "$status"
