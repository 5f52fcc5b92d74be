import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { formatGb, formatMoney } from '../../src/web/format.js';
import { SPLIT_RECORD, openBrowser, startWebFixture } from './web-fixture.js';

// The dashboard in a real browser (issue 4): Debian's chromium driven by playwright-core. Sign in with a
// sponsor key, read the month's figures and compare them with the API, switch zh-CN ↔ en, open an
// invoice, explain a charge; a screenshot goes to test-artifacts/ and docs/ (the README's picture).

const fx = await startWebFixture(t);
const base = fx.svc.service.httpUrl;

/** A livelier month for the screenshot: six more vehicles using every app on each day of November so far. */
async function addFleetTraffic(): Promise<void> {
  const hosts = ['telemetry.acme-motor.cn', 'ota.acme-motor.cn', 'rc.acme-motor.cn', 'tile.amap.com', 'u.y.qq.com', 'a.xmcdn.com', 'www.example.org'];
  for (let car = 0; car < 6; car++) {
    const vehicle = await fx.svc.registerVehicle(undefined, { model: car % 2 ? 'A9' : 'A7' });
    const client = await fx.svc.connectDevice(vehicle.vin, vehicle.deviceSecret);
    const records = [];
    let seq = 0;
    for (let day = 1; day <= 15; day++) {
      for (const [i, host] of hosts.entries()) {
        const bytes = Math.round(40_000_000 * (1 + ((day * 7 + i * 13 + car * 5) % 11)) * (i === 3 ? 2.5 : 1));
        const start = `2026-11-${String(day).padStart(2, '0')}T${String(8 + i).padStart(2, '0')}:00:00+08:00`;
        records.push({ seq: ++seq, start, end: start, up: 1000, down: bytes, host, port: 443 });
      }
    }
    await client.publishAsync(`tbox/${vehicle.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records }), { qos: 1 });
    await client.endAsync();
  }
}
await addFleetTraffic();

// The printable invoice declares no favicon; that 404 is the browser's, not ours.
const { context, page, problems } = await openBrowser(t, { ignoreFailedUrl: (url) => url.endsWith('/favicon.ico') });

const api = async (url: string) => (await fx.svc.request('GET', url, { token: fx.keys.oem })).body;

t.test('sign in with a sponsor key and see the month’s figures equal to the API’s', async (t) => {
  await page.goto(`${base}/app/sponsors/oem-acme`);
  t.match(page.url(), /\/app\/login\?next=/, 'sent to sign in first');
  t.equal(await page.getAttribute('html', 'lang'), 'en', 'the browser’s language (en-US)');
  await page.fill('#key', fx.keys.oem);
  await Promise.all([page.waitForURL(`${base}/app/sponsors/oem-acme`), page.click('#login')]);

  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'tbx_session')!;
  t.equal(session.httpOnly, true);
  t.equal(session.sameSite, 'Strict');
  t.equal(String(await page.evaluate('document.cookie')).includes('tbx_session'), false, 'scripts cannot read the session');

  const usage = await api('/v1/sponsors/oem-acme/usage?month=2026-11');
  t.ok(usage.lines.length >= 5, 'several apps and kinds');
  t.equal(await page.getAttribute('#kpi-amount', 'data-amount'), usage.totalAmount);
  t.match(await page.textContent('#kpi-amount'), formatMoney(usage.totalAmount, 'CNY'));
  t.match(await page.textContent('#kpi-bytes'), `${formatGb(BigInt(usage.totalBytes))} GB`);
  const rows = await page.$$eval('#by-app tbody tr', (trs) => trs.map((tr) => ({ app: tr.dataset.app, kind: tr.dataset.kind, price: tr.dataset.price, amount: tr.dataset.amount, bytes: tr.querySelector('[data-bytes]')?.getAttribute('data-bytes') })));
  t.same(
    rows,
    usage.lines.map((l: any) => ({ app: l.app, kind: l.kind, price: l.pricePerGiB, amount: l.amount, bytes: String(l.bytes) })),
    'each line as the API has it',
  );
  const amounts = await page.$$eval('#by-app tbody tr td:last-child', (tds) => tds.map((td) => td.textContent?.trim()));
  t.same(amounts, usage.lines.map((l: any) => formatMoney(l.amount, 'CNY')), 'shown as CNY with 2 decimals');

  await page.waitForSelector('#daily-chart[data-rendered="true"] svg');
  const bars = await page.$$eval('#daily-chart svg path', (paths) => paths.length);
  t.ok(bars > 15, `the ECharts chart drew its bars (${bars} paths)`);
  t.match(await page.textContent('body'), 'None of this sponsor’s sponsorships has a cap.', 'cap utilisation: the automaker pays uncapped');
  const vehicles = new Set((await api('/v1/sponsors/oem-acme/usage?month=2026-11&groupBy=vehicle&limit=1000')).lines.map((l: any) => l.vin));
  t.equal((await page.$$('#top-vehicles tbody tr')).length, vehicles.size, `top vehicles: all ${vehicles.size} (fewer than 10)`);

  await mkdir(path.join(PROJECT_ROOT, 'test-artifacts'), { recursive: true });
  await mkdir(path.join(PROJECT_ROOT, 'docs'), { recursive: true });
  await page.screenshot({ path: path.join(PROJECT_ROOT, 'test-artifacts', 'dashboard.png'), fullPage: true });
  await page.screenshot({ path: path.join(PROJECT_ROOT, 'docs', 'dashboard.png'), fullPage: true });
});

t.test('switch the language zh-CN ↔ en', async (t) => {
  await Promise.all([page.waitForURL(`${base}/app/sponsors/oem-acme`), page.click('#lang-zh-CN')]);
  t.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  t.match(await page.textContent('h2'), '按应用');
  t.match(await page.textContent('#kpi-amount .label'), '金额（不含税）');
  t.equal(await page.getAttribute('#kpi-amount', 'data-amount'), (await api('/v1/sponsors/oem-acme/usage?month=2026-11')).totalAmount, 'same figures in either language');
  await page.screenshot({ path: path.join(PROJECT_ROOT, 'test-artifacts', 'dashboard-zh-CN.png'), fullPage: true });
  await Promise.all([page.waitForURL(`${base}/app/sponsors/oem-acme`), page.click('#lang-en')]);
  t.equal(await page.getAttribute('html', 'lang'), 'en');
  t.match(await page.textContent('h2'), 'By app');
});

t.test('open an invoice', async (t) => {
  const [invoice] = (await api('/v1/sponsors/oem-acme/invoices')).invoices;
  await Promise.all([page.waitForURL(`${base}/app/sponsors/oem-acme/invoices`), page.click('nav >> text=Invoices')]);
  t.equal(await page.getAttribute('#invoices tbody tr', 'data-number'), invoice.number);
  t.match(await page.textContent('#invoices tbody tr'), formatMoney(invoice.total, 'CNY'));
  t.match(await page.textContent('#invoices tbody tr'), 'issued');
  // The printable invoice opens in its own tab, so the dashboard stays where it was.
  const [printable] = await Promise.all([context.waitForEvent('page'), page.click('a.open-invoice')]);
  await printable.waitForLoadState();
  t.equal(printable.url(), `${base}/app/sponsors/oem-acme/invoices/${invoice.id}`);
  const text = (await printable.textContent('body')) ?? '';
  t.match(text, invoice.number);
  t.match(text, invoice.total);
  t.match(text, '91310000MA1FL5LQ3E', 'the buyer’s tax id');
  t.match(text, 'Catalog version');
  await printable.screenshot({ path: path.join(PROJECT_ROOT, 'test-artifacts', 'invoice.png'), fullPage: true });
  await printable.close();
});

t.test('explain a charge', async (t) => {
  const [car] = fx.cars;
  const explained = await api(`/v1/vehicles/${car.vin}/usage/${SPLIT_RECORD.seq}/explain?epoch=${SPLIT_RECORD.epoch}`);
  await Promise.all([page.waitForURL(`${base}/app/sponsors/oem-acme/explain`), page.click('nav >> text=Explain a charge')]);
  await page.fill('#vin', car.vin);
  await page.fill('#seq', String(SPLIT_RECORD.seq));
  await page.fill('#epoch', SPLIT_RECORD.epoch);
  await Promise.all([page.waitForURL(/\/explain\?vin=/), page.click('#explain')]);
  t.equal(await page.textContent('#rule-id'), explained.ruleId);
  t.equal(await page.textContent('#catalog-version'), explained.catalogVersion);
  const parts = await page.$$eval('#allocations tbody tr', (trs) => trs.map((tr) => [tr.dataset.payer, tr.dataset.bytes]));
  t.same(parts, explained.allocations.map((a: any) => [a.payer, String(a.bytes)]), 'its overage part; qqmusic’s share shown as "other"');
  t.same(parts.map((p) => p[0]), ['other', 'oem-acme']);
  await page.screenshot({ path: path.join(PROJECT_ROOT, 'test-artifacts', 'explain.png'), fullPage: true });
});

t.test('log out', async (t) => {
  await Promise.all([page.waitForURL(/\/app\/login\?bye=1/), page.click('#logout')]);
  t.equal((await context.cookies()).some((c) => c.name === 'tbx_session'), false, 'the cookie is gone');
  await page.goto(`${base}/app/sponsors/oem-acme`);
  t.match(page.url(), /\/app\/login/, 'pages need signing in again');
  t.same(problems, [], 'no script errors or CSP violations on any page');
});
