#!/usr/bin/env bash
# Lints the SAM template with the project's venv tools: cfn-lint (errors and warnings) and
# `sam validate --lint`. Exits non-zero on any finding. Creates the venv if needed.
# Usage: ./scripts/check-template.sh [template.yaml]
set -euo pipefail
cd "$(dirname "$0")/.."
TEMPLATE=${1:-template.yaml}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/sam" ]; then
  ./scripts/setup-venv.sh
fi
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_REGION=$AWS_DEFAULT_REGION
export SAM_CLI_TELEMETRY=0

status=0
echo "== cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}') $TEMPLATE"
if "$VENV/bin/cfn-lint" --format parseable -- "$TEMPLATE"; then
  echo "cfn-lint: clean"
else
  echo "cfn-lint: findings above" >&2
  status=1
fi

echo "== sam validate --lint ($("$VENV/bin/sam" --version))"
if out=$("$VENV/bin/sam" validate --lint --template-file "$TEMPLATE" 2>&1); then
  echo "$out"
  # sam prints findings but has been known to exit 0 on some of them: trust only the clean verdict.
  if ! grep -q "is a valid SAM Template" <<<"$out"; then
    echo "sam validate: unexpected output" >&2
    status=1
  fi
else
  echo "$out" >&2
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "check-template: OK"
else
  echo "check-template: FAILED" >&2
fi
exit "$status"
