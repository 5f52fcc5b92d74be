import t from 'tap';
import { createApiKeyStore } from '../../src/api/api-keys.js';
import { manualClock } from '../../src/shared/clock.js';
import { SESSION_TTL_MS } from '../../src/web/session.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, signIn } from '../browser/web-fixture.js';
import { createMerchant, importSims, startSimStack } from './sims-support.js';

// Tenant isolation of the merchant portal (issue 5, DESIGN 5/6), on every /app/merchants route (read from
// fastify's route tree, so a new page is covered): another merchant's page is 403, another merchant's card
// or order under one's own path is 404 like an unknown one; sponsors and merchants cannot open each other's
// pages nor the admin's; the admin opens every merchant; a revoked key's session ends at the next request.

const clock = manualClock(Date.parse('2026-11-10T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock });
const web = browserLike(svc);

const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const sponsorKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;
const [cardA] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [1]);
const [cardB] = await importSims(svc, 'shop-b', TEST_ADMIN_TOKEN, [2]);
for (const [merchant, iccid, externalOrderId] of [
  ['shop-a', cardA, 'A-1'],
  ['shop-b', cardB, 'B-1'],
  // The same external id at both merchants: each sees its own only.
  ['shop-b', undefined, 'A-1'],
] as const) {
  const card = iccid ?? (await importSims(svc, merchant, TEST_ADMIN_TOKEN, [3]))[0];
  const sold = await svc.request('POST', '/v1/orders', { body: { merchant, externalOrderId, iccid: card, plan: 'iot-12m', buyer: { name: '张小三', phone: '13800000000' } } });
  if (sold.status !== 201) throw new Error(JSON.stringify(sold.body));
}

/** A webhook endpoint of each merchant (issue 14), for the delivery-log pages. */
const endpointOf = async (merchant: string) =>
  (await svc.request('POST', `/v1/merchants/${merchant}/webhooks`, { body: { url: 'https://hooks.example.com/isolation', eventTypes: ['order.paid'] } })).body.id as string;
const endpoints = { 'shop-a': await endpointOf('shop-a'), 'shop-b': await endpointOf('shop-b') };

/** Every GET route the app serves under a prefix, read from fastify's route tree. */
function routesUnder(prefix: string): string[] {
  const stack: Array<{ depth: number; path: string }> = [];
  const found: string[] = [];
  for (const line of svc.service.app.printRoutes({ commonPrefix: false }).split('\n')) {
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

const merchantRoutes = routesUnder('/app/merchants/');
const sponsorRoutes = routesUnder('/app/sponsors/');
const adminRoutes = routesUnder('/app/admin');
const urlFor = (route: string, merchant: string, ids: { iccid?: string; order?: string; endpoint?: string } = {}) =>
  route
    .replace(':id', merchant)
    .replace(':endpointId', ids.endpoint ?? (merchant === 'shop-b' ? endpoints['shop-b'] : endpoints['shop-a']))
    .replace(':iccid', ids.iccid ?? (merchant === 'shop-b' ? cardB! : cardA!))
    .replace(':externalOrderId', ids.order ?? (merchant === 'shop-b' ? 'B-1' : 'A-1'));
/** What a page answers when allowed: the merchant's root redirects to its cards. */
const okStatus = (route: string) => (route === '/app/merchants/:id' ? 303 : 200);

t.test('the route tree lists every merchant page', async (t) => {
  t.same(merchantRoutes.sort(), [
    '/app/merchants/:id',
    '/app/merchants/:id/alerts',
    '/app/merchants/:id/orders',
    '/app/merchants/:id/orders/:externalOrderId',
    '/app/merchants/:id/sims',
    '/app/merchants/:id/sims/:iccid',
    '/app/merchants/:id/statements',
    '/app/merchants/:id/webhooks',
    '/app/merchants/:id/webhooks/:endpointId',
  ]);
});

t.test('another merchant’s pages are 403, as on the API; its own are served', async (t) => {
  const cookie = await signIn(web, keyA);
  for (const route of merchantRoutes) {
    const response = await web('GET', urlFor(route, 'shop-b'), { cookie });
    t.equal(response.statusCode, 403, `shop-a → ${urlFor(route, 'shop-b')}`);
    t.match(response.headers['content-type'], /text\/html/);
    // (The refusal's language switch returns to the URL asked for, so the id itself is on the page.)
    t.notMatch(response.body, /Merchant shop-b|data-(iccid|order|gross|state)=/, 'nothing of shop-b’s on the refusal');
    t.equal((await web('GET', urlFor(route, 'nobody'), { cookie })).statusCode, 403, `${route} of an unknown merchant: 403 too (no probing for ids)`);
    t.equal((await web('GET', urlFor(route, 'Bad_Id'), { cookie })).statusCode, 403, `${route} with a malformed id: 403`);
    t.equal((await web('GET', urlFor(route, 'shop-a'), { cookie })).statusCode, okStatus(route), `own ${route}`);
  }
  t.equal((await svc.request('GET', '/v1/merchants/shop-b/settlements?month=2026-11', { token: keyA })).status, 403, 'the API answers the same');
});

t.test('another merchant’s card or order under one’s own path is 404, like an unknown one', async (t) => {
  const cookie = await signIn(web, keyA);
  const card = '/app/merchants/shop-a/sims/:iccid';
  t.equal((await web('GET', urlFor(card, 'shop-a', { iccid: cardB }), { cookie })).statusCode, 404, 'shop-b’s card');
  t.equal((await web('GET', urlFor(card, 'shop-a', { iccid: '89860619999999999999' }), { cookie })).statusCode, 404, 'an unknown card');
  t.equal((await web('GET', urlFor(card, 'shop-a', { iccid: 'abc' }), { cookie })).statusCode, 404, 'a malformed ICCID');
  const order = '/app/merchants/shop-a/orders/:externalOrderId';
  t.equal((await web('GET', urlFor(order, 'shop-a', { order: 'B-1' }), { cookie })).statusCode, 404, 'shop-b’s order');
  t.equal((await web('GET', urlFor(order, 'shop-a', { order: 'NOPE-9' }), { cookie })).statusCode, 404, 'an unknown order');
  const own = await web('GET', urlFor(order, 'shop-a', { order: 'A-1' }), { cookie });
  t.equal(own.statusCode, 200);
  t.match(own.body, `href="/app/merchants/shop-a/sims/${cardA}"`, 'its own A-1, not shop-b’s order of the same id');
  t.equal((await svc.request('GET', `/v1/sims/${cardB}`, { token: keyA })).status, 404, 'as the API says');
  const log = '/app/merchants/shop-a/webhooks/:endpointId';
  t.equal((await web('GET', urlFor(log, 'shop-a', { endpoint: endpoints['shop-b'] }), { cookie })).statusCode, 404, 'shop-b’s webhook endpoint');
  t.equal((await web('GET', urlFor(log, 'shop-a', { endpoint: 'we_000000000000000000000000' }), { cookie })).statusCode, 404, 'an unknown endpoint');
  // Lists never carry another merchant's rows.
  for (const url of ['/app/merchants/shop-a/sims', '/app/merchants/shop-a/orders', '/app/merchants/shop-a/statements']) {
    const body = (await web('GET', url, { cookie })).body;
    t.notMatch(body, cardB!, `${url}: not shop-b’s card`);
    t.notMatch(body, 'B-1', `${url}: not shop-b’s order`);
  }
});

t.test('sponsors cannot open merchant pages; merchants cannot open sponsor or admin pages', async (t) => {
  const sponsor = await signIn(web, sponsorKey);
  for (const route of merchantRoutes) t.equal((await web('GET', urlFor(route, 'shop-a'), { cookie: sponsor })).statusCode, 403, `sponsor → ${route}`);
  const merchant = await signIn(web, keyA);
  t.ok(sponsorRoutes.length >= 6 && adminRoutes.length >= 2, 'the sponsor and admin pages are found');
  for (const route of sponsorRoutes) {
    const url = route.replace(':id', 'amap').replace(':invoiceId', '1');
    t.equal((await web('GET', url, { cookie: merchant })).statusCode, 403, `merchant → ${url}`);
  }
  for (const route of adminRoutes) t.equal((await web('GET', route, { cookie: merchant })).statusCode, 403, `merchant → ${route}`);
  t.equal((await web('GET', '/app/sponsors/shop-a', { cookie: merchant })).statusCode, 403, 'not even a sponsor page named like the merchant');
});

t.test('the admin opens every merchant’s pages; an unknown merchant is 404', async (t) => {
  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  for (const route of merchantRoutes) {
    for (const merchant of ['shop-a', 'shop-b']) t.equal((await web('GET', urlFor(route, merchant), { cookie: admin })).statusCode, okStatus(route), `admin → ${urlFor(route, merchant)}`);
    t.equal((await web('GET', urlFor(route, 'nobody'), { cookie: admin })).statusCode, 404, `admin → unknown merchant ${route}`);
  }
  t.equal((await web('GET', urlFor('/app/merchants/:id/sims/:iccid', 'shop-a', { iccid: cardB }), { cookie: admin })).statusCode, 404, 'a card is found under its own merchant only');
  t.equal((await web('GET', urlFor('/app/merchants/:id/orders/:externalOrderId', 'shop-a', { order: 'B-1' }), { cookie: admin })).statusCode, 404);
});

t.test('signed-out visitors are sent to sign in; a bearer key is no session', async (t) => {
  for (const route of merchantRoutes) {
    const response = await web('GET', urlFor(route, 'shop-a'));
    t.equal(response.statusCode, 303, `signed out → ${route}`);
    t.match(response.headers.location, /^\/app\/login\?next=%2Fapp%2Fmerchants%2Fshop-a/);
  }
  const bearer = await svc.service.app.inject({ method: 'GET', url: '/app/merchants/shop-a/sims', headers: { authorization: `Bearer ${keyA}` } });
  t.equal(bearer.statusCode, 303, 'the web reads its session cookie only');
  const login = await web('POST', '/app/login', { form: { key: keyA, next: '/app/merchants/shop-a/statements' } });
  t.equal(login.headers.location, '/app/merchants/shop-a/statements', 'back where the merchant was going');
});

t.test('a revoked merchant key ends its sessions at the next request', async (t) => {
  const { key, keyId } = await createApiKeyStore(svc.service.pool, clock).create('merchant', 'shop-b');
  const cookie = await signIn(web, key);
  t.equal((await web('GET', '/app/merchants/shop-b/sims', { cookie })).statusCode, 200);
  t.equal((await svc.request('DELETE', `/v1/merchants/shop-b/keys/${keyId}`)).status, 204);
  const after = await web('GET', '/app/merchants/shop-b/sims', { cookie });
  t.equal(after.statusCode, 303);
  t.equal(after.headers.location, '/app/login?next=%2Fapp%2Fmerchants%2Fshop-b%2Fsims&ended=1');
  t.equal(after.cookies.find((c) => c.name === 'tbx_session')?.value, '', 'the dead cookie is cleared');
  for (const route of merchantRoutes) t.equal((await web('GET', urlFor(route, 'shop-b'), { cookie })).statusCode, 303, `ended on ${route}`);
  t.equal((await web('POST', '/app/login', { form: { key } })).statusCode, 401, 'and the key cannot sign in again');
  t.equal((await web('GET', '/app/merchants/shop-b/sims', { cookie: await signIn(web, keyB) })).statusCode, 200, 'the merchant’s other key still works');
});

t.test('merchant sessions expire after 8 hours and cannot be forged into another merchant', async (t) => {
  const cookie = await signIn(web, keyA);
  const [, body, signature] = cookie.replace('tbx_session=', '').split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  t.match(payload, { k: 'merchant', m: 'shop-a' });
  const forged = `tbx_session=v1.${Buffer.from(JSON.stringify({ ...payload, m: 'shop-b' })).toString('base64url')}.${signature}`;
  const response = await web('GET', '/app/merchants/shop-b/sims', { cookie: forged });
  t.equal(response.statusCode, 303, 'a forged cookie is no session');
  t.match(response.headers.location, /ended=1/);
  const ownKeyElsewhere = `tbx_session=v1.${Buffer.from(JSON.stringify({ ...payload, k: 'sponsor', s: 'amap', m: undefined })).toString('base64url')}.${signature}`;
  t.equal((await web('GET', '/app/sponsors/amap', { cookie: ownKeyElsewhere })).statusCode, 303, 'nor a merchant cookie turned into a sponsor one');
  clock.advance(SESSION_TTL_MS);
  t.equal((await web('GET', '/app/merchants/shop-a/sims', { cookie })).statusCode, 303, 'expired after 8 h');
  clock.advance(-SESSION_TTL_MS);
});

t.test('a key of a merchant that does not exist cannot sign in', async (t) => {
  const { key } = await createApiKeyStore(svc.service.pool, clock).create('merchant', 'ghost-shop');
  const response = await web('POST', '/app/login', { form: { key } });
  t.equal(response.statusCode, 401);
  t.equal(response.cookies.length, 0);
});
