import t from 'tap';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../helpers/service.js';

// Issue 10: the session cookie is Secure whenever the browser reached the service over https, including
// through a TLS-terminating proxy named in TRUST_PROXY (and only then: a client cannot claim https itself);
// the sign-in page is throttled per client address, the address a trusted proxy reports when TRUST_PROXY
// names it, the socket's otherwise (a forged X-Forwarded-For is ignored), so one client cannot lock
// everyone else out.

const HOST = 'billing.test';
const PROXY = '127.0.0.1';

const direct = await startTestService(t);
const proxied = await startTestService(t, { TRUST_PROXY: PROXY });

const sponsorKey = async (svc: TestService) => (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;
const keys = { direct: await sponsorKey(direct), proxied: await sponsorKey(proxied) };

function signInFrom(svc: TestService, remoteAddress: string, key: string, headers: Record<string, string> = {}) {
  return svc.service.app.inject({
    method: 'POST',
    url: '/app/login',
    remoteAddress,
    headers: { host: HOST, origin: `${headers['x-forwarded-proto'] ?? 'http'}://${HOST}`, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams({ key }).toString(),
  });
}

/** Wrong keys from one client until the service says 429 (at most `max` tries); the number of tries. */
async function hammer(send: (i: number) => Promise<{ statusCode: number; headers: Record<string, unknown> }>, max = 200): Promise<{ tries: number; last: { statusCode: number; headers: Record<string, unknown> } }> {
  let last = await send(0);
  let tries = 1;
  while (last.statusCode !== 429 && tries < max) last = await send(tries++);
  return { tries, last };
}

const sessionCookie = (response: { cookies: Array<{ name: string; value: string; secure?: boolean }> }) => response.cookies.find((c) => c.name === 'tbx_session');

t.test('the cookie is Secure when a trusted proxy says the browser came over https', async (t) => {
  const https = await signInFrom(proxied, PROXY, keys.proxied, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.20' });
  t.equal(https.statusCode, 303);
  t.equal(sessionCookie(https)?.secure, true, 'https through the proxy: Secure');
  t.match(String(https.headers['set-cookie']), /; Secure/);

  const http = await signInFrom(proxied, PROXY, keys.proxied, { 'x-forwarded-proto': 'http', 'x-forwarded-for': '198.51.100.21' });
  t.equal(http.statusCode, 303);
  t.notOk(sessionCookie(http)?.secure, 'plain http through the proxy: not Secure');

  const cookie = `tbx_session=${sessionCookie(https)!.value}`;
  const page = await proxied.service.app.inject({ method: 'GET', url: '/app/sponsors/amap', remoteAddress: PROXY, headers: { host: HOST, cookie, 'x-forwarded-proto': 'https' } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const out = await proxied.service.app.inject({
    method: 'POST',
    url: '/app/logout',
    remoteAddress: PROXY,
    headers: { host: HOST, origin: `https://${HOST}`, cookie, 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ csrf }).toString(),
  });
  t.equal(out.statusCode, 303);
  t.match(String(out.headers['set-cookie']), /tbx_session=;.*Secure/, 'the cookie is cleared with the same flags');

  const spoofed = await signInFrom(proxied, '203.0.113.9', keys.proxied, { 'x-forwarded-proto': 'https' });
  t.equal(spoofed.statusCode, 303);
  t.notOk(sessionCookie(spoofed)?.secure, 'a client that is not the proxy cannot claim https');
});

t.test('without TRUST_PROXY, X-Forwarded-Proto is nobody’s word', async (t) => {
  const response = await signInFrom(direct, PROXY, keys.direct, { 'x-forwarded-proto': 'https' });
  t.equal(response.statusCode, 303);
  t.notOk(sessionCookie(response)?.secure, 'plain http: not Secure');
});

t.test('without TRUST_PROXY: a sign-in flood from one address leaves other addresses alone', async (t) => {
  // The attacker forges a new X-Forwarded-For on every try: ignored, it is one socket address.
  const attack = await hammer((i) => signInFrom(direct, '203.0.113.66', 'sk_0123456789abcdef_' + 'A'.repeat(43), { 'x-forwarded-for': `192.0.2.${i % 250}` }));
  t.equal(attack.last.statusCode, 429, `the flood is refused (after ${attack.tries} tries)`);
  t.ok(attack.tries <= 20, 'wrong keys are throttled harder than page views (a burst of 50)');
  t.ok(Number(attack.last.headers['retry-after']) >= 1, 'Retry-After');
  t.match(String(attack.last.headers['content-type']), /text\/html/, 'the sign-in page answers with a page');

  const victimWrong = await signInFrom(direct, '203.0.113.77', 'not-a-key');
  t.equal(victimWrong.statusCode, 401, 'another address still gets an answer');
  const victim = await signInFrom(direct, '203.0.113.77', keys.direct);
  t.equal(victim.statusCode, 303, 'and signs in');
  const framed = await signInFrom(direct, '203.0.113.78', keys.direct, { 'x-forwarded-for': '203.0.113.66' });
  t.equal(framed.statusCode, 303, 'naming the attacker’s address in X-Forwarded-For does not put a client in its bucket');
  t.equal((await signInFrom(direct, '203.0.113.66', keys.direct)).statusCode, 429, 'the attacker’s address stays refused, even with a good key');
  const encoded = await direct.service.app.inject({
    method: 'POST',
    url: '/app/%6cogin',
    remoteAddress: '203.0.113.66',
    headers: { host: HOST, origin: `http://${HOST}`, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'key=nonsense',
  });
  t.equal(encoded.statusCode, 429, 'the same route spelt with a percent-encoded letter is the same budget');
});

t.test('with TRUST_PROXY: the address the proxy reports is the key', async (t) => {
  // Everyone arrives from the proxy's address; the proxy appends the client's address to X-Forwarded-For.
  // The attacker prepends forged entries: only the entry the trusted proxy wrote counts.
  const attack = await hammer((i) => signInFrom(proxied, PROXY, 'nonsense', { 'x-forwarded-for': `10.9.${i % 250}.1, 198.51.100.66` }));
  t.equal(attack.last.statusCode, 429, `the flood is refused (after ${attack.tries} tries)`);
  t.ok(attack.tries <= 20);
  const victim = await signInFrom(proxied, PROXY, keys.proxied, { 'x-forwarded-for': '198.51.100.77' });
  t.equal(victim.statusCode, 303, 'another client behind the same proxy signs in');
  t.equal((await signInFrom(proxied, PROXY, 'nonsense', { 'x-forwarded-for': '198.51.100.78' })).statusCode, 401, 'and a third gets its own answer');
  t.equal((await signInFrom(proxied, PROXY, keys.proxied, { 'x-forwarded-for': '198.51.100.66' })).statusCode, 429, 'the attacker stays refused');

  // A client that reaches the service directly (not through the proxy) cannot pick its address.
  const bypass = await hammer((i) => signInFrom(proxied, '203.0.113.99', 'nonsense', { 'x-forwarded-for': `198.51.100.${100 + (i % 100)}` }));
  t.equal(bypass.last.statusCode, 429, 'a direct client is keyed by its socket address, whatever it forwards');
  t.equal((await signInFrom(proxied, PROXY, keys.proxied, { 'x-forwarded-for': '198.51.100.101' })).statusCode, 303, 'the addresses it named are untouched');
});

t.test('API clients: one address flooding without a key does not limit another', async (t) => {
  const flood = await hammer(() => direct.service.app.inject({ method: 'GET', url: '/v1/vehicles/LSVAU218XN2183294', remoteAddress: '203.0.113.50' }), 500);
  t.equal(flood.last.statusCode, 429);
  const other = await direct.service.app.inject({ method: 'GET', url: '/v1/vehicles/LSVAU218XN2183294', remoteAddress: '203.0.113.51' });
  t.equal(other.statusCode, 401, 'another address is not limited');
  const admin = await direct.service.app.inject({ method: 'GET', url: '/health', remoteAddress: '203.0.113.50', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  t.equal(admin.statusCode, 200);
});

t.test('IPv6 clients are keyed by their /64: a host cannot rotate addresses to escape the limit', async (t) => {
  const flood = await hammer((i) => signInFrom(direct, `2001:db8:1:2::${(i + 1).toString(16)}`, 'nonsense'));
  t.equal(flood.last.statusCode, 429, `one /64, many addresses (${flood.tries} tries)`);
  t.equal((await signInFrom(direct, '2001:db8:1:3::1', keys.direct)).statusCode, 303, 'the next /64 is another client');
});

t.test('/metrics and /ready cost a bounded number of database queries, however often they are scraped', async (t) => {
  const pool = direct.service.pool;
  let queries = 0;
  const query = pool.query;
  const connect = pool.connect;
  pool.query = ((...args: Parameters<typeof query>) => {
    queries++;
    return (query as (...a: unknown[]) => unknown).apply(pool, args);
  }) as typeof query;
  pool.connect = ((...args: Parameters<typeof connect>) => {
    queries++;
    return (connect as (...a: unknown[]) => unknown).apply(pool, args);
  }) as typeof connect;
  t.teardown(() => {
    pool.query = query;
    pool.connect = connect;
  });

  const scrapes = 150;
  const startedMs = performance.now();
  let metricsText = '';
  for (let round = 0; round < scrapes / 15; round++) {
    const responses = await Promise.all(
      Array.from({ length: 15 }, (_, i) => direct.service.app.inject({ method: 'GET', url: i % 3 === 0 ? '/metrics' : '/ready', remoteAddress: `198.51.100.${i}` })),
    );
    for (const response of responses) t.equal(response.statusCode, 200);
    metricsText = responses[0]!.body;
  }
  t.match(metricsText, /outbox_backlog\{measure="messages"/, 'the outbox backlog is still exported');
  t.match(metricsText, /db_pool_connections\{state="total"/);
  // Not a timing assertion: the bound grows with however long a loaded machine took, and stays far below
  // one query per scrape — /ready checks at most once a second, /metrics reads at most every 15 s, and a
  // background job (outbox sweep, every 5 s) may run meanwhile.
  const seconds = Math.ceil((performance.now() - startedMs) / 1000);
  const bound = 2 * seconds + 4;
  t.ok(queries <= bound, `${scrapes} scrapes in ${seconds} s cost ${queries} database queries (at most ${bound})`);
  t.ok(bound < scrapes / 2, 'the bound still tells a query per scrape apart');
});
