#!/usr/bin/env bash
# Runs the functions `sam build` ships, as AWS Lambda runs them and wired as template.yaml wires
# them: each bootstrap behind its own Lambda Runtime API, API Gateway v2 events on
# http://127.0.0.1:3001, SNS -> SQS -> event source mappings, schedules, the CloudWatch Logs
# subscription and the migrations custom resource, against moto and a TLS-only MariaDB.
# No Docker, no AWS account. Builds the bootstraps first (cargo-lambda, one cargo invocation).
#
# Usage: ./scripts/harness.sh [lambda-harness flags]   (--help lists them: --port, --param K=V,
#        --instances LogicalId=N, --visibility-timeout S, --echo, --moto URL)
# Runs from the repository root: working files in .harness/ there (--dir; git-ignored; the
# harness makes every path absolute before a child process sees it), logs in .harness/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh >/dev/null
./scripts/lambda-build.sh >/dev/null
exec cargo run --quiet -p lambda-harness -- "$@"
