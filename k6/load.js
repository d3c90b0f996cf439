// Load: steady mixed traffic over many SKUs at a constant arrival rate.
//   60% GET /inventory/{sku}, 10% GET /inventory, 25% POST /sales, 5% GET /factory-orders/{id}
// 200/201/202/409 are expected statuses (a 409 out_of_stock is a normal answer under load), so
// http_req_failed counts only the rest.
//
// Env: RATE (requests/s, default 50), DURATION (default 30s), SKUS (default 50), STOCK (default
//      1000; every 10th SKU gets 20 with reorder point 5, so stock-outs and restocks happen),
//      ORDERS (factory orders opened in setup for the GETs, default 3), PRE_VUS (20), MAX_VUS (200),
//      P95_MS (default 200), P99_MS (default 500), plus BASE_URL / ADMIN_TOKEN / SUMMARY_DIR.
import http from 'k6/http';
import {
  SUMMARY_TREND_STATS, envInt, envStr, makeHandleSummary, mixedRequest, setupMixed,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses(200, 201, 202, 409));

const P95 = envInt('P95_MS', 200);
const P99 = envInt('P99_MS', 500);

export const options = {
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 50),
      timeUnit: '1s',
      duration: envStr('DURATION', '30s'),
      preAllocatedVUs: envInt('PRE_VUS', 20),
      maxVUs: envInt('MAX_VUS', 200),
    },
  },
  thresholds: {
    // {scenario:load} leaves out setup()'s requests
    'http_req_failed{scenario:load}': ['rate<0.01'],
    'http_req_duration{scenario:load}': [`p(95)<${P95}`, `p(99)<${P99}`],
    'http_req_duration{name:POST /sales}': [`p(95)<${P95}`, `p(99)<${P99}`],
    'http_req_duration{name:GET /inventory/{sku}}': [`p(95)<${P95}`, `p(99)<${P99}`],
    'http_req_duration{name:GET /inventory}': [`p(95)<${P95 * 2}`, `p(99)<${P99 * 2}`],
    'http_req_duration{name:GET /factory-orders/{id}}': [`p(95)<${P95}`, `p(99)<${P99}`],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export const WEIGHTS = { inventory_one: 60, inventory_list: 10, sale: 25, factory_order: 5 };

export function setup() {
  return setupMixed('load', envInt('SKUS', 50), envInt('STOCK', 1000), 10, envInt('ORDERS', 3));
}

export default function (data) {
  mixedRequest(data, WEIGHTS);
}

export const handleSummary = makeHandleSummary('load');
