import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import type { DeclaredRoute } from '../../src/api/audience.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, signIn, startWebFixture } from '../browser/web-fixture.js';
import { createMerchant, importSims, residentId, simRow } from './sims-support.js';

// The tenant matrix (issue 10, DESIGN 5), generated from the app's own route table — every route the app
// registers, the JSON API and the dashboard under /app, the operations and OpenAPI routes — so a new route is
// covered the moment it exists. For each route and its declared audience:
//   no credential → 401 (the dashboard: 303 to its sign-in page);
//   a tenant outside the audience (a sponsor or merchant key on an admin path) → 403;
//   a tenant on another tenant's top-level id (/v1/sponsors/{otherId}/…, /v1/merchants/{otherId}/…) → 403;
//   a tenant naming an object inside another tenant's scope (an invoice, a card, an order, a usage record) → 404;
// and, so none of that passes vacuously, each allowed caller reaches its own objects.
// Path parameters are filled from PARAMS by "<segment before>/<param>"; a parameter it does not know fails
// the test, as does a non-GET tenant route without a body in BODIES.

const fx = await startWebFixture(t);
const { svc } = fx;
const web = browserLike(svc);

// ---- fixtures: two sponsors and two merchants, each with a key, a session and objects of its own -----------

const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const [cardA] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [1]);
const [cardB] = await importSims(svc, 'shop-b', TEST_ADMIN_TOKEN, [2]);
const BUYER = { name: '张小三', phone: '13800000000' };
async function sell(merchant: string, iccid: string, externalOrderId: string): Promise<string> {
  const sold = await svc.request('POST', '/v1/orders', { body: { merchant, externalOrderId, iccid, plan: 'iot-12m', buyer: BUYER } });
  if (sold.status !== 201) throw new Error(`order: ${sold.status} ${JSON.stringify(sold.body)}`);
  return sold.body.einvoices[0].id as string;
}
const einvoiceA = await sell('shop-a', cardA!, 'A-1');
const einvoiceB = await sell('shop-b', cardB!, 'B-1');
const invoiceOf = async (sponsor: string) => (await svc.request('GET', `/v1/sponsors/${sponsor}/invoices`)).body.invoices[0].id as string;
const [carA, carB] = fx.cars;
// The console's sponsor vehicle pages (issue 14): a vehicle is in a sponsor's scope when it paid for some of
// its traffic this month or last, so each side needs a car only its sponsor pays for (cars A and B carry both).
async function carPaidBy(serial: number, host: string): Promise<string> {
  const car = await svc.registerVehicle(serial, { model: 'A7' });
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    const record = { seq: 1, start: '2026-11-05T10:00:00+08:00', end: '2026-11-05T10:00:00+08:00', up: 1000, down: 5_000_000, host, port: 443, proto: 'tcp' };
    await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, epoch: '0', records: [record] }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
  return car.vin;
}
const amapOnlyCar = await carPaidBy(701, 'tile.amap.com');
const qqmusicOnlyCar = await carPaidBy(702, 'u.y.qq.com');
async function webhookOf(path: string): Promise<string> {
  const created = await svc.request('POST', `${path}/webhooks`, { body: { url: 'https://hooks.example/matrix', eventTypes: ['invoice.issued'] } });
  if (created.status !== 201) throw new Error(`webhook: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id as string;
}
async function alertOf(path: string, body: Record<string, unknown>): Promise<string> {
  const created = await svc.request('POST', `${path}/alerts`, { body });
  if (created.status !== 201) throw new Error(`alert: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id as string;
}

type ParamKey = string;
type Values = Record<ParamKey, string>;
type Side = 'A' | 'B';
type Kind = 'sponsor' | 'merchant';

/** Path parameter values on each side: sponsor A is amap, B qqmusic; merchant A is shop-a, B shop-b. */
const PARAMS: Record<Side, Values> = {
  A: {
    'sponsors/:id': 'amap',
    'invoices/:invoiceId': await invoiceOf('amap'),
    // October navigation on car A: amap alone pays for it
    'vehicles/:vin': carA.vin,
    'usage/:seq': '1',
    'sponsors:vehicles/:vin': amapOnlyCar,
    'merchants/:id': 'shop-a',
    'sims/:iccid': cardA!,
    'cards/:iccid': cardA!,
    'orders/:externalOrderId': 'A-1',
    'einvoices/:id': einvoiceA,
    'keys/:keyId': '0123456789abcdef',
    'sponsors:webhooks/:endpointId': await webhookOf('/v1/sponsors/amap'),
    'merchants:webhooks/:endpointId': await webhookOf('/v1/merchants/shop-a'),
    'sponsors:alerts/:alertId': await alertOf('/v1/sponsors/amap', { kind: 'mtd_amount', amount: '100.00' }),
    'merchants:alerts/:alertId': await alertOf('/v1/merchants/shop-a', { kind: 'service_until_within', days: 30 }),
    // (no route reads a delivery: only replay names one, and a tenant's own replay is not sent)
    'deliveries/:deliveryId': '1',
    'periods/:month': '2026-10',
    'static/*': 'index.css',
  },
  B: {
    'sponsors/:id': 'qqmusic',
    'invoices/:invoiceId': await invoiceOf('qqmusic'),
    // November music on car B, under the cap: qqmusic alone pays for it
    'vehicles/:vin': carB.vin,
    'usage/:seq': '1',
    'sponsors:vehicles/:vin': qqmusicOnlyCar,
    'merchants/:id': 'shop-b',
    'sims/:iccid': cardB!,
    'cards/:iccid': cardB!,
    'orders/:externalOrderId': 'B-1',
    'einvoices/:id': einvoiceB,
    'keys/:keyId': 'fedcba9876543210',
    'sponsors:webhooks/:endpointId': await webhookOf('/v1/sponsors/qqmusic'),
    'merchants:webhooks/:endpointId': await webhookOf('/v1/merchants/shop-b'),
    'sponsors:alerts/:alertId': await alertOf('/v1/sponsors/qqmusic', { kind: 'mtd_amount', amount: '100.00' }),
    'merchants:alerts/:alertId': await alertOf('/v1/merchants/shop-b', { kind: 'service_until_within', days: 30 }),
    'deliveries/:deliveryId': '2',
    'periods/:month': '2026-10',
    'static/*': 'index.css',
  },
};
const TOP_LEVEL: Record<Kind, ParamKey> = { sponsor: 'sponsors/:id', merchant: 'merchants/:id' };

/** Query strings a route needs to answer its own caller (and the dashboard's explain form names its record here). */
const QUERIES: Record<string, (v: Values) => string> = {
  'GET /v1/sponsors/:id/usage': () => 'month=2026-11',
  'GET /v1/merchants/:id/orders': () => 'month=2026-11',
  'GET /v1/merchants/:id/settlements': () => 'month=2026-11',
  'GET /v1/merchants/:id/einvoices': () => 'month=2026-11',
  'GET /v1/sponsors/:id/abuse-signals': () => 'month=2026-11',
  'GET /v1/reconciliation': () => 'month=2026-11',
  'GET /v1/reconciliation/cards/:iccid': () => 'month=2026-11',
  'GET /v1/reconciliation/days.csv': () => 'month=2026-11',
  'GET /v1/breakage': () => 'month=2026-11',
  'GET /v1/breakage.csv': () => 'month=2026-11',
  'GET /v1/abuse-signals': () => 'month=2026-11',
  'GET /app/sponsors/:id/explain': (v) => `vin=${v['vehicles/:vin']}&seq=${v['usage/:seq']}&epoch=0`,
};

/** A valid body for every non-GET route a tenant may call: with it, only the tenant's scope can refuse. */
const BODIES: Record<string, (v: Values) => unknown> = {
  'POST /v1/merchants/:id/sims': () => ({ sims: [simRow(90)] }),
  'POST /v1/sims/:iccid/test': () => ({ reason: 'matrix' }),
  'POST /v1/sims/:iccid/test/end': () => ({ reason: 'matrix' }),
  'POST /v1/sims/:iccid/activate': () => ({ reason: 'matrix' }),
  'POST /v1/sims/:iccid/suspend': () => ({ reason: 'matrix' }),
  'POST /v1/sims/:iccid/resume': () => ({ reason: 'matrix' }),
  'POST /v1/sims/:iccid/retire': () => ({ reason: 'matrix' }),
  'POST /v1/sims/:iccid/real-name': () => ({ type: 'individual', name: BUYER.name, idNumber: residentId(1), livenessToken: 'pass-ok' }),
  'POST /v1/sims/:iccid/recharges': () => ({ externalOrderId: 'M-R1', plan: 'iot-12m' }),
  'POST /v1/orders': (v) => ({ merchant: v['merchants/:id'], externalOrderId: 'M-1', iccid: v['sims/:iccid'], plan: 'iot-12m', buyer: BUYER }),
  'POST /v1/orders/:externalOrderId/refund': () => ({ reason: 'matrix' }),
  'POST /v1/einvoices/:id/retry': () => undefined,
  'POST /v1/sponsors/:id/webhooks': () => ({ url: 'https://hooks.example/other', eventTypes: ['invoice.issued'] }),
  'DELETE /v1/sponsors/:id/webhooks/:endpointId': () => undefined,
  'POST /v1/sponsors/:id/webhooks/:endpointId/deliveries/:deliveryId/replay': () => undefined,
  'POST /v1/merchants/:id/webhooks': () => ({ url: 'https://hooks.example/other', eventTypes: ['order.paid'] }),
  'DELETE /v1/merchants/:id/webhooks/:endpointId': () => undefined,
  'POST /v1/merchants/:id/webhooks/:endpointId/deliveries/:deliveryId/replay': () => undefined,
  'POST /v1/sponsors/:id/alerts': () => ({ kind: 'mtd_amount', amount: '5.00' }),
  'DELETE /v1/sponsors/:id/alerts/:alertId': () => undefined,
  'POST /v1/merchants/:id/alerts': () => ({ kind: 'service_until_within', days: 7 }),
  'DELETE /v1/merchants/:id/alerts/:alertId': () => undefined,
  // (the dashboard's forms: the matrix sends no form, so the CSRF check refuses what the scope lets through)
  'POST /app/sponsors/:id/alerts': () => undefined,
  'POST /app/sponsors/:id/alerts/:alertId/delete': () => undefined,
  'POST /app/merchants/:id/alerts': () => undefined,
  'POST /app/merchants/:id/alerts/:alertId/delete': () => undefined,
  // The dashboard's forms are posted without a body here: no CSRF token, so even an allowed one changes nothing.
  'POST /app/sponsors/:id/webhooks': () => undefined,
  'POST /app/sponsors/:id/webhooks/:endpointId/delete': () => undefined,
  'POST /app/sponsors/:id/webhooks/:endpointId/deliveries/:deliveryId/replay': () => undefined,
  'POST /app/merchants/:id/webhooks': () => undefined,
  'POST /app/merchants/:id/webhooks/:endpointId/delete': () => undefined,
  'POST /app/merchants/:id/webhooks/:endpointId/deliveries/:deliveryId/replay': () => undefined,
};

/**
 * The dashboard and the API expect these routes, and only these, to need no credential. Listed by hand on
 * purpose: making a route public is a decision to review, not a default.
 */
const PUBLIC_ROUTES = [
  'GET /health',
  'GET /ready',
  'GET /metrics',
  'GET /docs',
  'GET /docs/static/index.html',
  'GET /docs/static/swagger-initializer.js',
  'GET /docs/json',
  'GET /docs/yaml',
  'GET /docs/static/*',
  'GET /app',
  'GET /app/login',
  'POST /app/login',
  'POST /app/logout',
  'POST /app/lang',
  'GET /app/assets/echarts.min.js',
  'GET /app/assets/dashboard.js',
  'GET /app/assets/app.css',
];

// ---- callers ----------------------------------------------------------------------------------------------

interface Caller {
  name: string;
  kind: 'admin' | Kind;
  side: Side;
  key: string;
  cookie: string;
}
const callers: Caller[] = [];
for (const [name, kind, side, key] of [
  ['admin', 'admin', 'A', TEST_ADMIN_TOKEN],
  ['sponsor amap', 'sponsor', 'A', fx.keys.amap],
  ['sponsor qqmusic', 'sponsor', 'B', fx.keys.qqmusic],
  ['merchant shop-a', 'merchant', 'A', keyA],
  ['merchant shop-b', 'merchant', 'B', keyB],
] as const) {
  callers.push({ name, kind, side, key, cookie: await signIn(web, key) });
}

// ---- requests ---------------------------------------------------------------------------------------------

const isDashboard = (route: DeclaredRoute) => route.url === '/app' || route.url.startsWith('/app/');
const routeKey = (route: DeclaredRoute) => `${route.method} ${route.url}`;

/**
 * The parameter at `segments[i]`, named by the segment before it ("sims/:iccid"); an object a sponsor and a
 * merchant both own under one name (a webhook endpoint) is named with its top-level collection as well
 * ("sponsors:webhooks/:endpointId"), when PARAMS knows it so.
 */
function keyAt(segments: readonly string[], i: number): ParamKey {
  const plain = `${segments[i - 1]}/${segments[i]}`;
  const qualified = `${segments[2]}:${plain}`;
  return qualified in PARAMS.A ? qualified : plain;
}

/** The route's parameters in path order (see {@link keyAt}). */
function paramKeys(url: string): ParamKey[] {
  const segments = url.split('/');
  return segments.flatMap((segment, i) => (segment.startsWith(':') || segment === '*' ? [keyAt(segments, i)] : []));
}

/** A concrete request for the route with these values; records which values it used (path, query, body). */
function requestFor(route: DeclaredRoute, values: Values): { url: string; body: unknown; used: Set<ParamKey> } {
  const used = new Set<ParamKey>();
  const tracked = new Proxy(values, {
    get(target, key: string) {
      if (!(key in target)) throw new Error(`${routeKey(route)}: no value for ${key} in PARAMS`);
      used.add(key);
      return target[key];
    },
  });
  const segments = route.url.split('/');
  const path = segments.map((segment, i) => (segment.startsWith(':') || segment === '*' ? encodeURIComponent(tracked[keyAt(segments, i)]!) : segment)).join('/');
  const query = QUERIES[routeKey(route)]?.(tracked);
  const body = BODIES[routeKey(route)]?.(tracked);
  return { url: query ? `${path}?${query}` : path, body, used };
}

let address = 1;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One request as `caller` (null: no credential): a bearer key on the API, the session cookie on the dashboard. */
async function send(route: DeclaredRoute, caller: Caller | null, values: Values): Promise<LightMyRequestResponse> {
  const { url, body } = requestFor(route, values);
  for (;;) {
    const response = isDashboard(route)
      ? await web(route.method as 'GET' | 'POST', url, caller ? { cookie: caller.cookie } : {})
      : await svc.service.app.inject({
          method: route.method as 'GET',
          url,
          // An address per request: unauthenticated probes are limited per address, which is not under test here.
          remoteAddress: `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address++ & 255}`,
          headers: caller ? { authorization: `Bearer ${caller.key}` } : {},
          ...(body !== undefined ? { payload: body as object } : {}),
        });
    // Keys are rate-limited (DESIGN 5: 429 with Retry-After); this is a fast client, so it waits as told.
    if (response.statusCode !== 429) return response;
    await sleep(Number(response.headers['retry-after'] ?? 1) * 1000);
  }
}

const signInRedirect = (response: LightMyRequestResponse) => response.statusCode === 303 && String(response.headers.location).startsWith('/app/login?next=');
const describe = (response: LightMyRequestResponse) => `${response.statusCode}${response.headers.location ? ` → ${String(response.headers.location)}` : ''} ${response.body.slice(0, 160)}`;

// ---- the matrix -------------------------------------------------------------------------------------------

const table = svc.service.app.routeTable;
const routes = table.filter((route) => route.method !== 'HEAD');

/** What the refused requests would change: shop-a's card, order and cards, amap's invoice, both tenants' keys. */
const snapshot = async () => ({
  cardA: (await svc.request('GET', `/v1/sims/${cardA}`)).body,
  orderA: (await svc.request('GET', '/v1/orders/A-1')).body,
  amapInvoice: (await svc.request('GET', `/v1/sponsors/amap/invoices/${PARAMS.A['invoices/:invoiceId']}`)).body,
  // (lastUsedAt moves with every request the matrix makes)
  keys: (await svc.request('GET', '/v1/sponsors/amap/keys')).body.keys.map((k: { keyId: string; revokedAt: string | null }) => [k.keyId, k.revokedAt]),
  merchantKeys: (await svc.request('GET', '/v1/merchants/shop-a/keys')).body.keys.map((k: { keyId: string; revokedAt: string | null }) => [k.keyId, k.revokedAt]),
  shopASims: (await svc.request('GET', '/v1/merchants/shop-a/sims')).body,
  webhooks: [(await svc.request('GET', '/v1/sponsors/amap/webhooks')).body, (await svc.request('GET', '/v1/merchants/shop-a/webhooks')).body],
  alerts: [(await svc.request('GET', '/v1/sponsors/amap/alerts')).body, (await svc.request('GET', '/v1/merchants/shop-a/alerts')).body],
});
const before = await snapshot();

t.test('the route table covers the API, the dashboard, operations and the OpenAPI document', async (t) => {
  for (const url of ['/v1/vehicles', '/v1/sims/:iccid', '/v1/sponsors/:id/invoices/:invoiceId', '/app/sponsors/:id', '/app/merchants/:id/sims/:iccid', '/app/admin', '/health', '/ready', '/metrics', '/docs/json']) {
    t.ok(routes.some((route) => route.url === url), url);
  }
  for (const head of table.filter((route) => route.method === 'HEAD')) {
    // (a plugin's "/" route is also served with a trailing slash under its prefix: "/app/")
    const get = table.find((route) => route.method === 'GET' && (route.url === head.url || `${route.url}/` === head.url));
    t.same(get?.audience, head.audience, `HEAD ${head.url} is its GET`);
  }
  t.same(routes.filter((route) => route.audience.includes('public')).map(routeKey).sort(), [...PUBLIC_ROUTES].sort(), 'exactly the reviewed routes are public');
  for (const route of routes) {
    for (const key of paramKeys(route.url)) t.ok(key in PARAMS.A && key in PARAMS.B, `${routeKey(route)}: PARAMS knows ${key}`);
    const tenantCalls = route.audience.includes('sponsor') || route.audience.includes('merchant');
    if (route.method !== 'GET' && tenantCalls) t.ok(routeKey(route) in BODIES, `${routeKey(route)}: BODIES has a body for it`);
  }
});

t.test('the fixtures are what the matrix assumes', async (t) => {
  for (const [side, payer] of [
    ['A', 'amap'],
    ['B', 'qqmusic'],
  ] as const) {
    const explained = await svc.request('GET', `/v1/vehicles/${PARAMS[side]['vehicles/:vin']}/usage/${PARAMS[side]['usage/:seq']}/explain`);
    t.same([...new Set(explained.body.allocations.map((a: { payer: string }) => a.payer))], [payer], `side ${side}'s record is paid by ${payer} alone`);
  }
});


for (const route of routes) {
  t.test(routeKey(route), async (t) => {
    const dashboard = isDashboard(route);

    if (route.audience.includes('public')) {
      const response = await send(route, null, PARAMS.A);
      t.not(response.statusCode, 403, `anyone: ${describe(response)}`);
      if (dashboard) t.notOk(signInRedirect(response), 'no sign-in asked');
      else t.not(response.statusCode, 401, `no token asked: ${describe(response)}`);
      return;
    }

    // No credential.
    const anonymous = await send(route, null, PARAMS.A);
    if (dashboard) t.ok(signInRedirect(anonymous), `signed out → 303 to sign in: ${describe(anonymous)}`);
    else {
      t.equal(anonymous.statusCode, 401, `no token → 401: ${describe(anonymous)}`);
      t.equal(anonymous.json().error.code, 'UNAUTHORIZED');
    }

    for (const caller of callers) {
      const allowed = route.audience.includes(caller.kind);
      if (!allowed) {
        // A tenant outside the audience — a sponsor or merchant key on an admin path, even on its own id.
        const response = await send(route, caller, PARAMS[caller.side]);
        t.equal(response.statusCode, 403, `${caller.name}, not in ${JSON.stringify(route.audience)} → 403: ${describe(response)}`);
        continue;
      }
      // Allowed callers reach their own objects (GET only: nothing is changed to prove it).
      if (route.method === 'GET') {
        const own = await send(route, caller, PARAMS[caller.side]);
        t.ok(![401, 403, 404].includes(own.statusCode) && !signInRedirect(own), `${caller.name} reaches its own: ${describe(own)}`);
      }
      if (caller.kind === 'admin') continue;

      const other: Side = caller.side === 'A' ? 'B' : 'A';
      const { used } = requestFor(route, PARAMS[other]);
      const topLevel = TOP_LEVEL[caller.kind];
      if (used.has(topLevel)) {
        // Another tenant's top-level id (with its objects) → 403.
        const response = await send(route, caller, PARAMS[other]);
        t.equal(response.statusCode, 403, `${caller.name} on ${PARAMS[other][topLevel]}'s path → 403: ${describe(response)}`);
      }
      const objects = [...used].filter((key) => key !== TOP_LEVEL.sponsor && key !== TOP_LEVEL.merchant);
      if (objects.length > 0) {
        // Another tenant's objects under the caller's own top-level id (or none) → 404, like an unknown one.
        const mixed = { ...PARAMS[other], [topLevel]: PARAMS[caller.side][topLevel]! };
        const response = await send(route, caller, mixed);
        t.equal(response.statusCode, 404, `${caller.name} naming ${objects.map((key) => `${key}=${mixed[key]}`).join(', ')} of ${other} → 404: ${describe(response)}`);
      }
    }
  });
}

t.test('nothing any refused request tried changed a thing', async (t) => {
  t.same(await snapshot(), before);
  t.equal((await svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11', { token: fx.keys.amap })).status, 200, 'amap’s key still works');
  t.equal((await svc.request('GET', '/v1/merchants/shop-a/sims', { token: keyA })).status, 200, 'shop-a’s key still works');
});
