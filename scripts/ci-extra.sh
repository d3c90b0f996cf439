#!/usr/bin/env bash
# The CI steps after the test command: API tools against the local stack (k6 short scenarios,
# Postman via newman, schemathesis from the OpenAPI spec), cargo-lambda builds of every function
# (x86_64) with their sizes, `sam build` on top of them (no second compile), and a short benchmark
# run that only checks the suite still works.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
export K6_NO_USAGE_REPORT=true SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1
# The functional runs need no optimised build: the debug devstack the tests built is enough.
cargo build -p devstack
export DEVSTACK_BIN="$target/debug/devstack"

echo "--- k6 (short)"
SHORT=1 START_DEVSTACK=1 ./scripts/run-k6.sh
echo "--- newman"
START_DEVSTACK=1 ./scripts/run-newman.sh
echo "--- schemathesis"
START_DEVSTACK=1 ./scripts/run-schemathesis.sh
echo "--- cargo lambda build (x86_64) and sizes"
./scripts/lambda-build.sh
./scripts/bench-sizes.sh
echo "--- sam build (x86_64): the Makefile build, reusing the bootstraps just built"
command -v make >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null; }
sam_dir="$target/sam-build"
rm -rf "$sam_dir"
.venv/bin/sam build --parameter-overrides Architecture=x86_64 --build-dir "$sam_dir"
# What SAM would upload is exactly what lambda-build.sh built, for every function it built.
checked=0
while read -r lid bin; do
  cmp "$sam_dir/$lid/bootstrap" "$target/lambda/$bin/bootstrap"
  checked=$((checked + 1))
done < <(sed -n 's/^build-\([A-Za-z0-9]*\): ; @$(SAM_BUILD) \([a-z-]*\)$/\1 \2/p' Makefile)
built=$(find "$sam_dir" -mindepth 2 -maxdepth 2 -name bootstrap | wc -l)
if [ "$checked" -eq 0 ] || [ "$checked" -ne "$built" ]; then
  echo "sam build: compared $checked bootstraps with target/lambda, SAM built $built" >&2
  exit 1
fi
echo "sam build: $built bootstraps, each identical to target/lambda/<binary>/bootstrap"
echo "--- benchmark suite (quick: checks it works, judges nothing)"
BENCH_LAMBDA_BUILD=0 ./scripts/bench.sh --quick
