import t from 'tap';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientKey, createRateLimiter } from '../../src/api/rate-limit.js';
import { AppError } from '../../src/shared/errors.js';

function call(limit: ReturnType<typeof createRateLimiter>, request: Partial<FastifyRequest>) {
  const headers: Record<string, string> = {};
  const reply = { header: (name: string, value: string) => (headers[name] = value) } as unknown as FastifyReply;
  const url = request.url ?? '/v1/x';
  return limit.onRequest({ method: 'GET', url, routeOptions: { url: url.split('?')[0] }, ip: '192.0.2.1', principal: null, ...request } as FastifyRequest, reply).then(
    () => ({ ok: true as const, headers }),
    (error: AppError) => ({ ok: false as const, status: error.statusCode, code: error.code, headers }),
  );
}

t.test('a burst, then 429 with Retry-After, then refill', async (t) => {
  let now = 0;
  const limit = createRateLimiter({ capacity: 3, refillPerSecond: 1 }, () => now);
  const sponsor = { principal: { kind: 'sponsor' as const, sponsorId: 'amap', keyId: 'k1' } };
  for (let i = 0; i < 3; i++) t.ok((await call(limit, sponsor)).ok);
  const refused = await call(limit, sponsor);
  t.match(refused, { ok: false, status: 429, code: 'RATE_LIMITED', headers: { 'retry-after': '1' } });
  t.ok((await call(limit, { principal: { kind: 'sponsor', sponsorId: 'qq', keyId: 'k2' } })).ok, 'another key has its own budget');
  now += 1000;
  t.ok((await call(limit, sponsor)).ok, 'one token back after a second');
  t.notOk((await call(limit, sponsor)).ok);
});

t.test('exemptions and unauthenticated callers', async (t) => {
  const limit = createRateLimiter({ capacity: 1, refillPerSecond: 0.001 }, () => 0);
  t.ok((await call(limit, {})).ok);
  t.notOk((await call(limit, {})).ok, 'no token: limited by address');
  t.notOk((await call(limit, { headers: { authorization: 'Bearer guess-2' } })).ok, 'a wrong token does not get a fresh bucket');
  t.ok((await call(limit, { url: '/health' })).ok, 'operations endpoints are exempt');
  for (let i = 0; i < 5; i++) t.ok((await call(limit, { principal: { kind: 'admin' } })).ok, 'the operator is exempt');
});

t.test('sign-in attempts: a smaller budget per address, given back when the sign-in succeeds', async (t) => {
  let now = 0;
  const limit = createRateLimiter({ capacity: 100, refillPerSecond: 100, signIn: { capacity: 2, refillPerSecond: 0.5 } }, () => now);
  const attempt = { method: 'POST', url: '/app/login' } as const;
  const answer = (statusCode: number, ip = '192.0.2.1') => limit.onResponse({ ...attempt, routeOptions: { url: attempt.url }, ip } as unknown as FastifyRequest, { statusCode } as FastifyReply);
  t.ok((await call(limit, attempt)).ok);
  await answer(303);
  for (let i = 0; i < 2; i++) {
    t.ok((await call(limit, attempt)).ok, `failure ${i + 1} is allowed`);
    await answer(401);
  }
  t.match(await call(limit, attempt), { ok: false, status: 429, headers: { 'retry-after': '2' } }, 'then refused, before the key is checked');
  t.ok((await call(limit, { ...attempt, ip: '192.0.2.2' })).ok, 'another address has its own budget');
  t.ok((await call(limit, { url: '/app/login' })).ok, 'the sign-in page itself is a page view');
  now += 2000;
  t.ok((await call(limit, attempt)).ok, 'one attempt back after 2 s');
});

t.test('clients are keyed by address; IPv6 by its /64', async (t) => {
  t.equal(clientKey('192.0.2.1'), '192.0.2.1');
  t.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1', 'IPv4-mapped is IPv4');
  t.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  t.equal(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  t.not(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'));
});
