import t from 'tap';
import { createApiKeyStore } from '../../src/api/api-keys.js';
import { SESSION_TTL_MS } from '../../src/web/session.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, csrfOf, signIn, startWebFixture, WEB_HOST } from '../browser/web-fixture.js';

// The web UI's sessions (issue 4): sign-in with a sponsor key or the admin token, signed stateless cookies
// re-checked against the key on every request, cookie flags, and CSRF defences on every POST.

const fx = await startWebFixture(t);
const web = browserLike(fx.svc);

t.test('the sign-in page is served in the language the browser asks for', async (t) => {
  const zh = await web('GET', '/app/login', { headers: { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' } });
  t.equal(zh.statusCode, 200);
  t.match(zh.headers['content-type'], /text\/html/);
  t.match(zh.body, '<html lang="zh-CN">');
  t.match(zh.body, '赞助方 API 密钥');
  const en = await web('GET', '/app/login', { headers: { 'accept-language': 'en-GB,en;q=0.9,zh;q=0.5' } });
  t.match(en.body, '<html lang="en">');
  t.match(en.body, 'Sponsor API key');
  const none = await web('GET', '/app/login');
  t.match(none.body, '<html lang="zh-CN">', 'no preference: the home market’s language');
  t.match(zh.headers['content-security-policy'], /script-src 'self'/);
  t.equal(zh.headers['x-frame-options'], 'DENY');
  t.equal(zh.headers['cache-control'], 'no-store');
});

t.test('a sponsor signs in with its key; the cookie is HttpOnly, SameSite=Strict, Path=/', async (t) => {
  const response = await web('POST', '/app/login', { form: { key: fx.keys.amap } });
  t.equal(response.statusCode, 303);
  t.equal(response.headers.location, '/app/sponsors/amap');
  const cookie = response.cookies.find((c) => c.name === 'tbx_session')!;
  t.ok(cookie, 'a session cookie');
  t.equal(cookie.httpOnly, true);
  t.equal(cookie.sameSite, 'Strict');
  t.equal(cookie.path, '/');
  t.equal(cookie.maxAge, SESSION_TTL_MS / 1000);
  t.notOk(cookie.secure, 'plain http (tests): not Secure; over https the flag is set');
  t.notMatch(cookie.value, fx.keys.amap.split('_').slice(2).join('_'), 'the key’s secret is not in the cookie');
  const raw = String(response.headers['set-cookie']);
  t.match(raw, /HttpOnly/);
  t.match(raw, /SameSite=Strict/);

  const page = await web('GET', '/app/sponsors/amap', { cookie: `tbx_session=${cookie.value}` });
  t.equal(page.statusCode, 200);
  t.match(page.body, 'AutoNavi (Amap)');
  const home = await web('GET', '/app', { cookie: `tbx_session=${cookie.value}` });
  t.equal(home.headers.location, '/app/sponsors/amap');
  const login = await web('GET', '/app/login', { cookie: `tbx_session=${cookie.value}` });
  t.equal(login.headers.location, '/app/sponsors/amap', 'already signed in');
});

t.test('bad keys are refused without saying why', async (t) => {
  const merchantKey = (await createApiKeyStore(fx.svc.service.pool, fx.clock).create('merchant', 'shop-1')).key;
  const forged = fx.keys.amap.slice(0, -4) + 'AAAA';
  for (const key of ['', 'nonsense', forged, merchantKey, `${TEST_ADMIN_TOKEN}x`]) {
    const response = await web('POST', '/app/login', { form: { key } });
    t.equal(response.statusCode, 401, `refused: ${key.slice(0, 12)}…`);
    t.equal(response.cookies.length, 0, 'no cookie');
    t.match(response.body, /id="login-error"/);
  }
  t.notMatch(fx.svc.rawLogs(), fx.keys.amap.split('_').slice(2).join('_'), 'keys never reach the log');
  t.notMatch(fx.svc.rawLogs(), forged.split('_').slice(2).join('_'), 'not even bad ones');
});

t.test('unauthenticated pages redirect to sign-in and come back afterwards', async (t) => {
  const response = await web('GET', '/app/sponsors/amap/invoices');
  t.equal(response.statusCode, 303);
  t.equal(response.headers.location, '/app/login?next=%2Fapp%2Fsponsors%2Famap%2Finvoices');
  const login = await web('POST', '/app/login', { form: { key: fx.keys.amap, next: '/app/sponsors/amap/invoices' } });
  t.equal(login.headers.location, '/app/sponsors/amap/invoices');
  for (const next of ['https://evil.example/', '//evil.example/x', '/\\evil.example', '/v1/sponsors/amap/usage', 'javascript:alert(1)']) {
    const elsewhere = await web('POST', '/app/login', { form: { key: fx.keys.amap, next } });
    t.equal(elsewhere.headers.location, '/app/sponsors/amap', `no open redirect to ${next}`);
  }
});

t.test('log out clears the cookie (CSRF token and same origin required)', async (t) => {
  const cookie = await signIn(web, fx.keys.qqmusic);
  const page = await web('GET', '/app/sponsors/qqmusic', { cookie });
  const csrf = csrfOf(page.body);
  const noToken = await web('POST', '/app/logout', { cookie, form: {} });
  t.equal(noToken.statusCode, 403, 'without the page’s token');
  const wrongToken = await web('POST', '/app/logout', { cookie, form: { csrf: csrf.slice(1) + 'A' } });
  t.equal(wrongToken.statusCode, 403);
  const crossSite = await web('POST', '/app/logout', { cookie, form: { csrf }, headers: { origin: 'https://evil.example' } });
  t.equal(crossSite.statusCode, 403, 'a cross-origin POST with a stolen token is still refused');
  const out = await web('POST', '/app/logout', { cookie, form: { csrf } });
  t.equal(out.statusCode, 303);
  t.equal(out.headers.location, '/app/login?bye=1');
  const cleared = out.cookies.find((c) => c.name === 'tbx_session')!;
  t.equal(cleared.value, '');
  t.ok(cleared.expires && cleared.expires.getTime() <= Date.now(), 'expired at once');
  const bye = await web('GET', '/app/login?bye=1');
  t.match(bye.body, 'id="login-info"');
});

t.test('CSRF: cross-origin POSTs are refused, same-origin ones pass', async (t) => {
  const evil = { origin: 'https://evil.example' };
  t.equal((await web('POST', '/app/login', { form: { key: fx.keys.amap }, headers: evil })).statusCode, 403, 'login CSRF: foreign Origin');
  t.equal((await web('POST', '/app/login', { form: { key: fx.keys.amap }, headers: { origin: 'null' } })).statusCode, 403, 'Origin: null');
  t.equal((await web('POST', '/app/login', { form: { key: fx.keys.amap }, headers: { origin: `http://${WEB_HOST}.evil.example` } })).statusCode, 403, 'a look-alike host');
  const noHeaders = await fx.svc.service.app.inject({ method: 'POST', url: '/app/login', headers: { host: WEB_HOST, 'content-type': 'application/x-www-form-urlencoded' }, payload: `key=${encodeURIComponent(fx.keys.amap)}` });
  t.equal(noHeaders.statusCode, 403, 'neither Origin nor Referer');
  const referer = await fx.svc.service.app.inject({ method: 'POST', url: '/app/login', headers: { host: WEB_HOST, referer: `http://${WEB_HOST}/app/login`, 'content-type': 'application/x-www-form-urlencoded' }, payload: `key=${encodeURIComponent(fx.keys.amap)}` });
  t.equal(referer.statusCode, 303, 'a same-origin Referer stands in for a missing Origin');
  const crossLang = await web('POST', '/app/lang', { form: { lang: 'en', back: '/app/login' }, headers: evil });
  t.equal(crossLang.statusCode, 403, 'language switch: foreign Origin');
  t.equal(crossLang.cookies.length, 0);
  t.match(crossLang.body, /id="error"/);
});

t.test('the language switch is a POST that sets a cookie and returns to the page', async (t) => {
  const signedOut = await web('POST', '/app/lang', { form: { lang: 'en', back: '/app/login' } });
  t.equal(signedOut.statusCode, 303);
  t.equal(signedOut.headers.location, '/app/login');
  const lang = signedOut.cookies.find((c) => c.name === 'tbx_lang')!;
  t.equal(lang.value, 'en');
  t.equal(lang.sameSite, 'Strict');
  const page = await web('GET', '/app/login', { cookie: 'tbx_lang=en', headers: { 'accept-language': 'zh-CN' } });
  t.match(page.body, '<html lang="en">', 'the chosen language wins over Accept-Language');

  const cookie = await signIn(web, fx.keys.amap);
  const dashboard = await web('GET', '/app/sponsors/amap', { cookie });
  const noToken = await web('POST', '/app/lang', { cookie, form: { lang: 'en', back: '/app/sponsors/amap' } });
  t.equal(noToken.statusCode, 403, 'signed in: the page’s token is required too');
  const ok = await web('POST', '/app/lang', { cookie, form: { lang: 'zh-CN', back: '/app/sponsors/amap?month=2026-10', csrf: csrfOf(dashboard.body) } });
  t.equal(ok.statusCode, 303);
  t.equal(ok.headers.location, '/app/sponsors/amap?month=2026-10');
  const bogus = await web('POST', '/app/lang', { form: { lang: 'fr', back: 'https://evil.example/' } });
  t.equal(bogus.headers.location, '/app', 'unknown language ignored, foreign target refused');
  t.equal(bogus.cookies.length, 0);
});

t.test('a revoked key ends its sessions at the next request', async (t) => {
  const { key, keyId } = await createApiKeyStore(fx.svc.service.pool, fx.clock).create('sponsor', 'ximalaya');
  const cookie = await signIn(web, key);
  t.equal((await web('GET', '/app/sponsors/ximalaya', { cookie })).statusCode, 200);
  const revoked = await fx.svc.request('DELETE', `/v1/sponsors/ximalaya/keys/${keyId}`);
  t.ok(revoked.status === 200 || revoked.status === 204, `revoked (${revoked.status})`);
  const after = await web('GET', '/app/sponsors/ximalaya', { cookie });
  t.equal(after.statusCode, 303);
  t.equal(after.headers.location, '/app/login?next=%2Fapp%2Fsponsors%2Fximalaya&ended=1');
  t.equal(after.cookies.find((c) => c.name === 'tbx_session')?.value, '', 'the dead cookie is cleared');
  t.equal((await web('GET', '/app/sponsors/ximalaya/invoices', { cookie })).statusCode, 303, 'on every page');
  t.equal((await web('POST', '/app/login', { form: { key } })).statusCode, 401, 'and the key cannot sign in again');
  const login = await web('GET', '/app/login?ended=1');
  t.match(login.body, 'id="login-info"');
});

t.test('sessions expire, and a tampered cookie is worth nothing', async (t) => {
  const cookie = await signIn(web, fx.keys.oem);
  t.equal((await web('GET', '/app/sponsors/oem-acme', { cookie })).statusCode, 200);
  const [, body, mac] = cookie.slice('tbx_session='.length).split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  const forged = Buffer.from(JSON.stringify({ ...claims, s: 'amap' })).toString('base64url');
  t.equal((await web('GET', '/app/sponsors/amap', { cookie: `tbx_session=v1.${forged}.${mac}` })).statusCode, 303, 'another sponsor’s id under the old MAC');
  t.equal((await web('GET', '/app/sponsors/oem-acme', { cookie: `tbx_session=v1.${body}.${mac.slice(0, -2)}AA` })).statusCode, 303, 'a changed MAC');
  t.equal((await web('GET', '/app/sponsors/oem-acme', { cookie: 'tbx_session=garbage' })).statusCode, 303);
  const admin = Buffer.from(JSON.stringify({ v: 1, k: 'admin', exp: claims.exp, n: claims.n })).toString('base64url');
  t.equal((await web('GET', '/app/admin', { cookie: `tbx_session=v1.${admin}.${mac}` })).statusCode, 303, 'no self-promotion to admin');

  fx.clock.advance(SESSION_TTL_MS - 1000);
  t.equal((await web('GET', '/app/sponsors/oem-acme', { cookie })).statusCode, 200, 'valid until the end of its lifetime');
  fx.clock.advance(1000);
  const expired = await web('GET', '/app/sponsors/oem-acme', { cookie });
  t.equal(expired.statusCode, 303, 'expired');
  t.match(expired.headers.location, /ended=1/);
  fx.clock.set(Date.parse('2026-11-15T12:00:00+08:00'));
});

t.test('the admin signs in with the admin token and sees the admin view', async (t) => {
  const response = await web('POST', '/app/login', { form: { key: TEST_ADMIN_TOKEN } });
  t.equal(response.statusCode, 303);
  t.equal(response.headers.location, '/app/admin');
  const cookie = `tbx_session=${response.cookies.find((c) => c.name === 'tbx_session')!.value}`;
  const admin = await web('GET', '/app/admin', { cookie });
  t.equal(admin.statusCode, 200);
  for (const sponsor of ['oem-acme', 'amap', 'qqmusic', 'ximalaya']) t.match(admin.body, `href="/app/sponsors/${sponsor}"`, `can open ${sponsor}`);
  t.match(admin.body, 'id="ingest-health"');
  t.match(admin.body, 'id="database-status"');
  for (const sponsor of ['oem-acme', 'amap']) t.equal((await web('GET', `/app/sponsors/${sponsor}`, { cookie })).statusCode, 200);
  const letters = await web('GET', '/app/admin/dead-letters', { cookie });
  t.equal(letters.statusCode, 200);
  const sponsor = await signIn(web, fx.keys.amap);
  t.equal((await web('GET', '/app/admin', { cookie: sponsor })).statusCode, 403, 'a sponsor is not the admin');
  t.equal((await web('GET', '/app/admin/dead-letters', { cookie: sponsor })).statusCode, 403);
});

t.test('the app-wide rate limit answers pages with a page of their own', async (t) => {
  let last = await web('GET', '/app/login');
  for (let i = 0; i < 80 && last.statusCode !== 429; i++) {
    last = await fx.svc.service.app.inject({ method: 'GET', url: '/app/login', remoteAddress: '192.0.2.99', headers: { host: WEB_HOST, 'accept-language': 'en' } });
  }
  t.equal(last.statusCode, 429, 'one address, a burst of page views');
  t.ok(last.headers['retry-after']);
  t.match(last.headers['content-type'], /text\/html/);
  t.match(last.body, 'Too many requests from this address');
});

t.test('static assets are public and cacheable; the API is untouched by the web module', async (t) => {
  const echarts = await web('GET', '/app/assets/echarts.min.js');
  t.equal(echarts.statusCode, 200);
  t.match(echarts.headers['content-type'], /javascript/);
  t.match(echarts.headers['cache-control'], /max-age/);
  t.equal((await web('GET', '/app/assets/dashboard.js')).statusCode, 200);
  t.equal((await web('GET', '/app/assets/app.css')).statusCode, 200);
  t.equal((await web('GET', '/app/assets/nope.js')).statusCode, 404);
  const api = await fx.svc.service.app.inject({ method: 'POST', url: '/v1/vehicles', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'vin=x' });
  t.equal(api.statusCode, 415, 'form bodies are parsed under /app only');
  const unknown = await web('GET', '/app/nowhere');
  t.equal(unknown.statusCode, 404);
  t.match(unknown.headers['content-type'], /text\/html/);
});
