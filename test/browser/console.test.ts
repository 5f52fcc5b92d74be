import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { openBrowser, startWebFixture } from './web-fixture.js';

// The operator console in a real browser (issue 14): the admin types a VIN into the header's search box,
// lands on the vehicle page, opens a record's explanation; a sponsor searching another sponsor's vehicle
// finds nothing. "An operator finds any car in two clicks": type, Enter — the vehicle page.

const fx = await startWebFixture(t);
const base = fx.svc.service.httpUrl;
const [carA] = fx.cars;

// Car D: navigation only, so amap pays for it and qqmusic has nothing to do with it.
const carD = await fx.svc.registerVehicle(801, { model: 'A7' });
{
  const client = await fx.svc.connectDevice(carD.vin, carD.deviceSecret);
  const start = '2026-11-06T10:00:00+08:00';
  await client.publishAsync(`tbox/${carD.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records: [{ seq: 1, start, end: start, up: 1000, down: 70_000_000, host: 'tile.amap.com', port: 443 }] }), { qos: 1 });
  await client.endAsync();
}

const { page, problems } = await openBrowser(t);

async function signInAs(key: string, landing: RegExp) {
  await page.goto(`${base}/app/login`);
  await page.fill('#key', key);
  await Promise.all([page.waitForURL(landing), page.click('#login')]);
}

async function searchFor(text: string, landing: RegExp | string) {
  await page.fill('#console-search', text);
  await Promise.all([page.waitForURL(landing), page.press('#console-search', 'Enter')]);
}

t.test('admin: a VIN in the search box, the vehicle page, a record’s explanation', async (t) => {
  await signInAs(TEST_ADMIN_TOKEN, /\/app\/admin$/);
  await searchFor(carA.vin.toLowerCase(), `${base}/app/console/vehicles/${carA.vin}`);
  t.equal(await page.getAttribute('#vehicle', 'data-vin'), carA.vin, 'the vehicle page');
  for (const section of ['#card', '#controls', '#records', '#audit']) t.ok(await page.isVisible(section), `shows ${section}`);

  const explained = (await fx.svc.request('GET', `/v1/vehicles/${carA.vin}/usage/13/explain`)).body;
  await Promise.all([page.waitForURL(/\/app\/console\/explain\?/), page.click('#records tr[data-seq="13"] .explain-link')]);
  await page.waitForSelector('#explanation');
  t.equal(await page.textContent('#rule-id'), explained.ruleId, 'the rule that classified it');
  t.equal(await page.textContent('#explained-app'), explained.app);
  t.same(
    await page.$$eval('#allocations tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-payer'), tr.getAttribute('data-bytes')])),
    explained.allocations.map((a: { payer: string; bytes: number }) => [a.payer, String(a.bytes)]),
    'every allocation, as the API explains it',
  );

  await searchFor(carA.iccid, `${base}/app/console/vehicles/${carA.vin}`);
  t.pass('an ICCID lands on its vehicle too');
  await searchFor('<script>alert(1)</script>', /\/app\/console\/search\?q=/);
  // (printable ASCII without spaces could be a merchant's order id: it is looked up, and shown back as text)
  t.match(await page.textContent('#no-results'), '“<script>alert(1)</script>”', 'nothing found, the query shown as text, not markup');
  await searchFor('车辆 🚗', /\/app\/console\/search\?q=/);
  t.ok(await page.isVisible('#search-error'), 'a clear message for input that is no identifier');

  await mkdir(path.join(PROJECT_ROOT, 'test-artifacts'), { recursive: true });
  await page.goto(`${base}/app/console/vehicles/${carA.vin}`);
  await page.screenshot({ path: path.join(PROJECT_ROOT, 'test-artifacts', 'console-vehicle.png'), fullPage: true });
  await Promise.all([page.waitForURL(/\/app\/login\?bye=1/), page.click('#logout')]);
});

t.test('a sponsor searching another sponsor’s VIN finds nothing; its own opens', async (t) => {
  await signInAs(fx.keys.qqmusic, /\/app\/sponsors\/qqmusic$/);
  await searchFor(carD.vin, /\/app\/sponsors\/qqmusic\/search\?q=/);
  t.ok(await page.isVisible('#no-results'), 'qqmusic does not pay for car D: nothing found');
  t.equal(await page.$('#results'), null);

  await searchFor(carA.vin, `${base}/app/sponsors/qqmusic/vehicles/${carA.vin}`);
  const apps = await page.$$eval('#records tbody tr', (trs) => [...new Set(trs.map((tr) => tr.getAttribute('data-app')))]);
  t.same(apps, ['music'], 'its own records only');
  await Promise.all([page.waitForURL(/\/app\/sponsors\/qqmusic\/explain\?/), page.click('#records .explain-link >> nth=0')]);
  await page.waitForSelector('#explanation');
  t.pass('the explain link opens its explanation');
  await Promise.all([page.waitForURL(/\/app\/login\?bye=1/), page.click('#logout')]);
});

t.test('no script error, CSP violation or failed load on any page', async (t) => {
  t.same(problems, []);
});
