#!/usr/bin/env bash
# The CI steps after the test command: API tools against the local stack (k6 short scenarios,
# Postman via newman, schemathesis from the OpenAPI spec), cargo-lambda builds of every function
# (x86_64) with their sizes, and a short benchmark run that only checks the suite still works.
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
echo "--- benchmark suite (quick: checks it works, judges nothing)"
BENCH_LAMBDA_BUILD=0 ./scripts/bench.sh --quick
