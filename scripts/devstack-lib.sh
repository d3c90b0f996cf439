# shellcheck shell=bash
# Sourced by scripts/run-k6.sh, run-newman.sh and run-schemathesis.sh (not run on its own).
#
# devstack_up: with START_DEVSTACK=1, starts devstack --port $PORT --data-dir <tmp>: $DEVSTACK_BIN
#   if set, else ${CARGO_TARGET_DIR:-target}/release/devstack after `cargo build --release -p
#   devstack` (a no-op when up to date; built, not `cargo run`, so that $DEVSTACK_PID is the server
#   itself: we stop it and read its VmRSS),
#   logs to $DEVSTACK_LOG, and stops it by PID on exit. Otherwise it expects an API already
#   running at $BASE_URL. Either way it waits up to $HEALTH_TIMEOUT seconds for GET /health.
# Needs ROOT, PORT, BASE_URL, ADMIN_TOKEN set by the caller.

DEVSTACK_PID=${DEVSTACK_PID:-}
DEVSTACK_DATA=

devstack_down() {
  if [ -n "${DEVSTACK_STARTED:-}" ] && [ -n "$DEVSTACK_PID" ] && kill -0 "$DEVSTACK_PID" 2>/dev/null; then
    kill -TERM "$DEVSTACK_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$DEVSTACK_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$DEVSTACK_PID" 2>/dev/null && kill -KILL "$DEVSTACK_PID" 2>/dev/null
    wait "$DEVSTACK_PID" 2>/dev/null || true
    echo "devstack (pid $DEVSTACK_PID) stopped; log: $DEVSTACK_LOG" >&2
  fi
  if [ -n "$DEVSTACK_DATA" ] && [ "${KEEP_DEVSTACK_DATA:-0}" != 1 ]; then rm -rf "$DEVSTACK_DATA"; fi
}

wait_health() {
  local deadline=$((SECONDS + ${HEALTH_TIMEOUT:-60}))
  until curl -fsS -m 2 "$BASE_URL/health" >/dev/null 2>&1; do
    if [ -n "${DEVSTACK_STARTED:-}" ] && ! kill -0 "$DEVSTACK_PID" 2>/dev/null; then
      echo "devstack exited before becoming healthy; last lines of $DEVSTACK_LOG:" >&2
      tail -n 30 "$DEVSTACK_LOG" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "no healthy API at $BASE_URL/health after ${HEALTH_TIMEOUT:-60}s" \
        "(start it with 'cargo run --release -p devstack', or set START_DEVSTACK=1)" >&2
      return 1
    fi
    sleep 0.5
  done
}

devstack_up() {
  if [ "${START_DEVSTACK:-0}" = 1 ]; then
    local bin=${DEVSTACK_BIN:-}
    if [ -z "$bin" ]; then
      # Always (re)build: a binary left in the target dir by an older checkout would test old
      # code. A no-op when it is up to date. Honours CARGO_TARGET_DIR (CI sets one).
      echo "building devstack (cargo build --release -p devstack)..." >&2
      (cd "$ROOT" && cargo build --release -p devstack) >&2
      local target=${CARGO_TARGET_DIR:-$ROOT/target}
      case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
      bin="$target/release/devstack"
    fi
    [ -x "$bin" ] || { echo "no devstack binary at $bin" >&2; return 1; }
    DEVSTACK_DATA=$(mktemp -d "${TMPDIR:-/tmp}/devstack-data.XXXXXX")
    DEVSTACK_LOG=${DEVSTACK_LOG:-$DEVSTACK_DATA.log}
    ADMIN_TOKEN="$ADMIN_TOKEN" "$bin" --port "$PORT" --data-dir "$DEVSTACK_DATA" >"$DEVSTACK_LOG" 2>&1 &
    DEVSTACK_PID=$!
    DEVSTACK_STARTED=1
    trap devstack_down EXIT
    trap 'exit 130' INT TERM
    echo "devstack started: pid $DEVSTACK_PID, port $PORT, data $DEVSTACK_DATA, log $DEVSTACK_LOG" >&2
  fi
  wait_health
}
