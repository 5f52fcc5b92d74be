import { Registry } from 'prom-client';
import t from 'tap';
import type { ApiKeyStore } from '../../src/api/api-keys.js';
import { buildApp, type AppOptions } from '../../src/api/app.js';
import { decideAudience, declaredAudience, type Audience } from '../../src/api/audience.js';
import type { FastifyZodInstance } from '../../src/api/types.js';
import { createLogger } from '../../src/shared/logger.js';

// Every route declares who may call it (src/api/audience.ts), and the declaration is what is enforced.

const ADMIN_TOKEN = 'unit-admin-token-0123456789abcdef0123456789';

function options(routes: AppOptions['routes']): AppOptions {
  return {
    logger: createLogger('silent'),
    adminToken: ADMIN_TOKEN,
    apiKeys: null,
    metrics: new Registry(),
    readiness: {},
    rateLimit: { capacity: 1000, refillPerSecond: 1000 },
    routes,
  };
}

t.test('a route without a declared audience fails startup, naming the route', async (t) => {
  await t.rejects(
    buildApp(options([(app) => app.get('/v1/forgotten', async () => ({ ok: true }))])),
    /route GET \/v1\/forgotten declares no audience/,
  );
  await t.rejects(
    buildApp(options([(app) => app.register(async (scope) => scope.post('/v1/nested/:id', async () => ({})), { prefix: '/x' })])),
    /route POST \/x\/v1\/nested\/:id declares no audience/,
    'in a plugin too',
  );
  await t.rejects(buildApp(options([(app) => app.get('/v1/odd', { config: { audience: ['everyone' as Audience] } }, async () => ({}))])), /unknown audience everyone/);
  await t.rejects(buildApp(options([(app) => app.get('/v1/empty', { config: { audience: [] } }, async () => ({}))])), /non-empty/);
  await t.rejects(buildApp(options([(app) => app.get('/v1/mixed', { config: { audience: ['public', 'admin'] } }, async () => ({}))])), /\['public'\] alone/);
  await t.rejects(buildApp(options([(app) => app.get('/v1/sponsors/:id/x', { config: { audience: ['merchant'] } }, async () => ({}))])), /a merchant on a sponsor's path/);
  await t.rejects(buildApp(options([(app) => app.get('/v1/y', { config: { audience: ['admin'], sessionGuard: true } }, async () => ({}))])), /sessionGuard is set by the dashboard/);
});

t.test('the route table lists every route with its audience; the docs are public', async (t) => {
  const app = await buildApp(options([(api) => api.get('/v1/thing', { config: { audience: ['admin'] } }, async () => ({ ok: true }))]));
  t.teardown(() => app.close());
  const table = app.routeTable;
  t.ok(Object.isFrozen(table), 'read-only');
  t.same(
    table.filter((r) => r.method === 'GET' && !r.url.startsWith('/docs')).map((r) => [r.url, r.audience]),
    [
      ['/health', ['public']],
      ['/ready', ['public']],
      ['/metrics', ['public']],
      ['/v1/thing', ['admin']],
    ],
  );
  const docs = table.filter((r) => r.url.startsWith('/docs'));
  t.ok(docs.length >= 4, 'the OpenAPI routes are listed');
  for (const route of docs) t.same(route.audience, ['public'], `${route.method} ${route.url}`);
  t.equal((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200, 'and served without a token');
});

t.test('the declared audience is what is enforced', async (t) => {
  const routes: Array<(app: FastifyZodInstance) => void> = [
    (api) => api.get('/v1/admin-thing', { config: { audience: ['admin'] } }, async () => ({ ok: true })),
    (api) => api.get('/v1/open', { config: { audience: ['public'] } }, async () => ({ ok: true })),
    (api) => api.post('/v1/sponsors/:id/things', { config: { audience: ['admin', 'sponsor'] } }, async () => ({ ok: true })),
    (api) => api.get('/v1/shared', { config: { audience: ['admin', 'sponsor', 'merchant'] } }, async () => ({ ok: true })),
  ];
  // Two keys, as the key store would resolve them.
  const owners: Record<string, { ownerKind: 'sponsor' | 'merchant'; ownerId: string; keyId: string }> = {
    'sk-amap': { ownerKind: 'sponsor', ownerId: 'amap', keyId: '0000000000000001' },
    'sk-shop': { ownerKind: 'merchant', ownerId: 'shop-a', keyId: '0000000000000002' },
  };
  const apiKeys = { verify: async (token: string) => owners[token] ?? null } as unknown as ApiKeyStore;
  const app = await buildApp({ ...options(routes), apiKeys });
  t.teardown(() => app.close());
  const call = async (method: 'GET' | 'POST', url: string, token?: string) =>
    (await app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(method === 'POST' ? { payload: {} } : {}) })).statusCode;
  t.equal(await call('GET', '/v1/admin-thing'), 401);
  t.equal(await call('GET', '/v1/admin-thing', 'sk-nobody'), 401, 'an unknown key is no principal');
  t.equal(await call('GET', '/v1/admin-thing', 'sk-amap'), 403, 'a tenant key on an admin path');
  t.equal(await call('GET', '/v1/admin-thing', ADMIN_TOKEN), 200);
  t.equal(await call('GET', '/v1/open'), 200);
  t.equal(await call('POST', '/v1/sponsors/amap/things'), 401);
  t.equal(await call('POST', '/v1/sponsors/amap/things', 'sk-amap'), 200, 'a sponsor on its own id');
  t.equal(await call('POST', '/v1/sponsors/qqmusic/things', 'sk-amap'), 403, 'another sponsor’s top-level id');
  t.equal(await call('POST', '/v1/sponsors/amap/things', 'sk-shop'), 403, 'a merchant key on a sponsor path');
  t.equal(await call('POST', '/v1/sponsors/qqmusic/things', ADMIN_TOKEN), 200);
  t.equal(await call('GET', '/v1/shared', 'sk-shop'), 200, 'no tenant path: the handler narrows');
  t.equal(await call('GET', '/v1/nothing-here'), 404, 'the not-found handler needs no audience');
});

t.test('decideAudience: 401, 403, tenant top-level paths', async (t) => {
  const admin = { kind: 'admin' } as const;
  const amap = { kind: 'sponsor', sponsorId: 'amap' } as const;
  const shop = { kind: 'merchant', merchantId: 'shop-a' } as const;
  const cases: Array<[readonly Audience[], string, typeof admin | typeof amap | typeof shop | null, Record<string, string>, string]> = [
    [['public'], '/health', null, {}, 'allow'],
    [['admin'], '/v1/vehicles', null, {}, 'unauthenticated'],
    [['admin'], '/v1/vehicles', amap, {}, 'forbidden'],
    [['admin'], '/v1/vehicles', shop, {}, 'forbidden'],
    [['admin'], '/v1/vehicles', admin, {}, 'allow'],
    [['admin', 'sponsor'], '/v1/sponsors/:id/usage', amap, { id: 'amap' }, 'allow'],
    [['admin', 'sponsor'], '/v1/sponsors/:id/usage', amap, { id: 'qqmusic' }, 'forbidden'],
    [['admin', 'sponsor'], '/v1/sponsors/:id', amap, { id: 'qqmusic' }, 'forbidden'],
    [['admin', 'sponsor'], '/v1/sponsors/:id/usage', admin, { id: 'qqmusic' }, 'allow'],
    [['admin', 'sponsor'], '/v1/sponsors/:id/usage', shop, { id: 'amap' }, 'forbidden'],
    [['admin', 'sponsor'], '/v1/vehicles/:vin/usage/:seq/explain', amap, { vin: 'X' }, 'allow'],
    [['admin', 'merchant'], '/app/merchants/:id/sims', shop, { id: 'shop-b' }, 'forbidden'],
    [['admin', 'merchant'], '/app/merchants/:id/sims', shop, { id: 'shop-a' }, 'allow'],
    [['admin', 'merchant'], '/v1/sims/:iccid', shop, { iccid: '89' }, 'allow'],
    [['admin', 'merchant'], '/v1/merchants/:id', shop, {}, 'forbidden'],
    [['admin', 'merchant'], '/v1/merchantsx/:id', shop, { id: 'other' }, 'allow'],
  ];
  for (const [audience, url, caller, params, expected] of cases) t.equal(decideAudience(audience, url, caller, params), expected, `${JSON.stringify(audience)} ${url} ${caller?.kind ?? 'nobody'} ${JSON.stringify(params)}`);
});

t.test('declaredAudience returns a frozen copy', async (t) => {
  const declared: Audience[] = ['admin', 'sponsor'];
  const audience = declaredAudience('GET', '/v1/sponsors/:id/usage', { audience: declared });
  declared.push('merchant');
  t.same(audience, ['admin', 'sponsor']);
  t.ok(Object.isFrozen(audience));
});
