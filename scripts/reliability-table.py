#!/usr/bin/env python3
"""Renders docs/reliability.md from the reliability suite's results.

Inputs (written by `scripts/faults.sh`):
  <results>/<suite>.jsonl  one JSON line per case, written by the case itself
                           (pipeline_tests::faults::Record): suite, case, fault, db,
                           behaviour[], invariants[], pass, duration_ms, at
  <results>/*.log          cargo test output (pipeline-tests' suites and the harness's
                           `deployed` binary, whose fault cases record with suite "deployed"); `test <name> ... ok|FAILED|ignored` lines give
                           the result of tests that left no line (died before recording) and of
                           the end-to-end tests in tests/tests/pipeline.rs

Nothing in the tables is typed by hand except the one-line descriptions of the pipeline.rs
tests (they predate the suite and do not record themselves); their results come from the log.

Usage: reliability-table.py --results DIR --out docs/reliability.md
"""

import argparse
import datetime
import json
import pathlib
import re
import sys

SUITES = [
    ("faults", "Faults injected into the running pipeline", "tests/tests/faults", None),
    ("hostile", "Hostile HTTP input", "tests/tests/hostile", None),
    ("props", "Property-based parsing tests (proptest)", "tests/tests/props", None),
    ("hygiene", "Secret hygiene", "tests/tests/hygiene.rs", None),
    (
        "deployed",
        "Lambda's own faults (the deployed bootstraps on the harness)",
        "infra/harness/tests/deployed",
        "Faults only Lambda produces, on the Lambda harness: the bootstraps `sam build` ships, each "
        "behind its own Runtime API, wired as `template.yaml` wires them (SQS event source mapping, "
        "log subscription with asynchronous retries, moto, a TLS-only MariaDB). Time is compressed "
        "(visibility timeouts and retry delays of seconds); each case says what it changes.",
    ),
]

# tests/tests/pipeline.rs: test -> (fault, what the system does, invariants checked there).
PIPELINE = {
    "flash_sale": (
        "Flash sale: 64 buyers, 500 attempts on 50 donuts, factory completion held back",
        "exactly 50 sold, 450 refused (409), one factory order, one batch, restocked once, sales resume",
        "ledger; one order; one batch",
    ),
    "factory_down_then_back": (
        "Factory API down (503 to everything) for a while",
        "retried on every delivery (order stays pending, last_error 503); fulfilled once when back",
        "ledger; one batch; restocked once",
    ),
    "failing_factory_ends_in_dlq_then_redrive_recovers": (
        "Factory API down past maxReceiveCount",
        "order failed, message in the DLQ with its reason, FactoryOrdersDLQNotEmpty + FactoryOrderFailed in ALARM; "
        "redrive after recovery fulfils it and clears the alarms",
        "ledger",
    ),
    "poison_messages_go_to_the_dlq_without_blocking_the_batch": (
        "Poison messages on the queue (not JSON, wrong schema, empty object, unknown order)",
        "all four in the DLQ with their reasons after maxReceiveCount; the genuine stock-out fulfilled meanwhile",
        "queue drained; good order fulfilled",
    ),
    "duplicate_deliveries_have_one_effect": (
        "The same stock-out delivered 4 times, plus a late copy after fulfilment",
        "one batch, one completion, restocked once; the late copy acknowledged, nothing in the DLQ",
        "ledger; restocked once",
    ),
    "forged_tampered_and_replayed_callbacks_change_nothing": (
        "Forged (wrong key), missing, other order's token, tampered product/count, unknown order, replayed callbacks",
        "401/403/404 without any change; the genuine one restocks once, its replays are 200 no-ops",
        "ledger; other order untouched",
    ),
    "crash_between_commit_and_publish_is_recovered_by_the_relay": (
        "Crash between the sale's commit and the publish (topic down)",
        "event stays in the outbox; the relay publishes it; order fulfilled",
        "ledger; outbox drained",
    ),
    "stuck_order_is_resent_then_failed_and_alarmed": (
        "Factory accepts but never completes",
        "relay re-sends after the deadline with the same idempotency key (one batch), then fails the order; alarm",
        "one batch",
    ),
}

RESULT_RE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")
RUNNING_RE = re.compile(r"^\s*Running (\S+)")
# A suite is one test binary: `tests/<suite>.rs`, or `tests/<suite>/main.rs` with its modules.
SUITE_FILE_RE = re.compile(r"^tests/(\w+)(?:\.rs|/main\.rs)$")


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REF_RE = re.compile(r"\b(sim|scripted)-[0-9a-f]{32}\b")


def md(s):
    """Markdown-safe; run-specific ids replaced so the file only changes when results do."""
    s = UUID_RE.sub("(id)", str(s))
    s = REF_RE.sub(r"\1-(ref)", s)
    return s.replace("|", "\\|").replace("\n", " ")


def split_name(name):
    """`case::sqlite` -> (case, sqlite); `case::mysql` -> (case, mariadb); `case` -> (case, None).
    The module a case sits in (`database::case::sqlite` in a suite split into modules) is
    dropped: the case is the test function, as the record names it."""
    db = None
    if name.endswith("::sqlite"):
        name, db = name[: -len("::sqlite")], "sqlite"
    elif name.endswith("::mysql"):
        name, db = name[: -len("::mysql")], "mariadb"
    return name.rsplit("::", 1)[-1], db


def read_logs(results):
    """{suite: {test name: ok|FAILED|ignored}} from every cargo test log in the dir."""
    out = {}
    for log in sorted(results.glob("*.log")):
        suite = None
        for line in log.read_text(errors="replace").splitlines():
            m = RUNNING_RE.match(line)
            if m:
                f = SUITE_FILE_RE.match(m.group(1))
                suite = f.group(1) if f else None
                continue
            m = RESULT_RE.match(line)
            if m and suite:
                out.setdefault(suite, {})[m.group(1)] = m.group(2)
    return out


def read_records(results):
    """Latest record per (suite, case, db), in first-seen order."""
    recs = {}
    order = []
    for f in sorted(results.glob("*.jsonl")):
        for line in f.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = (r.get("suite"), r.get("case"), r.get("db"))
            if key not in recs:
                order.append(key)
            if key not in recs or r.get("at", "") >= recs[key].get("at", ""):
                recs[key] = r
    return [recs[k] for k in order]


def rows_for(suite, records, logs):
    """One row per case; its runs on each database merged."""
    cases = {}
    results = {split_name(n): res for n, res in logs.get(suite, {}).items()}
    for r in records:
        if r["suite"] != suite:
            continue
        # The log has the last word: a test can fail after its record was written (a panic
        # while stopping the stack, a leaked task).
        res = results.get((r["case"], r["db"]), results.get((r["case"], None)))
        if res == "FAILED" and r["pass"]:
            r = dict(r)
            r["pass"] = False
            r["behaviour"] = list(r.get("behaviour") or []) + ["the test failed after recording (see the log)"]
        c = cases.setdefault(r["case"], {"runs": [], "first": r})
        c["runs"].append(r)
    # Tests that failed without leaving a record.
    for name, result in logs.get(suite, {}).items():
        case, db = split_name(name)
        runs = cases.get(case, {}).get("runs", [])
        if result == "FAILED" and not any(db in (None, x["db"]) for x in runs):
            c = cases.setdefault(
                case,
                {
                    "runs": [],
                    "first": {
                        "case": case,
                        "fault": "(no record: the test died before writing one)",
                        "behaviour": [],
                        "invariants": [],
                    },
                },
            )
            c["runs"].append({"db": db or "-", "pass": False, "behaviour": ["panicked; see the log"], "invariants": []})
    return cases


def render_case_table(cases, suite_file):
    lines = [
        "| # | Fault injected | What the system did | Invariants checked and held | Result |",
        "|---|---|---|---|---|",
    ]
    for i, (case, c) in enumerate(cases.items(), 1):
        first = c["first"]
        runs = sorted(c["runs"], key=lambda r: r["db"])
        ok = all(r["pass"] for r in runs)
        # Behaviour: a failing run's observations first (they explain the failure).
        shown = next((r for r in runs if not r["pass"]), runs[0])
        behaviour = "; ".join(shown.get("behaviour") or ["-"])
        inv_run = next((r for r in runs if r["pass"] and r.get("invariants")), None)
        invariants = "<br>".join(inv_run["invariants"]) if inv_run else "**not reached**"
        result = ", ".join(f"{r['db']}: {'pass' if r['pass'] else '**FAIL**'}" for r in runs)
        ms = max(r.get("duration_ms", 0) for r in runs)
        lines.append(
            f"| {i} | {md(first['fault'])}<br>`{suite_file}::{case}` | {md(behaviour)} | {md(invariants)} | "
            f"{'✅' if ok else '❌'} {md(result)} ({ms / 1000:.1f} s) |"
        )
    return lines


def render(results, out):
    logs = read_logs(results)
    records = read_records(results)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = []
    total = passed = 0
    failing = []
    for suite, title, path, note in SUITES:
        cases = rows_for(suite, records, logs)
        if not cases:
            continue
        body += ["", f"## {title}", "", f"`{path}`" + (f": {note}" if note else ""), ""]
        body += render_case_table(cases, path)
        for case, c in cases.items():
            for r in c["runs"]:
                total += 1
                passed += bool(r["pass"])
                if not r["pass"]:
                    failing.append((path, case, r))
    pipe = logs.get("pipeline", {})
    if pipe:
        body += [
            "",
            "## Covered by the end-to-end tests",
            "",
            "`tests/tests/pipeline.rs` (not repeated in the suite; results from this run's log, "
            "descriptions from the script)",
            "",
            "| Fault | What the system does | Checked | Result |",
            "|---|---|---|---|",
        ]
        by_case = {}
        for name, result in pipe.items():
            case, db = split_name(name)
            by_case.setdefault(case, []).append((db or "sqlite", result))
        for case, runs in by_case.items():
            fault, does, checked = PIPELINE.get(case, (case, "(no description in the script)", "-"))
            ok = all(r == "ok" for _, r in runs)
            res = ", ".join(f"{db}: {'pass' if r == 'ok' else r}" for db, r in sorted(runs))
            body.append(
                f"| {md(fault)}<br>`tests/tests/pipeline.rs::{case}` | {md(does)} | {md(checked)} | "
                f"{'✅' if ok else '❌'} {md(res)} |"
            )
            total += len(runs)
            passed += sum(r == "ok" for _, r in runs)
            failing += [("tests/tests/pipeline.rs", case, {"db": db, "behaviour": [r]}) for db, r in runs if r != "ok"]
    header = [
        "# Reliability",
        "",
        "<!-- GENERATED by scripts/faults.sh (scripts/reliability-table.py) from the fault suite's",
        "     results. Do not edit by hand: run scripts/faults.sh. -->",
        "",
        f"Generated {now} by `scripts/faults.sh`: **{passed} of {total} runs passed**"
        + (f", {total - passed} failed (see [Open findings](#open-findings))." if total != passed else "."),
        "",
        "Every case injects one fault into the running pipeline (the local stack: the same handlers",
        "the Lambda functions run, SNS/SQS/DLQ semantics, the factory stand-in; MariaDB where the fault",
        "is in the database) and afterwards checks, for every SKU it touched:",
        "",
        "- `initial + restocked - sold == stock`, `stock >= 0`, at most one open factory order",
        "  (`pipeline_tests::assert_ledger`);",
        "- every sale a client was told was accepted is stored exactly once, and no other sale is",
        "  stored (cases that track their sales);",
        "- every stock-out made exactly one factory order, and the factory exactly one batch per",
        "  order (the order id is the idempotency key);",
        "- every fulfilled order restocked exactly once, nothing else restocked.",
        "",
        "The last section runs the functions as deployed, on the Lambda harness, for the faults",
        "only Lambda produces (redelivery, timeouts, crashes, throttling).",
        "",
        "The *Invariants* column lists what was checked with the numbers found. Cases marked",
        "`#[ignore]` in the code are known product bugs: `cargo test` (CI) skips them,",
        "`scripts/faults.sh` runs them, and they stay red here until fixed.",
    ]
    findings = ["", "## Open findings", ""]
    if failing:
        for path, case, r in failing:
            fault = f"{md(r['fault'])}: " if r.get("fault") else ""
            findings.append(f"- `{path}::{case}` ({r['db']}): {fault}{md('; '.join(r.get('behaviour') or []))}")
    else:
        findings.append("None: every case passed.")
    text = "\n".join(header + body + findings + [""] + STATIC.splitlines()) + "\n"
    out.write_text(text)
    return total, passed


STATIC = """## Limits

What bounds a request or a burst, and what the client sees when it is exceeded.

| Limit | Value | Where | Over it |
|---|---|---|---|
| Request body (sales, admin, callbacks) | 16 KiB | `inventory::api::MAX_BODY` | `413 payload_too_large` (JSON body) |
| Client analytics event (`POST /events`) | 4 KiB | `inventory::api::MAX_EVENT_BODY` | `413 payload_too_large` |
| Body read by the local gateway | 2 MiB | `devstack` `GATEWAY_BODY_LIMIT` | `413 payload_too_large` before the handler |
| Body accepted by API Gateway (HTTP API) | 10 MB | AWS quota | API Gateway's own `413` |
| Request line + headers, deployed | 10 240 bytes | AWS HTTP API quota | API Gateway's own `431`/`400` |
| Headers, local stack | 100 headers, ~400 KiB buffer | hyper defaults | `431`/`400` from hyper with an empty body (like API Gateway, the HTTP layer answers before the handler) |
| Quantity per sale | 1..=100 | `domain::MAX_SALE_QUANTITY` | `400 invalid_quantity` |
| SKU | `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` | `domain::Sku` | `400 invalid_sku` |
| `Idempotency-Key` / `X-Correlation-Id` | 1-128 printable ASCII / `[A-Za-z0-9._:-]` | `api.rs` / `domain::correlation_id` | `400 invalid_request` / a new id is generated |
| Request rate, deployed | 50 req/s steady, burst 100 (default route) | `ApiThrottlingRateLimit`, `ApiThrottlingBurstLimit` in `template.yaml` | `429 {"message":"Too Many Requests"}` from API Gateway |
| Request rate, local stack | none | - | - |
| Admin token guesses | no lockout in the handler: the API rate limit applies; the token is compared in constant time (SHA-256 digests) | `api::AdminToken` | `403 forbidden` |
| Database connections | `DB_MAX_CONNECTIONS` per execution environment (local default 16), acquire timeout 3 s | `store::PoolSettings` | `503 unavailable` + `Retry-After: 1` within ~3 s |
| Factory call | `FACTORY_TIMEOUT_MS` (default 5 000, at most 20 000) | `template.yaml` | counted as a failed attempt; SQS redelivers |
| Factory attempts per stock-out message | `FactoryOrdersMaxReceiveCount` (default 5) | SQS redrive policy | order `failed`, message in the DLQ, alarms |
| Re-sends of an order without completion | `MaxOrderAttempts` (default 5) after `OrderDeadlineSeconds` (default 900) | outbox relay | order `failed`, alarm |

## Supply chain

`deny.toml` at the workspace root configures [cargo-deny](https://embarkstudios.github.io/cargo-deny/):
crates.io only (no git, no other registry), a permissive license allow-list (MIT, Apache-2.0,
BSD, ISC, Zlib, Unicode-3.0, CC0, 0BSD, BSL-1.0), `openssl-sys` banned (rustls everywhere),
duplicate versions reported as warnings, and advisories (vulnerabilities denied; unmaintained
crates denied when they are direct dependencies).

```sh
cargo install cargo-deny --locked          # once
cargo deny check bans licenses sources     # offline; CI
cargo deny check advisories                # needs the RustSec database from GitHub
```

## How to run

```sh
scripts/faults.sh                 # everything below, then regenerates this file
cargo test -p pipeline-tests --test faults --test hostile --test props --test hygiene   # CI subset
```

`scripts/faults.sh` runs the four suites with `--include-ignored` (the known-bug cases too),
`tests/tests/pipeline.rs`, and the harness's fault cases (`infra/harness/tests/deployed`, every
test but the end-to-end one, one at a time: each starts a stack of its own, after
`scripts/lambda-build.sh` has rebuilt the bootstraps), collects the `*.jsonl` records and the
logs, and renders this file. It needs MariaDB installed (`mariadbd`, `mariadb-install-db`): the
database faults and the harness start their own servers in temporary directories and stop them
afterwards. `FAULTS_SKIP_HARNESS=1` leaves the harness out (its section is then missing).

```sh
cargo test -p lambda-harness --test deployed -- --skip deployed_functions   # the harness's fault cases alone
```
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    a = ap.parse_args()
    if not a.results.is_dir():
        sys.exit(f"no results in {a.results}: run scripts/faults.sh")
    total, passed = render(a.results, a.out)
    print(f"{a.out}: {passed} of {total} runs passed")


if __name__ == "__main__":
    main()
