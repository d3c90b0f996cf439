#!/usr/bin/env bash
# The project's test command (README): unit, store, HTTP, pipeline, fault and AWS-adapter tests
# against real MariaDB (a throwaway mariadbd the harness starts, or TEST_DATABASE_URL) and a
# moto server (started by the harness from .venv), the deployed bootstraps on the Lambda harness
# (TLS-only MariaDB, moto, events derived from template.yaml), then the template/code cross-check.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh >/dev/null
export PATH="$PWD/.venv/bin:$PATH"
# The deployable bootstraps, built once as `sam build` builds them (cargo-lambda, release, the
# default members: no SQLite adapter): the harness tests (infra/harness/tests) run exactly these.
./scripts/lambda-build.sh
# The harness binary as the README's `./scripts/harness.sh` builds it (`cargo run -p lambda-harness`:
# features resolved for that package alone), so its test (infra/harness/tests/readme_command.rs)
# starts it instead of compiling it inside its time budget.
cargo build --quiet -p lambda-harness
cargo test --workspace --all-targets --no-fail-fast "$@"
.venv/bin/python tests/template_check.py
