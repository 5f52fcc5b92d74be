import t from 'tap';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createRateLimiter } from '../../src/api/rate-limit.js';
import { AppError } from '../../src/shared/errors.js';

function call(limit: ReturnType<typeof createRateLimiter>, request: Partial<FastifyRequest>) {
  const headers: Record<string, string> = {};
  const reply = { header: (name: string, value: string) => (headers[name] = value) } as unknown as FastifyReply;
  return limit({ url: '/v1/x', ip: '192.0.2.1', principal: null, ...request } as FastifyRequest, reply).then(
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
