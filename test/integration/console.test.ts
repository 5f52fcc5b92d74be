import t from 'tap';
import { formatMoney } from '../../src/web/format.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, dataAttributes, signIn, startWebFixture } from '../browser/web-fixture.js';
import { createMerchant, importSims } from './sims-support.js';

// The operator console (issue 14): one search box for a VIN, an ICCID or an external order id; the vehicle
// page (card, real-name masked, packs, controls with reasons and rev, recent records with explain links, the
// audit trail); a merchant's card; the sponsor and merchant lists; a sponsor's search and vehicle pages
// within its own scope (another sponsor's vehicle is 404 like an unknown one) and its accrual.

const fx = await startWebFixture(t);
const { svc } = fx;
const web = browserLike(svc);
const [carA, carB] = fx.cars;

async function publish(car: { vin: string; deviceSecret: string }, records: Array<{ seq: number; start: string; bytes: number; host: string }>) {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    const body = records.map((r) => ({ seq: r.seq, start: r.start, end: r.start, up: 1000, down: r.bytes - 1000, host: r.host, port: 443, proto: 'tcp' }));
    await client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: records[0]!.seq, epoch: '0', records: body }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}
async function admin(method: 'POST' | 'GET', url: string, body?: unknown) {
  const response = await svc.request(method, url, body === undefined ? {} : { body });
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

// Car D: navigation only (amap pays, qqmusic has nothing to do with it). Car C: a vehicle card the admin
// assigned to shop-a, sold with order CAR-1 (its user has no real-name yet: REALNAME_REQUIRED).
const carD = await svc.registerVehicle(601, { model: 'A7' });
await publish(carD, [{ seq: 1, start: '2026-11-05T10:00:00+08:00', bytes: 50_000_000, host: 'tile.amap.com' }]);
const carC = await svc.registerVehicle(602, { model: 'A7' });
await createMerchant(svc, 'shop-a', 1);
const [looseCard] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [1]);
await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [602], '8986001');
const BUYER = { name: '欧阳小明', phone: '13912345678' };
await admin('POST', '/v1/orders', { merchant: 'shop-a', externalOrderId: 'LOOSE-1', iccid: looseCard, plan: 'iot-12m', buyer: BUYER });
await admin('POST', '/v1/orders', { merchant: 'shop-a', externalOrderId: 'CAR-1', iccid: carC.iccid, plan: 'iot-12m', buyer: BUYER });

const adminCookie = await signIn(web, TEST_ADMIN_TOKEN);
const amapCookie = await signIn(web, fx.keys.amap);
const qqCookie = await signIn(web, fx.keys.qqmusic);
const get = (url: string, cookie?: string) => web('GET', url, cookie ? { cookie } : {});
const search = (q: string, cookie = adminCookie, base = '/app/console/search') => get(`${base}?${new URLSearchParams({ q }).toString()}`, cookie);

t.test('signed out: every console page sends the browser to sign in', async (t) => {
  for (const url of ['/app/console', '/app/console/search?q=x', `/app/console/vehicles/${carA.vin}`, `/app/console/cards/${looseCard}`, '/app/console/sponsors', '/app/console/merchants', '/app/console/explain', `/app/sponsors/amap/search?q=x`, `/app/sponsors/amap/vehicles/${carA.vin}`, '/app/sponsors/amap/accrual']) {
    const response = await get(url);
    t.equal(response.statusCode, 303, url);
    t.match(String(response.headers.location), /^\/app\/login\?next=/);
  }
  t.equal((await get('/app/console', amapCookie)).statusCode, 403, 'a sponsor has no admin console');
  t.equal((await get(`/app/console/vehicles/${carA.vin}`, qqCookie)).statusCode, 403);
});

t.test('admin: a VIN, an ICCID or an order id finds the car (one hit goes straight to its page)', async (t) => {
  const byVin = await search(carA.vin.toLowerCase());
  t.equal(byVin.statusCode, 303);
  t.equal(byVin.headers.location, `/app/console/vehicles/${carA.vin}`, 'a VIN, in any case');
  t.equal((await search(` ${carB.vin} `)).headers.location, `/app/console/vehicles/${carB.vin}`);
  t.equal((await search(carA.iccid)).headers.location, `/app/console/vehicles/${carA.vin}`, 'the platform card of a vehicle → its vehicle');
  t.equal((await search(carC.iccid)).headers.location, `/app/console/vehicles/${carC.vin}`, 'a vehicle card a merchant holds → its vehicle');
  t.equal((await search(looseCard!)).headers.location, `/app/console/cards/${looseCard}`, 'a merchant’s card → the card page');
  t.equal((await search('CAR-1')).headers.location, `/app/console/vehicles/${carC.vin}`, 'an order of a vehicle card → the vehicle');
  t.equal((await search('LOOSE-1')).headers.location, `/app/console/cards/${looseCard}`, 'an order of a card → the card');

  const prefix = await search('lsvau');
  t.equal(prefix.statusCode, 200, 'several VINs share the prefix: the results page');
  t.ok(dataAttributes(prefix.body, 'vin').includes(carA.vin) && dataAttributes(prefix.body, 'vin').includes(carD.vin), 'lists the matching vehicles');
  t.match(prefix.body, `href="/app/console/vehicles/${carA.vin}"`);

  const unknownVin = carA.vin.slice(0, 10) + '9999999';
  const none = await search('LSVAU218XN9999999');
  t.equal(none.statusCode, 200);
  t.ok(none.body.includes('id="no-results"') || none.body.includes('id="search-error"'), `nothing found or a clear message (${unknownVin})`);
  const badDigit = await search(`${carA.vin.slice(0, 8)}${carA.vin[8] === '0' ? '1' : '0'}${carA.vin.slice(9)}`);
  t.match(badDigit.body, /id="search-error"[^>]*>[^<]*check digit/, 'a VIN with a wrong check digit says so');
  const badIccid = await search(`${looseCard!.slice(0, 19)}${looseCard!.endsWith('0') ? '1' : '0'}`);
  t.match(badIccid.body, /id="search-error"/, 'an ICCID with a wrong Luhn digit says so');
  t.match((await search('NO-SUCH-ORDER')).body, /id="no-results"/);
  t.match((await get('/app/console', adminCookie)).body, /id="console-search"/, 'the search box is in the header');
});

t.test('admin: the vehicle page shows each section, and each record links to its explanation', async (t) => {
  // The owner buys a pack: the hotspot is funded again, a new rev of its control state (FUNDS_EXHAUSTED gone).
  const before = (await admin('GET', `/v1/vehicles/${carA.vin}`)).controls.find((c: { app: string }) => c.app === 'wifi-hotspot');
  t.same(before?.reasons, ['FUNDS_EXHAUSTED'], 'car A’s hotspot is unfunded');
  await admin('POST', `/v1/vehicles/${carA.vin}/packs`, { pack: 'hotspot-10g', externalOrderId: 'PACK-1' });
  const page = await get(`/app/console/vehicles/${carA.vin}`, adminCookie);
  t.equal(page.statusCode, 200);
  t.match(page.body, /id="packs"[\s\S]*data-pack="[0-9]+" data-balance="10737418240"/, 'the pack and its balance');
  const revs = [...page.body.matchAll(/<tr data-app="wifi-hotspot" data-rev="(\d+)" data-reasons="([^"]*)"/g)].map((m) => [Number(m[1]), m[2]]);
  t.same(revs, [
    [before.rev + 1, ''],
    [before.rev, 'FUNDS_EXHAUSTED'],
  ], 'the rev history: funded again, and the rev before with its reason');
  for (const id of ['vehicle', 'card', 'controls', 'records', 'audit', 'bindings']) t.match(page.body, `id="${id}"`, `section ${id}`);
  t.ok(page.body.includes('id="packs"') || page.body.includes('id="no-packs"'), 'packs');
  t.match(page.body, /data-holder="platform"/, 'car A’s card is the platform’s');
  t.ok(dataAttributes(page.body, 'seq').includes('2001') && dataAttributes(page.body, 'seq').includes('13'), 'recent records');
  const link = /href="(\/app\/console\/explain\?vin=[^"]+seq=13[^"]*)"/.exec(page.body)?.[1]?.replace(/&amp;/g, '&');
  t.ok(link, 'an explain link per record');
  const explained = await get(link!, adminCookie);
  t.equal(explained.statusCode, 200);
  t.match(explained.body, /id="explanation"/);
  t.match(explained.body, /id="explained-app">general</, 'seq 13 (www.example.org) is general traffic');

  const sold = await get(`/app/console/vehicles/${carC.vin}`, adminCookie);
  t.equal(sold.statusCode, 200);
  t.match(sold.body, /id="card" data-iccid="[0-9]+" data-holder="shop-a" data-state="sold"/, 'card with its merchant and state');
  t.match(sold.body, /id="real-name-holder"/, 'real-name: the responsible subject');
  t.match(sold.body, /id="real-name-owner" data-status="none"/, 'real-name: the vehicle user, not yet registered');
  t.match(sold.body, /data-reason="REALNAME_REQUIRED"/, 'controls with their reasons');
  t.ok(dataAttributes(sold.body, 'rev').every((rev) => Number(rev) >= 1), 'and their rev');
  t.ok(dataAttributes(sold.body, 'event').includes('import'), 'the card’s audit trail');
  t.same(dataAttributes(sold.body, 'order'), ['CAR-1'], 'the card’s orders');
  t.notMatch(sold.body, BUYER.name, 'no personal data in clear');
  t.notMatch(sold.body, BUYER.phone);

  const card = await get(`/app/console/cards/${looseCard}`, adminCookie);
  t.equal(card.statusCode, 200);
  t.match(card.body, /id="audit"/);
  t.same(dataAttributes(card.body, 'order'), ['LOOSE-1'], 'the card’s orders, buyer masked');
  t.notMatch(card.body, BUYER.name);
  t.notMatch(card.body, BUYER.phone);
  t.equal((await get(`/app/console/cards/${carA.iccid}`, adminCookie)).headers.location, `/app/console/vehicles/${carA.vin}`, 'a platform card’s page is its vehicle’s');
  t.equal((await get('/app/console/vehicles/LSVAU218XN9999999', adminCookie)).statusCode, 404);
  t.equal((await get('/app/console/vehicles/not-a-vin', adminCookie)).statusCode, 404);
  t.equal((await get('/app/console/cards/123', adminCookie)).statusCode, 404);
});

t.test('admin: the lists of sponsors and merchants link to their pages', async (t) => {
  const sponsors = await get('/app/console/sponsors', adminCookie);
  t.same(dataAttributes(sponsors.body, 'sponsor').sort(), ['amap', 'oem-acme', 'qqmusic', 'ximalaya']);
  t.match(sponsors.body, 'href="/app/sponsors/amap/accrual"');
  const merchants = await get('/app/console/merchants', adminCookie);
  t.same(dataAttributes(merchants.body, 'merchant'), ['shop-a']);
  t.match(merchants.body, 'href="/app/merchants/shop-a/sims"');
});

t.test('a sponsor finds only its own vehicles; another sponsor’s is not found (404, like an unknown one)', async (t) => {
  const found = await search(carD.vin, amapCookie, '/app/sponsors/amap/search');
  t.equal(found.headers.location, `/app/sponsors/amap/vehicles/${carD.vin}`, 'amap pays for car D’s navigation');
  const page = await get(`/app/sponsors/amap/vehicles/${carD.vin}`, amapCookie);
  t.equal(page.statusCode, 200);
  t.same(dataAttributes(page.body, 'app').filter((a) => a !== 'navigation'), [], 'only its own apps and records');
  t.notMatch(page.body, 'id="card"', 'no card or personal data for a sponsor');

  const other = await search(carD.vin, qqCookie, '/app/sponsors/qqmusic/search');
  t.equal(other.statusCode, 200);
  t.match(other.body, /id="no-results"/, 'qqmusic searching car D finds nothing');
  const byCard = await search(carD.iccid, qqCookie, '/app/sponsors/qqmusic/search');
  t.match(byCard.body, /id="no-results"/, 'nor by its ICCID');
  const notFound = await get(`/app/sponsors/qqmusic/vehicles/${carD.vin}`, qqCookie);
  const unknown = await get('/app/sponsors/qqmusic/vehicles/LSVAU218XN9999999', qqCookie);
  t.equal(notFound.statusCode, 404);
  t.equal(unknown.statusCode, 404);
  t.equal(notFound.body.replaceAll(carD.vin, 'VIN'), unknown.body.replaceAll('LSVAU218XN9999999', 'VIN'), 'the same page as for a vehicle that does not exist');
  t.equal((await get(`/app/sponsors/amap/vehicles/${carD.vin}`, qqCookie)).statusCode, 403, 'another sponsor’s path: 403');
  t.equal((await search('LSVAU', qqCookie, '/app/sponsors/qqmusic/search')).body.includes(carD.vin), false, 'a prefix lists its own vehicles only');

  const own = await get(`/app/sponsors/qqmusic/vehicles/${carA.vin}`, qqCookie);
  t.equal(own.statusCode, 200, 'qqmusic pays for car A’s music');
  t.same([...new Set(dataAttributes(own.body, 'app'))].filter((a) => a !== 'music'), [], 'its records are music only');
  const link = /href="(\/app\/sponsors\/qqmusic\/explain\?[^"]+)"/.exec(own.body)?.[1]?.replace(/&amp;/g, '&');
  t.ok(link, 'explain links to the sponsor’s explain page');
  const explained = await get(link!, qqCookie);
  t.equal(explained.statusCode, 200);
  t.match(explained.body, /id="explanation"/);
  t.match((await get(`/app/sponsors/amap`, amapCookie)).body, 'action="/app/sponsors/amap/search"', 'the sponsor’s header search box');
});

t.test('a sponsor’s accrual: invoiced months and the open month not yet invoiced, exact', async (t) => {
  const page = await get('/app/sponsors/amap/accrual', amapCookie);
  t.equal(page.statusCode, 200);
  const months = dataAttributes(page.body, 'month');
  t.same(months.slice(0, 2), ['2026-11', '2026-10']);
  const usage = (await svc.request('GET', '/v1/sponsors/amap/usage?month=2026-11', { token: fx.keys.amap })).body;
  const sections = [...page.body.matchAll(/class="card accrual-month" data-month="[^"]+" data-accrued="([^"]+)" data-invoiced="([^"]+)" data-not-invoiced="([^"]+)"/g)];
  const [accrued, invoiced, open] = [1, 2, 3].map((i) => sections.map((m) => m[i]!)) as [string[], string[], string[]];
  t.equal(sections.length, 2, 'this month and the last');
  t.equal(accrued[0], usage.totalAmount, 'November accrued = the usage API’s month to date');
  t.equal(invoiced[0], '0.00');
  t.equal(open[0], usage.totalAmount, 'none of it invoiced yet');
  const invoice = (await svc.request('GET', '/v1/sponsors/amap/invoices', { token: fx.keys.amap })).body.invoices[0];
  t.equal(invoiced[1], invoice.subtotal, 'October: the invoice’s subtotal');
  t.equal(open[1], '0.00', 'October is fully invoiced');
  t.match(page.body, formatMoney(usage.totalAmount, 'CNY'));
  t.match(page.body, 'data-sponsorship="amap-nav-acme"', 'lines by sponsorship (the catalog’s id)');
  t.equal((await get('/app/sponsors/amap/accrual', qqCookie)).statusCode, 403);
});

t.test('hostile input in the search box gives a clear page, never an error', async (t) => {
  const inputs = ['<script>alert(1)</script>', 'x'.repeat(10 * 1024), '车辆🚗\u202e', "' OR 1=1 --", '"; DROP TABLE vehicles; --', '%00', '\u0000abc', 'LSVAU%', '_'.repeat(5), '   '];
  for (const [cookie, base] of [
    [adminCookie, '/app/console/search'],
    [amapCookie, '/app/sponsors/amap/search'],
  ] as const) {
    for (const q of inputs) {
      const response = await search(q, cookie, base);
      t.ok(response.statusCode < 500 && response.statusCode !== 303, `${JSON.stringify(q.slice(0, 30))}: ${response.statusCode}`);
      t.notMatch(response.body, '<script>alert', 'escaped');
      t.ok(/id="(no-results|search-error|search-outcome)"/.test(response.body), 'a page that says what happened');
    }
  }
  t.equal((await get(`/app/console/explain?vin=${encodeURIComponent('<b>')}&seq=1`, adminCookie)).statusCode, 422);
  t.equal((await svc.request('GET', '/v1/vehicles/' + carA.vin)).status, 200, 'the fleet is still there');
});

t.test('zh-CN: the console speaks the language chosen', async (t) => {
  const page = await web('GET', `/app/console/vehicles/${carA.vin}`, { cookie: adminCookie, headers: { 'accept-language': 'zh-CN' } });
  t.match(page.body, '运营控制台');
  t.match(page.body, '最近的用量记录');
});
