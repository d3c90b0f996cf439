#!/usr/bin/env bash
# Runs the Postman collection (postman/donut-pipeline.postman_collection.json) with newman.
#
#   scripts/run-newman.sh                        # against a stack already on :3000
#   START_DEVSTACK=1 scripts/run-newman.sh       # start and stop a devstack of its own
#
# Environment:
#   BASE_URL        API to test (default http://127.0.0.1:$PORT; PORT default 3000); always
#                   overrides the environment file's baseUrl (for a deployed stack:
#                   POSTMAN_ENV=postman/deployed.postman_environment.json BASE_URL=https://... ADMIN_TOKEN=...)
#   ADMIN_TOKEN     admin bearer token (default dev-admin-token); overrides adminToken
#   POSTMAN_ENV     environment file (default postman/local.postman_environment.json)
#   START_DEVSTACK  1: build (cargo build --release -p devstack) and start devstack on $PORT with
#                   a temporary --data-dir, stop it at the end; DEVSTACK_BIN: that binary instead
#                   (see scripts/devstack-lib.sh)
#   RESULTS_DIR     where the JSON/JUnit reports go (default k6/results)
# newman is installed project-locally into .ci/node (npm install --no-save --prefix .ci/node),
# never globally. Exit status: newman's (non-zero on any failed test).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PORT=${PORT:-3000}
BASE_URL=${BASE_URL:-http://127.0.0.1:$PORT}
BASE_URL=${BASE_URL%/}
ADMIN_TOKEN=${ADMIN_TOKEN:-dev-admin-token}
POSTMAN_ENV=${POSTMAN_ENV:-$ROOT/postman/local.postman_environment.json}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/k6/results}
NODE_PREFIX=$ROOT/.ci/node
NEWMAN=$NODE_PREFIX/node_modules/.bin/newman

if [ ! -x "$NEWMAN" ]; then
  command -v npm >/dev/null || { echo "npm is needed to install newman (apt-get install npm)" >&2; exit 2; }
  echo "installing newman into $NODE_PREFIX ..." >&2
  mkdir -p "$NODE_PREFIX"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$NODE_PREFIX" newman >&2
fi
mkdir -p "$RESULTS_DIR"

# shellcheck source=scripts/devstack-lib.sh
. "$ROOT/scripts/devstack-lib.sh"
devstack_up

"$NEWMAN" run "$ROOT/postman/donut-pipeline.postman_collection.json" \
  --environment "$POSTMAN_ENV" \
  --env-var "baseUrl=$BASE_URL" \
  --env-var "adminToken=$ADMIN_TOKEN" \
  --reporters cli,json,junit \
  --reporter-json-export "$RESULTS_DIR/newman.json" \
  --reporter-junit-export "$RESULTS_DIR/newman.junit.xml" \
  --timeout-request 10000 \
  --color off
