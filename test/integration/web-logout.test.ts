import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { MAX_SESSIONS_PER_CREDENTIAL } from '../../src/api/web-sessions.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, csrfOf, signIn } from '../browser/web-fixture.js';
import { createMerchant, startSimStack } from './sims-support.js';

// Issue 10, "Web sessions": logging out ends the session on the server. A cookie copied before the logout
// (a stolen one) and replayed afterwards is sent to the sign-in page, for sponsor, merchant and admin sessions
// alike; logging out ends that one session only. The session table cannot be grown without bound.

const clock = manualClock(Date.parse('2026-11-10T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock });
const web = browserLike(svc);

const merchantKey = await createMerchant(svc, 'shop-a', 1);
const sponsorKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;

const kinds = [
  { kind: 'sponsor', key: sponsorKey, home: '/app/sponsors/amap', other: '/app/sponsors/amap/invoices' },
  { kind: 'merchant', key: merchantKey, home: '/app/merchants/shop-a/sims', other: '/app/merchants/shop-a/orders' },
  { kind: 'admin', key: TEST_ADMIN_TOKEN, home: '/app/admin', other: '/app/admin/dead-letters' },
] as const;

for (const { kind, key, home, other } of kinds) {
  t.test(`${kind}: a cookie replayed after logout is sent to the sign-in page`, async (t) => {
    const stolen = await signIn(web, key);
    const page = await web('GET', home, { cookie: stolen });
    t.equal(page.statusCode, 200, 'signed in');
    const elsewhere = await signIn(web, key);

    const out = await web('POST', '/app/logout', { cookie: stolen, form: { csrf: csrfOf(page.body) } });
    t.equal(out.statusCode, 303);
    t.equal(out.headers.location, '/app/login?bye=1');

    for (const url of [home, other]) {
      const replay = await web('GET', url, { cookie: stolen });
      t.equal(replay.statusCode, 303, `replayed on ${url}`);
      t.equal(replay.headers.location, `/app/login?${new URLSearchParams({ next: url, ended: '1' }).toString()}`);
      t.equal(replay.cookies.find((c) => c.name === 'tbx_session')?.value, '', 'the dead cookie is cleared');
    }
    const login = await web('GET', '/app/login', { cookie: stolen });
    t.equal(login.statusCode, 200, 'the sign-in page does not take the dead cookie for a session');
    t.match(login.body, 'id="login-info"');
    const csrfReplay = await web('POST', '/app/lang', { cookie: stolen, form: { lang: 'en', back: home, csrf: csrfOf(page.body) } });
    t.equal(csrfReplay.statusCode, 303, 'a form post with the old token is a signed-out visitor’s');
    t.equal((await web('GET', home, { cookie: stolen })).statusCode, 303, 'still ended');

    t.equal((await web('GET', home, { cookie: elsewhere })).statusCode, 200, 'another session of the same credential lives on');
    const again = await signIn(web, key);
    t.equal((await web('GET', home, { cookie: again })).statusCode, 200, 'signing in again works');
  });
}

t.test('logging out twice, or with a dead cookie, is harmless', async (t) => {
  const cookie = await signIn(web, sponsorKey);
  const page = await web('GET', '/app/sponsors/amap', { cookie });
  const csrf = csrfOf(page.body);
  t.equal((await web('POST', '/app/logout', { cookie, form: { csrf } })).statusCode, 303);
  const twice = await web('POST', '/app/logout', { cookie, form: { csrf } });
  t.equal(twice.statusCode, 303);
  t.equal(twice.headers.location, '/app/login?bye=1');
});

t.test('expired sessions are removed from the session table as new ones open', async (t) => {
  const before = await svc.service.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM web_sessions');
  t.ok(before.rows[0]!.n > 0, 'sessions are kept on the server');
  clock.advance(9 * 3_600_000);
  await signIn(web, sponsorKey);
  const after = await svc.service.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM web_sessions');
  t.equal(after.rows[0]!.n, 1, 'only the new session is left');
});

t.test('one credential keeps its newest 50 sessions: signing in in a loop cannot grow the table', async (t) => {
  const first = await signIn(web, merchantKey);
  for (let i = 0; i < MAX_SESSIONS_PER_CREDENTIAL; i++) await signIn(web, merchantKey);
  const { rows } = await svc.service.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM web_sessions WHERE kind = 'merchant'");
  t.equal(rows[0]!.n, MAX_SESSIONS_PER_CREDENTIAL);
  t.equal((await web('GET', '/app/merchants/shop-a/sims', { cookie: first })).statusCode, 303, 'the oldest session ended');
  t.equal((await web('GET', '/app/sponsors/amap', { cookie: await signIn(web, sponsorKey) })).statusCode, 200, 'other credentials are untouched');
});
