#!/usr/bin/env bash
# The performance suite, one command: builds in release, runs infra/bench (package `bench`) and
# prints the summary table; writes BENCHMARKS.md (command, machine, date, every figure with its
# target and PASS/MISS, then the details) and its main figures as SVG bar charts in docs/bench/
# (with --quick: next to target/bench/BENCHMARKS.quick.md), linked from the report.
#   1. flash sale on MariaDB (a throwaway mariadbd from the test harness): raw SQL limit vs the
#      sales handler vs the local stack over HTTP (capture on/off), concurrency 16 and 64
#   2. stock-out pipeline latency on the local stack (SQLite and MariaDB)
#   3. Lambda cold start of every function behind the Lambda harness's Runtime API
#   4. bootstrap sizes (plus scripts/bench-sizes.sh's table when target/lambda exists)
# All traffic stays on 127.0.0.1. Takes about 4 minutes.
#
# Usage: ./scripts/bench.sh [--quick] [bench options...]
#   --quick   CI: tiny durations on the debug build, checks that every part works, judges no
#             figure; writes target/bench/BENCHMARKS.quick.md instead of BENCHMARKS.md
#   other options go to the bench binary (target/release/bench --help), e.g. --only flash
#   --rounds 5 --secs 5 --concurrency 16,64 --strict
# Environment: BENCH_LAMBDA_BUILD=0 skips scripts/lambda-build.sh (cold start and sizes then use
# target/lambda/*/bootstrap if present, else target/release/<fn>); BENCH_LOG=file keeps the JSON
# logs of the code under test (default /dev/null); TEST_DATABASE_URL=mysql://root@127.0.0.1:3306
# uses a running server instead of a throwaway one.
# Exit status: non-zero if a part fails or a correctness check fails (not for a MISS, unless
# --strict).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
  esac
done
target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/bench
mkdir -p "$out"

if [ "$quick" = 1 ]; then
  # Quick runs judge no figure: the debug build the tests made is enough (no third cold build
  # of the AWS SDK in CI). Cold start uses target/lambda/*/bootstrap when it exists.
  profile_dir=debug
  echo "bench: cargo build --workspace --bins (quick: debug profile)" >&2
  cargo build --workspace --bins
else
  profile_dir=release
  echo "bench: cargo build --release --workspace --bins" >&2
  cargo build --release --workspace --bins
fi

if [ "$quick" = 0 ] && [ "${BENCH_LAMBDA_BUILD:-1}" != 0 ] && [ -x scripts/lambda-build.sh ]; then
  echo "bench: scripts/lambda-build.sh (log: $out/lambda-build.log)" >&2
  if ! ./scripts/lambda-build.sh >"$out/lambda-build.log" 2>&1; then
    echo "bench: lambda-build.sh failed (see the log); cold start and sizes use what exists" >&2
  fi
fi

sizes_args=()
rm -f "$out/bench-sizes.md"
if [ -x scripts/bench-sizes.sh ] && compgen -G "$target/lambda/*/bootstrap" >/dev/null; then
  if ./scripts/bench-sizes.sh "$target/lambda" >"$out/bench-sizes.md" 2>&1; then
    sizes_args=(--sizes-output "$out/bench-sizes.md")
  else
    echo "bench: bench-sizes.sh failed: $(cat "$out/bench-sizes.md")" >&2
  fi
fi

rm -f "$out/table.md"
status=0
"$target/$profile_dir/bench" --root "$PWD" --target-dir "$target" --table "$out/table.md" \
  "${sizes_args[@]}" "$@" >"${BENCH_LOG:-/dev/null}" || status=$?
if [ -f "$out/table.md" ]; then
  echo
  cat "$out/table.md"
  echo
  if [ "$quick" = 1 ]; then
    echo "Full report: $out/BENCHMARKS.quick.md"
  else
    echo "Full report: BENCHMARKS.md"
  fi
fi
exit "$status"
