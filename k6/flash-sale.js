// Flash sale: a spike of single-donut sales on ONE hot SKU. Only 201 and 409 are acceptable, the
// stock must never go negative, nothing may be sold twice or lost, and every stock-out must open
// exactly one factory order.
//
// Env: STOCK (initial stock, default 200), PEAK_RATE (sales/s at the peak, default 300),
//      DURATION (whole spike, default 30s), PRE_VUS (default 50), MAX_VUS (default 300),
//      RESTOCK (reorder_quantity of the hot SKU, default 100), plus BASE_URL / ADMIN_TOKEN / SUMMARY_DIR.
//
// How the "sold == consumed" invariant is verified. k6 VUs share no state, teardown() cannot read
// the VUs' counters and handleSummary() cannot make HTTP calls, so the proof is split in three:
//   1. VUs: every sale is quantity 1 with a unique Idempotency-Key; each 201 increments the
//      Counter `sales_ok`. A 201 carrying a factory_order (only the sale that takes the stock to 0,
//      reorder point being 0) increments `stockout_sales` and logs one line
//      `FLASH_ORDER {"id":..,"via":"sale","remaining":..}`; the first time a VU sees an order id in
//      a 409 body it logs `FLASH_ORDER {"id":..,"via":"409"}`. Local invariants (negative
//      remaining stock, a 409 with available > 0, a 409 without a factory order, a factory order on
//      a sale that did not empty the stock) are counted in `invariant_violations` (threshold 0).
//   2. teardown(): reads GET /inventory/{sku} and logs `FLASH_RESULT {"sku","initial","restock",
//      "stock","open_factory_order"}`; it fails a check if the stock is negative or unreadable.
//   3. scripts/run-k6.sh (which runs k6 with --console-output) collects the FLASH_* lines and the
//      summary JSON: consumed = initial + Σ quantity of the FLASH_ORDER orders that are fulfilled
//      (read via GET /factory-orders/{id}) − current stock; it fails unless sales_ok == consumed,
//      each order id was opened by exactly one sale, every id seen in a 409 was opened by a sale,
//      stockout_sales == number of distinct orders, and at most one order is still open (the
//      product's open_factory_order). With a fast factory a run sees several stock-out/restock
//      cycles; each must have produced exactly one order.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import {
  BASE_URL, SUMMARY_TREND_STATS, body, createProducts, durationMs, envInt, envStr, jsonHeaders, makeHandleSummary, uniqueSku,
} from './lib.js';

const STOCK = envInt('STOCK', 200);
const PEAK_RATE = envInt('PEAK_RATE', 300);
const DURATION_S = Math.max(3, Math.round(durationMs(envStr('DURATION', '30s')) / 1000));
const RESTOCK = envInt('RESTOCK', 100);

// 409 is a normal answer here: http_req_failed counts only the other statuses.
http.setResponseCallback(http.expectedStatuses(200, 201, 409));

const rampUp = Math.max(1, Math.round(DURATION_S * 0.2));
const rampDown = Math.max(1, Math.round(DURATION_S * 0.1));
const hold = Math.max(1, DURATION_S - rampUp - rampDown);

export const options = {
  scenarios: {
    flash: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.round(PEAK_RATE / 20)),
      timeUnit: '1s',
      preAllocatedVUs: envInt('PRE_VUS', Math.min(50, PEAK_RATE)),
      maxVUs: envInt('MAX_VUS', Math.max(PEAK_RATE, 50)),
      stages: [
        { target: PEAK_RATE, duration: `${rampUp}s` },
        { target: PEAK_RATE, duration: `${hold}s` },
        { target: 0, duration: `${rampDown}s` },
      ],
    },
  },
  thresholds: {
    unexpected_status: ['rate==0'],
    invariant_violations: ['count==0'],
    sales_ok: ['count>0'],
    checks: ['rate==1'],
    'http_req_duration{name:POST /sales}': [`p(99)<${envInt('P99_MS', 2000)}`],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

const salesOk = new Counter('sales_ok');
const outOfStock = new Counter('out_of_stock');
const stockoutSales = new Counter('stockout_sales');
const violations = new Counter('invariant_violations');
const unexpected = new Rate('unexpected_status');

export function setup() {
  const sku = uniqueSku('flash');
  createProducts([{ sku, name: 'Flash sale', stock: STOCK, reorder_point: 0, reorder_quantity: RESTOCK }]);
  console.log(`FLASH_SETUP ${JSON.stringify({ sku, initial: STOCK, restock: RESTOCK })}`);
  return { sku, initial: STOCK, restock: RESTOCK };
}

const seen = {}; // per VU: factory order ids already logged from 409 bodies

function violation(kind, detail) {
  violations.add(1, { kind });
  console.warn(`FLASH_VIOLATION ${JSON.stringify({ kind, detail })}`);
}

export default function (data) {
  const key = `${data.sku}-${exec.scenario.iterationInTest}`;
  const res = http.post(`${BASE_URL}/sales`, JSON.stringify({ sku: data.sku, quantity: 1 }),
    { headers: jsonHeaders({ 'Idempotency-Key': key }), tags: { name: 'POST /sales' } });
  const ok = res.status === 201 || res.status === 409;
  unexpected.add(!ok, { status: String(res.status) });
  check(res, { 'status is 201 or 409': () => ok });
  const b = body(res);
  if (res.status === 201) {
    salesOk.add(1);
    if (!b || b.quantity !== 1 || !(b.remaining_stock >= 0)) violation('bad_sale', res.body);
    if (b && b.factory_order) {
      stockoutSales.add(1);
      if (b.remaining_stock !== 0) violation('order_without_stockout', res.body);
      console.log(`FLASH_ORDER ${JSON.stringify({ id: b.factory_order.id, via: 'sale', remaining: b.remaining_stock })}`);
    }
  } else if (res.status === 409) {
    outOfStock.add(1);
    if (!b || b.error !== 'out_of_stock' || b.available !== 0) violation('bad_out_of_stock', res.body);
    else if (!b.factory_order) violation('stockout_without_order', res.body);
    else if (!seen[b.factory_order.id]) {
      seen[b.factory_order.id] = true;
      console.log(`FLASH_ORDER ${JSON.stringify({ id: b.factory_order.id, via: '409' })}`);
    }
  }
}

export function teardown(data) {
  const res = http.get(`${BASE_URL}/inventory/${data.sku}`, { headers: jsonHeaders(), tags: { name: 'GET /inventory/{sku}' } });
  const p = body(res) || {};
  check(res, {
    'teardown: product readable': (r) => r.status === 200 && p.sku === data.sku,
    'teardown: stock never negative': () => Number.isInteger(p.stock) && p.stock >= 0,
  });
  console.log(`FLASH_RESULT ${JSON.stringify({
    sku: data.sku, initial: data.initial, restock: data.restock,
    stock: p.stock === undefined ? null : p.stock,
    open_factory_order: p.open_factory_order === undefined ? null : p.open_factory_order,
  })}`);
}

export const handleSummary = makeHandleSummary('flash-sale');
