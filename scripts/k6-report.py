#!/usr/bin/env python3
"""Summarises the k6 runs of scripts/run-k6.sh and checks what k6 itself cannot.

    python3 scripts/k6-report.py --results DIR --base-url URL [--scenarios "smoke flash-sale load soak"]

Reads, per scenario, DIR/<scenario>.json (written by the scenario's handleSummary),
DIR/<scenario>.rc (k6's exit code) and DIR/<scenario>.console.log (k6 --console-output). Prints a
table and exits 1 if any scenario's k6 run failed, a threshold failed, a summary is missing, or an
invariant below is violated. Standard library only.

flash-sale invariants (see k6/flash-sale.js for why they are checked here): from the console lines
  FLASH_RESULT {"sku","initial","restock","stock","open_factory_order"}   (teardown)
  FLASH_ORDER  {"id","via":"sale"|"409",...}                               (VUs)
and the summary's Counters sales_ok and stockout_sales, after re-reading every order through
GET /factory-orders/{id} and the product through GET /inventory/{sku} (a consistent snapshot):
  - sold (sales_ok) == consumed = initial + Σ quantity of fulfilled orders − current stock
  - every order id was opened by exactly one sale (one factory order per stock-out), every id
    seen in a 409 body was opened by a sale of this run, stockout_sales == distinct orders
  - at most one order is not fulfilled, and it is the product's open_factory_order
  - every order is for the flash SKU, and the stock is never negative

soak: prints p99 per time bucket and its drift; with DIR/soak.rss (lines "<epoch s> <VmRSS kB>")
prints the server's memory growth. SOAK_MAX_P99_DRIFT (ratio) and SOAK_MAX_RSS_GROWTH_MB, when
set, turn those into failures.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_rc(path):
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def console_lines(path, tag):
    """JSON payloads of the console lines `<tag> {...}` (raw or logfmt-wrapped)."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                i = line.find(tag + " {")
                if i < 0:
                    continue
                payload = line[i + len(tag) + 1:].strip()
                if payload.endswith('"') and 'msg="' in line:  # logfmt: msg="TAG {\"a\":1}"
                    payload = json.loads('"' + payload[:-1] + '"')
                try:
                    out.append(json.loads(payload))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def metric(summary, name, key):
    m = (summary or {}).get("metrics", {}).get(name)
    return None if m is None else m.get("values", {}).get(key)


def http_get(base_url, path):
    req = urllib.request.Request(base_url.rstrip("/") + path, headers={"X-Correlation-Id": "k6-report"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, str(e)


def verify_flash(summary, console_path, base_url):
    """Returns (problems, info)."""
    problems, info = [], {}
    results = console_lines(console_path, "FLASH_RESULT")
    if not results:
        return ["no FLASH_RESULT line (teardown did not run?)"], info
    res = results[-1]
    sku, initial = res["sku"], res["initial"]
    for v in console_lines(console_path, "FLASH_VIOLATION"):
        problems.append(f"violation seen by a VU: {v}")
    events = console_lines(console_path, "FLASH_ORDER")
    by_sale = [e["id"] for e in events if e.get("via") == "sale"]
    by_409 = {e["id"] for e in events if e.get("via") == "409"}
    order_ids = sorted(set(by_sale) | by_409)
    dup = sorted({i for i in by_sale if by_sale.count(i) > 1})
    if dup:
        problems.append(f"factory order(s) returned by more than one sale: {short(dup)}")
    stray = sorted(by_409 - set(by_sale))
    if stray:
        problems.append(f"409 bodies named order(s) no sale of this run opened: {short(stray)}")
    sold = metric(summary, "sales_ok", "count") or 0
    stockouts = metric(summary, "stockout_sales", "count") or 0
    if stockouts != len(set(by_sale)):
        problems.append(f"stockout_sales={stockouts} but {len(set(by_sale))} distinct orders were opened by sales")

    # Consistent snapshot: orders, product, orders again, until the orders did not change.
    for _ in range(20):
        before = {}
        for oid in order_ids:
            st, o = http_get(base_url, f"/factory-orders/{oid}")
            before[oid] = (st, json.dumps(o, sort_keys=True))
        st_p, product = http_get(base_url, f"/inventory/{sku}")
        after = {}
        orders = {}
        for oid in order_ids:
            st, o = http_get(base_url, f"/factory-orders/{oid}")
            after[oid] = (st, json.dumps(o, sort_keys=True))
            orders[oid] = (st, o)
        if before == after:
            break
        time.sleep(0.5)
    else:
        problems.append("could not read a consistent snapshot of the orders (still changing)")
    if st_p != 200 or not isinstance(product, dict):
        return problems + [f"GET /inventory/{sku} -> {st_p} {product}"], info

    restocked, open_ids = 0, []
    for oid, (st, o) in orders.items():
        if st != 200 or not isinstance(o, dict):
            problems.append(f"GET /factory-orders/{oid} -> {st} {o}")
            continue
        if o.get("sku") != sku:
            problems.append(f"order {oid} is for {o.get('sku')}, not {sku}")
        if o.get("status") == "fulfilled":
            restocked += o.get("quantity", 0)
        else:
            open_ids.append((oid, o.get("status")))
    stock = product.get("stock")
    consumed = initial + restocked - stock if isinstance(stock, int) else None
    info.update(sku=sku, initial=initial, restocked=restocked, stock=stock, consumed=consumed, sold=sold,
                orders=len(order_ids), open=[i for i, _ in open_ids])
    if not isinstance(stock, int) or stock < 0:
        problems.append(f"stock is {stock}")
    if consumed != sold:
        problems.append(f"sold {sold} (201s) != consumed {consumed} (initial {initial} + restocked {restocked} - stock {stock})")
    oo = product.get("open_factory_order")
    in_flight = [(i, st) for i, st in open_ids if st in ("pending", "requested")]
    failed = [i for i, st in open_ids if st == "failed"]
    if failed:
        info["failed"] = failed  # the factory gave up: a pipeline problem, not a sales invariant
    if len(in_flight) > 1:
        problems.append(f"more than one order in flight at once: {in_flight}")
    if in_flight and (not oo or oo.get("id") != in_flight[0][0]):
        problems.append(f"order in flight {in_flight[0][0]} is not the product's open_factory_order ({oo})")
    if oo and oo.get("id") not in order_ids:
        problems.append(f"product's open_factory_order {oo.get('id')} was never seen by the run")
    if stock == 0 and not oo and not failed:
        problems.append("stock is 0 but no factory order is open")
    return problems, info


def soak_report(summary, rss_path):
    problems, lines = [], []
    soak = (summary or {}).get("soak") or {}
    buckets = soak.get("buckets") or []
    if buckets:
        lines.append("  p99 per bucket (%ss): %s" % (
            soak.get("bucket_ms", 60000) / 1000,
            ", ".join(f"#{b['minute']}={b['p99']:.1f}ms" for b in buckets)))
    drift = soak.get("p99_drift")
    if drift is not None:
        lines.append(f"  p99 drift (last/first): {drift:.2f}x")
        lim = os.environ.get("SOAK_MAX_P99_DRIFT")
        if lim and drift > float(lim):
            problems.append(f"p99 drift {drift:.2f}x > SOAK_MAX_P99_DRIFT={lim}")
    samples = []
    try:
        with open(rss_path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    samples.append((float(parts[0]), int(parts[1])))
    except OSError:
        pass
    if samples:
        first, last = samples[0][1], samples[-1][1]
        peak = max(s[1] for s in samples)
        growth_mb = (last - first) / 1024
        span = samples[-1][0] - samples[0][0]
        lines.append(f"  devstack VmRSS: start {first / 1024:.1f} MiB, end {last / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
                     f"growth {growth_mb:+.1f} MiB over {span:.0f}s ({len(samples)} samples)")
        lim = os.environ.get("SOAK_MAX_RSS_GROWTH_MB")
        if lim and growth_mb > float(lim):
            problems.append(f"RSS grew {growth_mb:.1f} MiB > SOAK_MAX_RSS_GROWTH_MB={lim}")
    elif os.path.exists(rss_path):
        lines.append("  devstack VmRSS: no samples")
    return problems, lines


def short(ids, n=5):
    ids = sorted(ids)
    return ", ".join(ids[:n]) + (f" … ({len(ids)} in all)" if len(ids) > n else "")


def fmt_ms(v):
    return "-" if v is None else (f"{v:.1f}ms" if v < 1000 else f"{v / 1000:.2f}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--scenarios", default="smoke flash-sale load soak")
    a = ap.parse_args()

    failed = False
    rows, notes = [], []
    for s in a.scenarios.split():
        summary = load_json(os.path.join(a.results, f"{s}.json"))
        rc = read_rc(os.path.join(a.results, f"{s}.rc"))
        problems = []
        if rc not in (0, None):
            problems.append(f"k6 exited {rc}" + (" (thresholds failed)" if rc == 99 else ""))
        if summary is None:
            problems.append("no summary JSON")
        else:
            problems += [f"threshold failed: {t}" for t in summary.get("failed_thresholds", [])]
            problems += [f"check failed {c['fails']}/{c['passes'] + c['fails']}: {c['name']}"
                         for c in summary.get("checks", []) if c.get("fails")]
        extra = []
        if s == "flash-sale" and summary is not None:
            p, info = verify_flash(summary, os.path.join(a.results, f"{s}.console.log"), a.base_url)
            problems += p
            if info:
                extra.append("  flash: sold {sold}, consumed {consumed} (initial {initial} + restocked {restocked} - stock {stock}), "
                             "orders {orders}, unfulfilled {open}".format(**info))
        if s == "soak" and summary is not None:
            p, lines = soak_report(summary, os.path.join(a.results, "soak.rss"))
            problems += p
            extra += lines
        reqs = metric(summary, "http_reqs", "count")
        dur = f"http_req_duration{{scenario:{s}}}"  # without setup()'s requests, when the scenario has it
        dur = dur if metric(summary, dur, "count") is not None else "http_req_duration"
        fail = f"http_req_failed{{scenario:{s}}}"
        fail = fail if metric(summary, fail, "rate") is not None else "http_req_failed"
        rows.append((s, "FAIL" if problems else "PASS", "-" if reqs is None else str(int(reqs)),
                     fmt_ms(metric(summary, dur, "p(95)")), fmt_ms(metric(summary, dur, "p(99)")),
                     "-" if metric(summary, fail, "rate") is None else f"{metric(summary, fail, 'rate') * 100:.2f}%"))
        notes += extra
        notes += [f"  {s}: {p}" for p in problems]
        failed = failed or bool(problems)

    print("\n== k6 scenarios ==")
    print(f"{'scenario':<12} {'result':<6} {'requests':>9} {'p95':>9} {'p99':>9} {'req_failed':>10}")
    for r in rows:
        print(f"{r[0]:<12} {r[1]:<6} {r[2]:>9} {r[3]:>9} {r[4]:>9} {r[5]:>10}")
    for n in notes:
        print(n)
    print("k6: " + ("FAILED" if failed else "all scenarios passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
