import t from 'tap';
import { makeIccid } from '../helpers/fixtures.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, signIn, SPLIT_RECORD, startWebFixture } from '../browser/web-fixture.js';

// Tenant isolation in the web UI (issue 4, DESIGN 5): a sponsor's session sees only its own data. Another
// sponsor's page is 403 (as the API's top-level path); another sponsor's invoice id or record under one's
// own path is 404, so existence does not leak; admin pages are the admin's. Checked on every /app route.

const fx = await startWebFixture(t);
const web = browserLike(fx.svc);
const [carA, carB] = fx.cars;
const amapInvoice = (await fx.svc.request('GET', '/v1/sponsors/amap/invoices')).body.invoices[0].id as string;
const qqInvoice = (await fx.svc.request('GET', '/v1/sponsors/qqmusic/invoices')).body.invoices[0].id as string;
/** A webhook endpoint of each sponsor (issue 14), for the delivery-log pages. */
const endpointOf = async (sponsor: string) =>
  (await fx.svc.request('POST', `/v1/sponsors/${sponsor}/webhooks`, { body: { url: 'https://hooks.example.com/isolation', eventTypes: ['invoice.issued'] } })).body.id as string;
const endpoints: Record<string, string> = { amap: await endpointOf('amap'), qqmusic: await endpointOf('qqmusic'), nobody: 'we_000000000000000000000000' };

/** Every GET route the app serves under a prefix, read from fastify's route tree (so a new page is covered). */
function routesUnder(prefix: string): string[] {
  const stack: Array<{ depth: number; path: string }> = [];
  const found: string[] = [];
  for (const line of fx.svc.service.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^(.*?)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length;
    while (stack.length > 0 && stack.at(-1)!.depth >= depth) stack.pop();
    const path = (stack.at(-1)?.path ?? '') + match[2]!;
    stack.push({ depth, path });
    if (match[3]?.split(', ').includes('GET') && path.startsWith(prefix)) found.push(path);
  }
  return found;
}

/** A concrete URL for a route pattern, for sponsor `sponsor` and invoice `invoice`. */
const urlFor = (route: string, sponsor: string, invoice: string, endpoint = endpoints[sponsor]!) =>
  // (car A: amap and qqmusic both pay for some of its traffic, so it is in both sponsors' console scope)
  route.replace(':id', sponsor).replace(':invoiceId', invoice).replace(':endpointId', endpoint).replace(':vin', carA.vin) + (route.endsWith('/explain') ? `?vin=${carA.vin}&seq=${SPLIT_RECORD.seq}&epoch=${SPLIT_RECORD.epoch}` : '');

const sponsorRoutes = routesUnder('/app/sponsors/');
const adminRoutes = routesUnder('/app/admin');

t.test('the route tree lists every sponsor and admin page', async (t) => {
  t.same(sponsorRoutes.sort(), [
    '/app/sponsors/:id',
    '/app/sponsors/:id/abuse-signals',
    '/app/sponsors/:id/accrual',
    '/app/sponsors/:id/alerts',
    '/app/sponsors/:id/explain',
    '/app/sponsors/:id/invoices',
    '/app/sponsors/:id/invoices/:invoiceId',
    '/app/sponsors/:id/invoices/:invoiceId/lines.csv',
    '/app/sponsors/:id/invoices/:invoiceId/usage.csv',
    '/app/sponsors/:id/search',
    '/app/sponsors/:id/vehicles/:vin',
    '/app/sponsors/:id/webhooks',
    '/app/sponsors/:id/webhooks/:endpointId',
  ]);
  t.same(adminRoutes.sort(), [
    '/app/admin',
    '/app/admin/abuse-signals',
    '/app/admin/breakage',
    '/app/admin/breakage.csv',
    '/app/admin/dead-letters',
    '/app/admin/reconciliation',
    '/app/admin/reconciliation.csv',
    '/app/admin/reconciliation/cards/:iccid',
  ]);
});

t.test('another sponsor’s pages are 403, as on the API', async (t) => {
  const cookie = await signIn(web, fx.keys.qqmusic);
  for (const route of sponsorRoutes) {
    const url = urlFor(route, 'amap', amapInvoice);
    const response = await web('GET', url, { cookie });
    t.equal(response.statusCode, 403, url);
    t.match(response.headers['content-type'], /text\/html/);
    t.notMatch(response.body, /navigation|4\.00|INV-amap/, 'nothing of amap’s on the refusal');
    t.equal((await web('GET', urlFor(route, 'nobody', amapInvoice), { cookie })).statusCode, 403, `${route} of an unknown sponsor: 403 too (no probing for ids)`);
    t.equal((await web('GET', urlFor(route, 'qqmusic', qqInvoice), { cookie })).statusCode, 200, `own ${route}: 200`);
  }
  // The API answers the same for the same key.
  t.equal((await fx.svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11', { token: fx.keys.qqmusic })).status, 403);
});

t.test('another sponsor’s invoice or record under one’s own path is 404', async (t) => {
  const cookie = await signIn(web, fx.keys.qqmusic);
  for (const route of sponsorRoutes.filter((r) => r.includes(':invoiceId'))) {
    const url = urlFor(route, 'qqmusic', amapInvoice);
    t.equal((await web('GET', url, { cookie })).statusCode, 404, url);
    t.equal((await web('GET', urlFor(route, 'qqmusic', '999999'), { cookie })).statusCode, 404, 'the same as an unknown id');
    t.equal((await web('GET', urlFor(route, 'qqmusic', 'abc'), { cookie })).statusCode, 404, 'or a malformed one');
  }
  for (const route of sponsorRoutes.filter((r) => r.includes(':endpointId'))) {
    t.equal((await web('GET', urlFor(route, 'qqmusic', qqInvoice, endpoints.amap), { cookie })).statusCode, 404, 'another sponsor’s webhook endpoint');
    t.equal((await web('GET', urlFor(route, 'qqmusic', qqInvoice, endpoints.nobody), { cookie })).statusCode, 404, 'the same as an unknown one');
    t.equal((await web('GET', urlFor(route, 'qqmusic', qqInvoice, 'we_x'), { cookie })).statusCode, 404, 'or a malformed one');
  }
  // Car B's navigation record (seq 2) is paid by amap alone: qqmusic may not learn it exists.
  const foreign = await web('GET', `/app/sponsors/qqmusic/explain?vin=${carB.vin}&seq=2&epoch=0`, { cookie });
  t.equal(foreign.statusCode, 404);
  const missing = await web('GET', `/app/sponsors/qqmusic/explain?vin=${carB.vin}&seq=424242&epoch=0`, { cookie });
  t.equal(missing.statusCode, 404);
  const strip = (page: string) => page.replace(/seq=\d+|\/ \d+|value="\d+"/g, '');
  t.equal(strip(foreign.body), strip(missing.body), 'not paying for a record looks exactly like no record');
  t.notMatch(foreign.body, /tile\.amap\.com|navigation/);
  const api = await fx.svc.request('GET', `/v1/vehicles/${carB.vin}/usage/2/explain`, { token: fx.keys.qqmusic });
  t.equal(api.status, 404, 'as the API says');
});

t.test('a sponsor sees none of another sponsor’s rates, vehicles or amounts on its own pages', async (t) => {
  const cookie = await signIn(web, fx.keys.ximalaya);
  const pages = [
    (await web('GET', '/app/sponsors/ximalaya', { cookie })).body,
    (await web('GET', '/app/sponsors/ximalaya?month=2026-10', { cookie })).body,
    (await web('GET', '/app/sponsors/ximalaya/invoices', { cookie })).body,
  ];
  for (const page of pages) {
    t.notMatch(page, /\b(amap|qqmusic|oem-acme|navigation|music|telemetry)\b/, 'no other sponsor or its apps');
    t.notMatch(page, /CNY (4|5|2\.5|8)\.00\b/, 'no other sponsor’s price');
  }
  t.match(pages[0], carB.vin, 'its own vehicle (car B played FM)');
  t.notMatch(pages[0], carA.vin, 'car A played no FM in November: not listed');
});

t.test('admin pages are the admin’s; signed-out visitors are sent to sign in', async (t) => {
  const sponsor = await signIn(web, fx.keys.oem);
  for (const route of adminRoutes) t.equal((await web('GET', route, { cookie: sponsor })).statusCode, 403, `sponsor → ${route}`);
  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  for (const route of adminRoutes) t.equal((await web('GET', route.replace(':iccid', makeIccid(1)), { cookie: admin })).statusCode, 200, `admin → ${route}`);
  for (const route of sponsorRoutes) {
    t.equal((await web('GET', urlFor(route, 'amap', amapInvoice), { cookie: admin })).statusCode, 200, `admin → amap ${route}`);
    t.equal((await web('GET', urlFor(route, 'nobody', amapInvoice), { cookie: admin })).statusCode, 404, `admin → unknown sponsor ${route}`);
    t.equal((await web('GET', urlFor(route, 'qqmusic', amapInvoice), { cookie: admin })).statusCode, route.includes(':invoiceId') ? 404 : 200, `admin: an invoice is found under its own sponsor only`);
  }
  for (const route of [...sponsorRoutes, ...adminRoutes]) {
    const response = await web('GET', urlFor(route, 'amap', amapInvoice));
    t.equal(response.statusCode, 303, `signed out → ${route}`);
    t.match(response.headers.location, /^\/app\/login\?next=/);
  }
  const bearer = await fx.svc.service.app.inject({ method: 'GET', url: '/app/sponsors/amap', headers: { authorization: `Bearer ${fx.keys.amap}` } });
  t.equal(bearer.statusCode, 303, 'the web reads its session cookie only, never a bearer token');
});
