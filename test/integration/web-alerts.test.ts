import t from 'tap';
import { browserLike, csrfOf, dataAttributes, signIn } from '../browser/web-fixture.js';
import { startTestService } from '../helpers/service.js';

// The dashboard's usage alerts page (issue 14): a signed-in sponsor lists its rules and their states, adds and
// deletes one with CSRF-safe forms, sees a refused rule's reason, and cannot reach another sponsor's rules.

const svc = await startTestService(t);
const web = browserLike(svc);
const amapKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key as string;
const qqKey = (await svc.request('POST', '/v1/sponsors/qqmusic/keys')).body.key as string;
const amap = await signIn(web, amapKey);
const qq = await signIn(web, qqKey);

t.test('a sponsor adds, sees and deletes its alerts', async (t) => {
  let page = await web('GET', '/app/sponsors/amap/alerts', { cookie: amap });
  t.equal(page.statusCode, 200);
  t.match(page.body, /id="no-alerts"/);
  t.match(page.body, /href="\/app\/sponsors\/amap\/alerts" aria-current="page"/, 'in the navigation');
  t.match(page.body, /<option value="amap-nav-acme">/, 'its capped sponsorship is offered');
  t.notMatch(page.body, /qqmusic-acme-2026/, 'never another sponsor’s');
  const csrf = csrfOf(page.body);

  const added = await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form: { csrf, kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: '80' } });
  t.equal(added.statusCode, 303);
  t.equal((await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form: { csrf, kind: 'mtd_amount', amount: '1000.00' } })).statusCode, 303);
  page = await web('GET', '/app/sponsors/amap/alerts', { cookie: amap });
  t.same(dataAttributes(page.body, 'kind'), ['cap_share', 'mtd_amount']);
  t.same(dataAttributes(page.body, 'state'), ['ok', 'ok']);
  const api = await svc.request('GET', '/v1/sponsors/amap/alerts');
  t.same(
    api.body.alerts.map((a: { id: string }) => a.id),
    dataAttributes(page.body, 'alert-id'),
    'the page shows what the API does',
  );

  for (const [form, reason] of [
    [{ kind: 'cap_share', sponsorshipId: 'amap-nav-acme', percent: '180' }, /percent/],
    [{ kind: 'cap_share', sponsorshipId: 'qqmusic-acme-2026', percent: '80' }, /sponsorshipId/],
    [{ kind: 'mtd_amount', amount: '12.345' }, /amount/],
    [{ kind: 'service_until_within', days: '3' }, /kind/],
  ] as const) {
    const refused = await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form: { csrf, ...form } });
    t.equal(refused.statusCode, 422, JSON.stringify(form));
    t.match(refused.body, /id="alert-error"/);
    t.match(refused.body, reason);
  }
  t.equal((await svc.request('GET', '/v1/sponsors/amap/alerts')).body.alerts.length, 2, 'nothing refused was stored');

  const id = dataAttributes(page.body, 'alert-id')[0]!;
  t.equal((await web('POST', `/app/sponsors/amap/alerts/${id}/delete`, { cookie: amap, form: { csrf } })).statusCode, 303);
  page = await web('GET', '/app/sponsors/amap/alerts', { cookie: amap });
  t.same(dataAttributes(page.body, 'kind'), ['mtd_amount']);
});

t.test('the forms are CSRF-safe and tenant-scoped', async (t) => {
  const page = await web('GET', '/app/sponsors/amap/alerts', { cookie: amap });
  const csrf = csrfOf(page.body);
  const form = { kind: 'mtd_amount', amount: '5.00' };
  t.equal((await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form })).statusCode, 403, 'no token');
  t.equal((await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form: { ...form, csrf: 'forged' } })).statusCode, 403, 'a forged token');
  t.equal((await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form: { ...form, csrf }, headers: { origin: 'http://evil.example' } })).statusCode, 403, 'another origin');
  const qqCsrf = csrfOf((await web('GET', '/app/sponsors/qqmusic/alerts', { cookie: qq })).body);
  t.equal((await web('POST', '/app/sponsors/amap/alerts', { cookie: amap, form: { ...form, csrf: qqCsrf } })).statusCode, 403, 'another session’s token');

  t.equal((await web('GET', '/app/sponsors/amap/alerts', { cookie: qq })).statusCode, 403, 'another sponsor’s page');
  t.equal((await web('POST', '/app/sponsors/amap/alerts', { cookie: qq, form: { ...form, csrf: qqCsrf } })).statusCode, 403, 'another sponsor’s form');
  const amapId = dataAttributes(page.body, 'alert-id')[0]!;
  t.equal((await web('POST', `/app/sponsors/qqmusic/alerts/${amapId}/delete`, { cookie: qq, form: { csrf: qqCsrf } })).statusCode, 404, 'another sponsor’s alert under its own path');
  t.equal((await web('GET', '/app/sponsors/amap/alerts')).statusCode, 303, 'signed out: to the sign-in page');
  t.same(dataAttributes((await web('GET', '/app/sponsors/amap/alerts', { cookie: amap })).body, 'alert-id'), [amapId], 'unchanged');
});

t.test('in Chinese', async (t) => {
  const page = await web('GET', '/app/sponsors/amap/alerts', { cookie: amap, headers: { 'accept-language': 'zh-CN' } });
  t.match(page.body, /用量告警/);
  t.match(page.body, /本月累计金额达到/);
});
