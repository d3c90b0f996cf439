// Soak: a long steady run of the same mixed traffic as load.js at a lower rate, to watch latency
// drift (and, via scripts/run-k6.sh sampling the devstack's VmRSS, memory growth).
//
// Latency is also recorded in the Trend `latency_by_minute`, tagged `minute` = the bucket index
// since the scenario started (bucket width BUCKET, default 1m). Every bucket gets a threshold, so
// the summary JSON holds p(99) per bucket (`latency_by_minute{minute:N}`); handleSummary adds
// `soak.buckets` and `soak.p99_drift` (p99 of the last full bucket / p99 of the first).
//
// Env: DURATION (default 60s), RATE (default 20/s), BUCKET (default 1m), SKUS (50), STOCK (100000),
//      ORDERS (3), PRE_VUS (10), MAX_VUS (100), P95_MS (200), P99_MS (500),
//      plus BASE_URL / ADMIN_TOKEN / SUMMARY_DIR.
import http from 'k6/http';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';
import {
  SUMMARY_TREND_STATS, durationMs, envInt, envStr, makeHandleSummary, mixedRequest, setupMixed,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses(200, 201, 202, 409));

const DURATION = envStr('DURATION', '60s');
const BUCKET_MS = durationMs(envStr('BUCKET', '1m'));
const BUCKETS = Math.max(1, Math.ceil(durationMs(DURATION) / BUCKET_MS));
const P95 = envInt('P95_MS', 200);
const P99 = envInt('P99_MS', 500);

const thresholds = {
  // {scenario:soak} leaves out setup()'s requests
  'http_req_failed{scenario:soak}': ['rate<0.01'],
  'http_req_duration{scenario:soak}': [`p(95)<${P95}`, `p(99)<${P99}`],
  checks: ['rate>0.99'],
};
for (let i = 0; i < BUCKETS; i++) thresholds[`latency_by_minute{minute:${i}}`] = [`p(99)<${P99}`];

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: envInt('RATE', 20),
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: envInt('PRE_VUS', 10),
      maxVUs: envInt('MAX_VUS', 100),
    },
  },
  thresholds,
  summaryTrendStats: SUMMARY_TREND_STATS,
};

const latencyByMinute = new Trend('latency_by_minute', true);

const WEIGHTS = { inventory_one: 60, inventory_list: 10, sale: 25, factory_order: 5 };

export function setup() {
  // Large stock on most SKUs: a soak measures steady state, not stock-outs (every 10th SKU still
  // cycles through stock-out / restock to keep the pipeline busy).
  return setupMixed('soak', envInt('SKUS', 50), envInt('STOCK', 100000), 10, envInt('ORDERS', 3));
}

export default function (data) {
  const res = mixedRequest(data, WEIGHTS);
  const bucket = Math.min(BUCKETS - 1, Math.floor((Date.now() - exec.scenario.startTime) / BUCKET_MS));
  latencyByMinute.add(res.timings.duration, { minute: String(bucket) });
}

function soakExtra(data) {
  const buckets = [];
  for (let i = 0; i < BUCKETS; i++) {
    const m = data.metrics[`latency_by_minute{minute:${i}}`];
    if (m && m.values.count > 0) buckets.push({ minute: i, count: m.values.count, p99: m.values['p(99)'], p95: m.values['p(95)'] });
  }
  // the last bucket may be partial: use the last one that has at least half the first's samples
  const first = buckets[0];
  let last = buckets[buckets.length - 1];
  if (first && last && buckets.length > 1 && last.count < first.count / 2) last = buckets[buckets.length - 2];
  const drift = first && last && first.p99 > 0 ? last.p99 / first.p99 : null;
  return { soak: { bucket_ms: BUCKET_MS, buckets, p99_drift: drift } };
}

export const handleSummary = makeHandleSummary('soak', soakExtra);
