#!/usr/bin/env bash
# Builds every Lambda function binary (release) with cargo-lambda, in ONE cargo invocation so the
# dependencies are compiled once, into $CARGO_TARGET_DIR/lambda/<binary>/bootstrap (default target/) (what `sam deploy` and
# scripts/bench-sizes.sh use). x86_64 by default; --arm64 needs `rustup target add
# aarch64-unknown-linux-gnu`. cargo-lambda (and the zig it links with) come from the project venv.
#
# Usage: ./scripts/lambda-build.sh [--arm64|--x86-64] [binary ...]   (default: every lambdas/*/src/main.rs)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/cargo-lambda" ]; then
  ./scripts/setup-venv.sh
fi
# cargo-lambda finds the pip-installed zig (python-zig / `python -m ziglang`) through PATH.
export PATH="$PWD/$VENV/bin:$PATH"

arch=--x86-64
bins=()
for arg in "$@"; do
  case "$arg" in
    --arm64 | --aarch64) arch=--arm64 ;;
    --x86-64 | --x86_64) arch=--x86-64 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) bins+=("$arg") ;;
  esac
done
if [ "${#bins[@]}" -eq 0 ]; then
  # The deployable binaries: one crate per function, lambdas/<binary>/src/main.rs
  # (tests/template_check.py checks that template.yaml deploys exactly these).
  for main in lambdas/*/src/main.rs; do
    bins+=("$(basename "$(dirname "$(dirname "$main")")")")
  done
fi

args=()
for b in "${bins[@]}"; do
  args+=(--bin "$b")
done
echo "== cargo lambda build --release $arch ${args[*]}"
start=$(date +%s)
if ! cargo lambda build --release "$arch" "${args[@]}"; then
  echo "lambda-build: FAILED after $(($(date +%s) - start))s" >&2
  exit 1
fi
elapsed=$(($(date +%s) - start))

# cargo-lambda writes under the cargo target dir, which CI moves out of the clone.
target=${CARGO_TARGET_DIR:-target}
missing=0
for b in "${bins[@]}"; do
  f="$target/lambda/$b/bootstrap"
  if [ -f "$f" ]; then
    printf '  %-16s %10d bytes  %s\n' "$b" "$(stat -c %s "$f")" "$f"
  else
    echo "  $b: $f missing" >&2
    missing=1
  fi
done
echo "lambda-build: ${#bins[@]} binaries in ${elapsed}s ($arch)"
exit "$missing"
