#!/usr/bin/env bash
# The project's test command (README): unit, store, HTTP, pipeline, fault and AWS-adapter tests
# against real MariaDB (a throwaway mariadbd the harness starts, or TEST_DATABASE_URL) and a
# moto server (started by the harness from .venv), then the template/code cross-check.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh >/dev/null
export PATH="$PWD/.venv/bin:$PATH"
cargo test --workspace --all-targets --no-fail-fast "$@"
.venv/bin/python tests/template_check.py
