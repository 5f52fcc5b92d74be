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

t.test('a merchant’s alerts page: its serviceUntil rule, its own only', async (t) => {
  const merchant = await svc.request('POST', '/v1/merchants', { body: { id: 'shop-a', name: 'Shop A', taxId: '91310000MA1FL5LQ3E' } });
  t.equal(merchant.status, 201);
  const key = (await svc.request('POST', '/v1/merchants/shop-a/keys')).body.key as string;
  const shop = await signIn(web, key);
  let page = await web('GET', '/app/merchants/shop-a/alerts', { cookie: shop });
  t.equal(page.statusCode, 200);
  t.match(page.body, /href="\/app\/merchants\/shop-a\/alerts" aria-current="page"/, 'in the navigation');
  t.match(page.body, /id="add-service_until_within"/, 'the merchant’s kind of alert');
  t.notMatch(page.body, /id="add-cap_share"|id="add-mtd_amount"/, 'not a sponsor’s kinds');
  const csrf = csrfOf(page.body);
  t.equal((await web('POST', '/app/merchants/shop-a/alerts', { cookie: shop, form: { csrf, kind: 'service_until_within', days: '30' } })).statusCode, 303);
  for (const form of [
    { kind: 'service_until_within', days: '0' },
    { kind: 'service_until_within', days: '367' },
    { kind: 'service_until_within', days: '7.5' },
    { kind: 'mtd_amount', amount: '5.00' },
  ]) {
    const refused = await web('POST', '/app/merchants/shop-a/alerts', { cookie: shop, form: { csrf, ...form } });
    t.equal(refused.statusCode, 422, JSON.stringify(form));
    t.match(refused.body, /id="alert-error"/);
  }
  page = await web('GET', '/app/merchants/shop-a/alerts', { cookie: shop });
  t.same(dataAttributes(page.body, 'kind'), ['service_until_within']);
  t.same(
    (await svc.request('GET', '/v1/merchants/shop-a/alerts')).body.alerts.map((a: { id: string }) => a.id),
    dataAttributes(page.body, 'alert-id'),
    'the page shows what the API does',
  );
  t.equal((await web('GET', '/app/merchants/shop-a/alerts', { cookie: amap })).statusCode, 403, 'a sponsor on a merchant’s page');
  t.equal((await web('GET', '/app/sponsors/amap/alerts', { cookie: shop })).statusCode, 403, 'a merchant on a sponsor’s page');
  const id = dataAttributes(page.body, 'alert-id')[0]!;
  t.equal((await web('POST', `/app/merchants/shop-a/alerts/${id}/delete`, { cookie: shop, form: { csrf } })).statusCode, 303);
  t.match((await web('GET', '/app/merchants/shop-a/alerts', { cookie: shop })).body, /id="no-alerts"/);
});
