#!/usr/bin/env bash
# Fuzzes the API against its contract, docs/openapi.yaml, with schemathesis (v4 CLI: st run <spec> --url).
#
#   scripts/run-schemathesis.sh                       # against a stack already on :3000
#   START_DEVSTACK=1 scripts/run-schemathesis.sh      # start and stop a devstack of its own
#
# Environment:
#   BASE_URL        API to test (default http://127.0.0.1:$PORT; PORT default 3000)
#   ADMIN_TOKEN     sent as `Authorization: Bearer $ADMIN_TOKEN` on every request, so the admin
#                   route is fuzzed past its auth (default dev-admin-token)
#   MAX_EXAMPLES    test cases per operation and phase (default 100: about 15 s against devstack)
#   CHECKS          default: not_a_server_error, status_code_conformance, content_type_conformance,
#                   response_headers_conformance (X-Correlation-Id on every response, Retry-After on
#                   503, WWW-Authenticate on 401), response_schema_conformance and
#                   negative_data_rejection. Not positive_data_acceptance: a valid request may
#                   rightly get 404 unknown_sku, 409 out_of_stock or 422 idempotency_key_reused.
#   MODE            positive | negative | all (default all)
#   SEED            fixed seed for a reproducible run (default: random; printed by st)
#   INCLUDE_LOCAL_ONLY  1 also fuzzes the `local-only` operations (/ops/*; default 0)
#   START_DEVSTACK  1: build (cargo build --release -p devstack) and start devstack on $PORT with
#                   a temporary --data-dir, stop it at the end; DEVSTACK_BIN: that binary instead
#                   (see scripts/devstack-lib.sh)
#   RESULTS_DIR     where the JUnit report goes (default k6/results)
# Extra arguments are passed to `st run` as they are (st runs in $RESULTS_DIR: use absolute paths).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PORT=${PORT:-3000}
BASE_URL=${BASE_URL:-http://127.0.0.1:$PORT}
BASE_URL=${BASE_URL%/}
ADMIN_TOKEN=${ADMIN_TOKEN:-dev-admin-token}
MAX_EXAMPLES=${MAX_EXAMPLES:-100}
CHECKS=${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection}
MODE=${MODE:-all}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/k6/results}
ST=${ST:-$ROOT/.venv/bin/st}

if [ ! -x "$ST" ]; then
  "$ROOT/scripts/setup-venv.sh" >&2
fi
mkdir -p "$RESULTS_DIR"

# shellcheck source=scripts/devstack-lib.sh
. "$ROOT/scripts/devstack-lib.sh"
devstack_up

args=(
  run "$ROOT/docs/openapi.yaml"
  --url "$BASE_URL"
  --checks "$CHECKS"
  --mode "$MODE"
  --max-examples "$MAX_EXAMPLES"
  --header "Authorization: Bearer $ADMIN_TOKEN"
  --request-timeout 10
  --generation-database none
  --report junit --report-junit-path "$RESULTS_DIR/schemathesis.junit.xml"
  --no-color
)
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
[ "${INCLUDE_LOCAL_ONLY:-0}" = 1 ] || args+=(--exclude-tag local-only)

# st keeps its caches (.schemathesis/, .hypothesis/) in the working directory: keep them with
# the (git-ignored) results instead of the repo root.
cd "$RESULTS_DIR"
"$ST" "${args[@]}" "$@"
