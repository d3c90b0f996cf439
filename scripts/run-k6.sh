#!/usr/bin/env bash
# Runs the k6 scenarios (k6/*.js) against the API and checks what k6 cannot check by itself.
#
#   scripts/run-k6.sh                       # all scenarios against a stack already on :3000
#   START_DEVSTACK=1 SHORT=1 scripts/run-k6.sh    # CI: own devstack, a few seconds per scenario
#   SCENARIOS="smoke flash-sale" scripts/run-k6.sh
#
# Environment:
#   BASE_URL        API to test (default http://127.0.0.1:$PORT; PORT default 3000)
#   ADMIN_TOKEN     admin bearer token (default dev-admin-token)
#   START_DEVSTACK  1: build (cargo build --release -p devstack) and start devstack on $PORT with
#                   a temporary --data-dir, wait for /health, stop it by PID at the end;
#                   DEVSTACK_BIN: that binary instead (see scripts/devstack-lib.sh)
#   SHORT           1: CI sizes (each scenario runs a few seconds)
#   SCENARIOS       subset/order of: smoke flash-sale load soak (default all four)
#   SUMMARY_DIR     where summaries, k6 exit codes, console logs and HTML reports go
#                   (default k6/results, git-ignored)
#   K6_PROGRESS     1: show k6's progress bars, 0: hide them (default: shown when stdout is a
#                   terminal)
#   K6_HTML         0: no HTML report. Otherwise each scenario writes k6's own web-dashboard report
#                   to $SUMMARY_DIR/<scenario>.html (K6_WEB_DASHBOARD_EXPORT; self-contained, opens
#                   offline; the dashboard's live server is off: K6_WEB_DASHBOARD_PORT=-1). k6 skips
#                   the report of a run shorter than two periods (K6_WEB_DASHBOARD_PERIOD, default
#                   1s with SHORT=1, else 5s)
#   FLASH_*, LOAD_*, SOAK_*, SMOKE_*   passed to that scenario without the prefix, after the SHORT
#                   defaults: e.g. LOAD_RATE=200 LOAD_DURATION=2m -> -e RATE=200 -e DURATION=2m
#   DEVSTACK_PID    pid of an already running devstack whose VmRSS the soak should sample (set
#                   automatically with START_DEVSTACK=1); RSS_SAMPLE_SECS (default 5, SHORT 1)
#   SOAK_MAX_P99_DRIFT, SOAK_MAX_RSS_GROWTH_MB   optional soak limits (see scripts/k6-report.py)
#
# Exit status: non-zero if any k6 run fails (script error or threshold), a summary is missing, or
# an invariant checked by scripts/k6-report.py is violated. The flash-sale invariant
# "201 count == stock consumed, one factory order per stock-out" needs three parts (VU counters in
# the summary JSON, the FLASH_* console lines from the VUs and teardown, and a re-read of the orders
# through the API after the run): k6 VUs share no state, teardown cannot read counters and
# handleSummary cannot make HTTP calls. See k6/flash-sale.js.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PORT=${PORT:-3000}
BASE_URL=${BASE_URL:-http://127.0.0.1:$PORT}
BASE_URL=${BASE_URL%/}
ADMIN_TOKEN=${ADMIN_TOKEN:-dev-admin-token}
SHORT=${SHORT:-0}
SCENARIOS=${SCENARIOS:-smoke flash-sale load soak}
RESULTS=${SUMMARY_DIR:-$ROOT/k6/results}
K6=${K6:-$ROOT/.venv/bin/k6}
PYTHON=${PYTHON:-python3}
export K6_NO_USAGE_REPORT=true
K6_HTML=${K6_HTML:-1}
if [ -z "${K6_PROGRESS:-}" ]; then
  if [ -t 1 ]; then K6_PROGRESS=1; else K6_PROGRESS=0; fi
fi
quiet=()
[ "$K6_PROGRESS" = 1 ] || quiet=(--quiet)

mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)

if [ ! -x "$K6" ]; then
  "$ROOT/scripts/setup-venv.sh" >&2
fi

# shellcheck source=scripts/devstack-lib.sh
. "$ROOT/scripts/devstack-lib.sh"
devstack_up

# SHORT (CI) sizes; anything given as <PREFIX>_<NAME> in the environment overrides them.
short_args() {
  [ "$SHORT" = 1 ] || return 0
  case "$1" in
    flash-sale) echo "DURATION=5s PEAK_RATE=60 STOCK=40 RESTOCK=20 PRE_VUS=20 MAX_VUS=60" ;;
    load) echo "DURATION=5s RATE=20 SKUS=20 ORDERS=2 PRE_VUS=10 MAX_VUS=50" ;;
    soak) echo "DURATION=9s RATE=10 BUCKET=3s SKUS=10 ORDERS=2 PRE_VUS=5 MAX_VUS=30" ;;
  esac
}

prefix_of() {
  case "$1" in
    flash-sale) echo FLASH ;;
    *) echo "$1" | tr '[:lower:]' '[:upper:]' ;;
  esac
}

RSS_SAMPLER=
start_rss_sampler() {
  local pid=$1 out=$2 every=${RSS_SAMPLE_SECS:-$([ "$SHORT" = 1 ] && echo 1 || echo 5)}
  : >"$out"
  [ -r "/proc/$pid/status" ] || { echo "no /proc/$pid/status: not sampling RSS" >&2; return 0; }
  (
    while [ -r "/proc/$pid/status" ]; do
      kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      [ -n "$kb" ] && echo "$(date +%s) $kb" >>"$out"
      sleep "$every"
    done
  ) &
  RSS_SAMPLER=$!
}
stop_rss_sampler() {
  if [ -n "$RSS_SAMPLER" ]; then
    kill "$RSS_SAMPLER" 2>/dev/null || true
    wait "$RSS_SAMPLER" 2>/dev/null || true
    RSS_SAMPLER=
  fi
}

for s in $SCENARIOS; do
  script="$ROOT/k6/$s.js"
  [ -f "$script" ] || { echo "unknown scenario: $s (no $script)" >&2; exit 2; }
  rm -f "$RESULTS/$s.json" "$RESULTS/$s.rc" "$RESULTS/$s.console.log" "$RESULTS/$s.rss" "$RESULTS/$s.html"
  args=(-e "BASE_URL=$BASE_URL" -e "ADMIN_TOKEN=$ADMIN_TOKEN" -e "SUMMARY_DIR=$RESULTS")
  for kv in $(short_args "$s"); do args+=(-e "$kv"); done
  prefix=$(prefix_of "$s")
  while IFS='=' read -r name _; do
    [ -n "$name" ] && args+=(-e "${name#"${prefix}"_}=${!name}")
  done < <(env | grep -E "^${prefix}_[A-Z0-9_]+=" || true)

  if [ "$s" = soak ] && [ -n "$DEVSTACK_PID" ]; then start_rss_sampler "$DEVSTACK_PID" "$RESULTS/soak.rss"; fi
  echo "--- k6 $s ---"
  dashboard=()
  if [ "$K6_HTML" != 0 ]; then
    dashboard=(K6_WEB_DASHBOARD=true K6_WEB_DASHBOARD_PORT=-1
      "K6_WEB_DASHBOARD_PERIOD=${K6_WEB_DASHBOARD_PERIOD:-$([ "$SHORT" = 1 ] && echo 1s || echo 5s)}"
      "K6_WEB_DASHBOARD_EXPORT=$RESULTS/$s.html")
  fi
  set +e
  env "${dashboard[@]}" "$K6" run "${quiet[@]}" --log-format=raw --console-output="$RESULTS/$s.console.log" \
    "${args[@]}" "$script"
  rc=$?
  set -e
  if [ "$K6_HTML" != 0 ]; then
    if [ -s "$RESULTS/$s.html" ]; then
      echo "k6 $s: HTML report $RESULTS/$s.html"
    else
      echo "k6 $s: no HTML report (k6 skips it for a run shorter than two dashboard periods)" >&2
    fi
  fi
  stop_rss_sampler
  echo "$rc" >"$RESULTS/$s.rc"
done

"$PYTHON" "$ROOT/scripts/k6-report.py" --results "$RESULTS" --base-url "$BASE_URL" --scenarios "$SCENARIOS"
