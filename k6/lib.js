// Shared helpers for the k6 scenarios (no remote imports: everything is here).
//
// Environment (all optional):
//   BASE_URL     API base URL                      (default http://127.0.0.1:3000)
//   ADMIN_TOKEN  bearer token for /admin/*         (default dev-admin-token)
//   SUMMARY_DIR  where handleSummary writes <scenario>.json (default k6/results, relative to
//                the working directory; k6 does not create it: scripts/run-k6.sh does)
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
export const ADMIN_TOKEN = __ENV.ADMIN_TOKEN || 'dev-admin-token';
export const SUMMARY_DIR = (__ENV.SUMMARY_DIR || 'k6/results').replace(/\/+$/, '');

// Trend stats shown in the summary (p(99) is not in k6's default list).
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];

export const SKU_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const ORDER_STATUSES = ['pending', 'requested', 'fulfilled', 'failed'];

export function envInt(name, dflt) {
  const v = __ENV[name];
  if (v === undefined || v === '') return dflt;
  const n = parseInt(v, 10);
  if (Number.isNaN(n)) throw new Error(`${name} must be an integer, got ${v}`);
  return n;
}

export function envStr(name, dflt) {
  const v = __ENV[name];
  return v === undefined || v === '' ? dflt : v;
}

// "90s", "5m", "1h30m", "2m30s", "1500ms" or a bare number of seconds -> milliseconds.
export function durationMs(s) {
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  const unit = { h: 3600000, m: 60000, s: 1000, ms: 1 };
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  if (consumed !== s.length || consumed === 0) throw new Error(`bad duration: ${s}`);
  return Math.round(total);
}

function rand36(n) {
  let s = '';
  while (s.length < n) s += Math.random().toString(36).slice(2);
  return s.slice(0, n);
}

// A SKU unique to this run: `<prefix>-<time base36>-<random>` (valid SKU, well under 64 chars).
export function uniqueSku(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${rand36(4)}`;
}

export function uuidv4() {
  const h = '0123456789abcdef';
  let s = '';
  for (let i = 0; i < 32; i++) {
    let d = Math.floor(Math.random() * 16);
    if (i === 12) d = 4;
    if (i === 16) d = (d & 0x3) | 0x8;
    s += h[d];
    if (i === 7 || i === 11 || i === 15 || i === 19) s += '-';
  }
  return s;
}

// A correlation id matching [A-Za-z0-9._:-]{1,128}, traceable to the VU and iteration.
export function correlationId(tag) {
  let vu = 0;
  let it = 0;
  try {
    vu = exec.vu.idInTest;
    it = exec.vu.iterationInScenario;
  } catch (e) {
    // setup()/teardown(): no VU context
  }
  return `k6.${tag}:${vu}.${it}.${rand36(6)}`;
}

export function jsonHeaders(extra) {
  return Object.assign({ 'Content-Type': 'application/json', 'X-Correlation-Id': correlationId('req') }, extra || {});
}

export function adminHeaders(token, extra) {
  return jsonHeaders(Object.assign({ Authorization: `Bearer ${token === undefined ? ADMIN_TOKEN : token}` }, extra || {}));
}

// Parses a JSON body; null when absent or not JSON (never throws).
export function body(res) {
  if (!res || res.body === null || res.body === undefined || res.body === '') return null;
  try {
    return JSON.parse(res.body);
  } catch (e) {
    return null;
  }
}

export function putProduct(sku, product, params) {
  return http.put(`${BASE_URL}/admin/inventory/${sku}`, JSON.stringify(product),
    Object.assign({ headers: adminHeaders(), tags: { name: 'PUT /admin/inventory/{sku}' } }, params || {}));
}

// setup() helper: creates (or replaces) products, aborting the test if any PUT fails.
// products: [{sku, stock, reorder_point?, reorder_quantity?, name?}]
export function createProducts(products) {
  const reqs = products.map((p) => {
    const b = { stock: p.stock };
    for (const k of ['name', 'reorder_point', 'reorder_quantity']) if (p[k] !== undefined) b[k] = p[k];
    return {
      method: 'PUT',
      url: `${BASE_URL}/admin/inventory/${p.sku}`,
      body: JSON.stringify(b),
      params: { headers: adminHeaders(), tags: { name: 'setup: PUT /admin/inventory/{sku}' } },
    };
  });
  const out = [];
  for (let i = 0; i < reqs.length; i += 20) {
    for (const res of http.batch(reqs.slice(i, i + 20))) out.push(res);
  }
  out.forEach((res, i) => {
    const ok = check(res, { 'setup: PUT /admin/inventory/{sku} is 201/200': (r) => r.status === 201 || r.status === 200 });
    if (!ok) {
      throw new Error(`setup: PUT /admin/inventory/${products[i].sku} -> ${res.status} ${res.body} (is the API up at ${BASE_URL}? right ADMIN_TOKEN?)`);
    }
  });
  return out.map(body);
}

// setup() helper: sells a product's whole stock so a factory order opens; returns its id.
export function openFactoryOrder(sku, stock) {
  const res = http.post(`${BASE_URL}/sales`, JSON.stringify({ sku, quantity: stock }),
    { headers: jsonHeaders(), tags: { name: 'setup: POST /sales' } });
  const b = body(res);
  if (res.status !== 201 || !b || !b.factory_order) {
    throw new Error(`setup: selling out ${sku} did not open a factory order: ${res.status} ${res.body}`);
  }
  return b.factory_order.id;
}

// Picks a key from {key: weight} proportionally.
export function weighted(weights) {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  let r = Math.random() * total;
  for (const [k, w] of Object.entries(weights)) {
    r -= w;
    if (r < 0) return k;
  }
  return Object.keys(weights)[0];
}

// ---------------------------------------------------------------------------------------------
// Mixed traffic (load.js and soak.js): products from setup, factory order ids from setup.
// data: {skus: [...], orderIds: [...]}; weights: {inventory_one, inventory_list, sale, factory_order}
// Returns the response (tagged with `name`) so callers can record extra metrics.
export function mixedRequest(data, weights) {
  const kind = weighted(weights);
  const sku = data.skus[Math.floor(Math.random() * data.skus.length)];
  const params = (name) => ({ headers: jsonHeaders(), tags: { name } });
  let res;
  switch (kind) {
    case 'inventory_list':
      res = http.get(`${BASE_URL}/inventory`, params('GET /inventory'));
      check(res, {
        'GET /inventory 200': (r) => r.status === 200,
        'GET /inventory has products': (r) => { const b = body(r); return !!b && Array.isArray(b.products); },
      });
      break;
    case 'sale': {
      const quantity = 1 + Math.floor(Math.random() * 3);
      res = http.post(`${BASE_URL}/sales`, JSON.stringify({ sku, quantity }), params('POST /sales'));
      check(res, {
        'POST /sales 201 or 409': (r) => r.status === 201 || r.status === 409,
        'POST /sales body': (r) => {
          const b = body(r);
          if (!b) return false;
          if (r.status === 201) return b.sku === sku && b.quantity === quantity && b.remaining_stock >= 0;
          return b.error === 'out_of_stock' && b.available < quantity;
        },
      });
      break;
    }
    case 'factory_order': {
      const id = data.orderIds[Math.floor(Math.random() * data.orderIds.length)];
      res = http.get(`${BASE_URL}/factory-orders/${id}`, params('GET /factory-orders/{id}'));
      check(res, {
        'GET /factory-orders/{id} 200': (r) => r.status === 200,
        'GET /factory-orders/{id} body': (r) => { const b = body(r); return !!b && b.id === id && ORDER_STATUSES.includes(b.status); },
      });
      break;
    }
    default:
      res = http.get(`${BASE_URL}/inventory/${sku}`, params('GET /inventory/{sku}'));
      check(res, {
        'GET /inventory/{sku} 200': (r) => r.status === 200,
        'GET /inventory/{sku} body': (r) => { const b = body(r); return !!b && b.sku === sku && b.stock >= 0; },
      });
  }
  return res;
}

// setup() for load/soak: `n` products under a run-unique prefix, every `lowEvery`-th one with a
// small stock so stock-outs, factory orders and restocks happen during the run, plus `orders`
// products sold out at once so GET /factory-orders/{id} has ids to read.
export function setupMixed(prefix, n, stock, lowEvery, orders) {
  const run = uniqueSku(prefix);
  const products = [];
  for (let i = 0; i < n; i++) {
    const low = lowEvery > 0 && i % lowEvery === 0;
    products.push({ sku: `${run}-${i}`, stock: low ? 20 : stock, reorder_point: low ? 5 : 0, reorder_quantity: low ? 20 : 100 });
  }
  for (let i = 0; i < orders; i++) products.push({ sku: `${run}-o${i}`, stock: 1, reorder_point: 0, reorder_quantity: 10 });
  createProducts(products);
  const orderIds = [];
  for (let i = 0; i < orders; i++) orderIds.push(openFactoryOrder(`${run}-o${i}`, 1));
  return { run, skus: products.slice(0, n).map((p) => p.sku), orderIds, started: Date.now() };
}

// ---------------------------------------------------------------------------------------------
// End-of-test summary: JSON file + compact text table. `extra(data)` may add fields to the JSON.
function fmtNum(v, unit) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  if (unit === 'ms') return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(v < 10 ? 2 : 1)}ms`;
  if (unit === '%') return `${(v * 100).toFixed(2)}%`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function flattenChecks(group, out) {
  for (const c of group.checks || []) out.push({ path: group.path || '', name: c.name, passes: c.passes, fails: c.fails });
  for (const g of group.groups || []) flattenChecks(g, out);
  return out;
}

export function summaryTable(name, data, failedThresholds) {
  const lines = [];
  lines.push(`== k6 ${name}: ${failedThresholds.length === 0 ? 'PASS' : 'FAIL'} (${(data.state.testRunDurationMs / 1000).toFixed(1)}s) ==`);
  lines.push(`${pad('metric', 48)} ${pad('count/rate', 18)} ${pad('avg', 9)} ${pad('p95', 9)} ${pad('p99', 9)} ${pad('max', 9)} thresholds`);
  const names = Object.keys(data.metrics).sort();
  for (const m of names) {
    const met = data.metrics[m];
    const v = met.values;
    const th = met.thresholds ? Object.entries(met.thresholds).map(([k, t]) => `${t.ok ? 'ok' : 'FAIL'} ${k}`).join('; ') : '';
    // skip noisy built-ins unless they carry a threshold
    if (!th && /^(http_req_(blocked|connecting|tls_handshaking|sending|waiting|receiving)|data_(sent|received)|iteration_duration|vus|vus_max)$/.test(m)) continue;
    let cnt = '-';
    let unit = '';
    if (met.type === 'counter') cnt = fmtNum(v.count);
    else if (met.type === 'rate') cnt = `${fmtNum(v.rate, '%')} ${v.passes}/${v.passes + v.fails}`;
    else if (met.type === 'gauge') cnt = fmtNum(v.value);
    else if (met.type === 'trend') { cnt = fmtNum(v.count); unit = met.contains === 'time' ? 'ms' : ''; }
    const tr = met.type === 'trend';
    lines.push(`${pad(m, 48)} ${pad(cnt, 18)} ${pad(tr ? fmtNum(v.avg, unit) : '', 9)} ${pad(tr ? fmtNum(v['p(95)'], unit) : '', 9)} ${pad(tr ? fmtNum(v['p(99)'], unit) : '', 9)} ${pad(tr ? fmtNum(v.max, unit) : '', 9)} ${th}`);
  }
  const failedChecks = flattenChecks(data.root_group, []).filter((c) => c.fails > 0);
  for (const c of failedChecks) lines.push(`check FAILED ${c.fails}/${c.passes + c.fails}: ${c.path ? `${c.path} › ` : ''}${c.name}`);
  return `${lines.join('\n')}\n`;
}

// Returns a handleSummary implementation writing ${SUMMARY_DIR}/${name}.json and a table on stdout.
export function makeHandleSummary(name, extra) {
  return function handleSummary(data) {
    const failedThresholds = [];
    const metrics = {};
    for (const [m, met] of Object.entries(data.metrics)) {
      metrics[m] = { type: met.type, contains: met.contains, values: met.values };
      if (met.thresholds) {
        metrics[m].thresholds = met.thresholds;
        for (const [expr, t] of Object.entries(met.thresholds)) if (!t.ok) failedThresholds.push(`${m}: ${expr}`);
      }
    }
    const out = {
      scenario: name,
      base_url: BASE_URL,
      finished_at: new Date().toISOString(),
      duration_ms: data.state.testRunDurationMs,
      thresholds_ok: failedThresholds.length === 0,
      failed_thresholds: failedThresholds,
      checks: flattenChecks(data.root_group, []),
      metrics,
      setup_data: data.setup_data === undefined ? null : data.setup_data,
    };
    if (extra) Object.assign(out, extra(data));
    return {
      [`${SUMMARY_DIR}/${name}.json`]: JSON.stringify(out, null, 1),
      stdout: summaryTable(name, data, failedThresholds),
    };
  };
}
