import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { formatMoney } from '../../src/web/format.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { createMerchant, importSims, residentId, startSimStack } from '../integration/sims-support.js';
import { openBrowser } from './web-fixture.js';

// The merchant portal in a real browser (issue 5): Debian's chromium driven by playwright-core. A merchant
// signs in with its API key, sees its cards, its orders with their e-invoices, and a monthly statement equal
// to the settlement API's, picks another month, switches to Chinese; screenshots go to test-artifacts/.

const clock = manualClock(Date.parse('2026-11-12T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock });
const base = svc.service.httpUrl;
const key = await createMerchant(svc, 'demo-shop', 3);
const cards = await importSims(svc, 'demo-shop', TEST_ADMIN_TOKEN, [1, 2, 3, 4, 5, 6]);
const HOLDER = { name: '欧阳小明', idNumber: residentId(321, '19881212'), phone: '13912345678' };

async function admin(url: string, body?: unknown) {
  const response = await svc.request('POST', url, body === undefined ? {} : { body });
  if (response.status >= 300) throw new Error(`${url}: ${response.status} ${JSON.stringify(response.body)}`);
}
const sell = (externalOrderId: string, iccid: string) => admin('/v1/orders', { merchant: 'demo-shop', externalOrderId, iccid, plan: 'iot-12m', buyer: { name: HOLDER.name, phone: HOLDER.phone } });
await sell('SHOP-1001', cards[0]!);
await admin(`/v1/sims/${cards[0]}/real-name`, { type: 'individual', name: HOLDER.name, idNumber: HOLDER.idNumber, livenessToken: 'pass-1' });
await admin(`/v1/sims/${cards[0]}/activate`);
await sell('SHOP-1002', cards[1]!);
await sell('SHOP-1003', cards[2]!);
clock.set(Date.parse('2026-12-03T15:00:00+08:00'));
await admin('/v1/orders/SHOP-1003/refund', { merchant: 'demo-shop' });
await sell('SHOP-1004', cards[3]!);
await admin(`/v1/sims/${cards[0]}/recharges`, { externalOrderId: 'SHOP-1005', plan: 'iot-12m' });

const api = async (url: string) => (await svc.request('GET', url, { token: key })).body;

const { context, page, problems } = await openBrowser(t);
const artifacts = path.join(PROJECT_ROOT, 'test-artifacts');
await mkdir(artifacts, { recursive: true });

t.test('sign in with a merchant key and see the cards', async (t) => {
  await page.goto(`${base}/app/login`);
  await page.fill('#key', key);
  await Promise.all([page.waitForURL(`${base}/app/merchants/demo-shop/sims`), page.click('#login')]);
  t.equal((await context.cookies()).find((c) => c.name === 'tbx_session')?.httpOnly, true);
  t.match(await page.textContent('#who'), 'Signed in as merchant demo-shop');
  const listed = (await api('/v1/merchants/demo-shop/sims')).sims as Array<{ iccid: string; state: string }>;
  const rows = await page.$$eval('#sims tbody tr', (trs) => trs.map((tr) => ({ iccid: tr.dataset.iccid, state: tr.dataset.state })));
  t.same(rows, listed.map((s) => ({ iccid: s.iccid, state: s.state })), 'every card with its state, as the API lists them');
  const first = await page.textContent(`#sims tr[data-iccid="${cards[0]}"]`);
  t.match(first, 'active');
  t.match(first, 'verified');
  t.match(first, '欧**明', 'the holder’s name masked');
  t.notMatch(await page.content(), HOLDER.name, 'never in clear');
  await page.screenshot({ path: path.join(artifacts, 'merchant-sims.png'), fullPage: true });

  await Promise.all([page.waitForURL(`${base}/app/merchants/demo-shop/sims/${cards[0]}`), page.click(`a[href="/app/merchants/demo-shop/sims/${cards[0]}"]`)]);
  const sim = await api(`/v1/sims/${cards[0]}`);
  t.equal(await page.getAttribute('#sim', 'data-service-until'), sim.serviceUntil);
  t.match(await page.textContent('#real-name'), sim.realName.idNumber);
  await page.screenshot({ path: path.join(artifacts, 'merchant-sim.png'), fullPage: true });
});

t.test('see the month’s orders with refunds and e-invoice numbers', async (t) => {
  await Promise.all([page.waitForURL(`${base}/app/merchants/demo-shop/orders`), page.click('nav >> text=Orders')]);
  const listed = (await api('/v1/merchants/demo-shop/orders?month=2026-12')).orders as Array<{ externalOrderId: string; status: string; einvoices: Array<{ number: string }> }>;
  const rows = await page.$$eval('#orders tbody tr', (trs) => trs.map((tr) => ({ id: tr.dataset.order, status: tr.dataset.status })));
  t.same(rows, listed.map((o) => ({ id: o.externalOrderId, status: o.status })));
  t.same(rows.map((r) => r.id), ['SHOP-1003', 'SHOP-1004', 'SHOP-1005'], 'December: the refund, a sale, a recharge');
  const refunded = await page.textContent('#orders tr[data-order="SHOP-1003"]');
  t.match(refunded, 'refunded');
  t.match(refunded, 'red-letter reversal');
  for (const number of listed.flatMap((o) => o.einvoices.map((e) => e.number))) t.match(await page.textContent('#orders'), number, `e-invoice ${number}`);
  await page.screenshot({ path: path.join(artifacts, 'merchant-orders.png'), fullPage: true });
});

t.test('see a statement equal to the settlement API’s, and pick another month', async (t) => {
  await Promise.all([page.waitForURL(`${base}/app/merchants/demo-shop/statements`), page.click('nav >> text=Statements')]);
  for (const month of ['2026-12', '2026-11']) {
    if (month !== '2026-12') {
      await page.fill('#month', month);
      await Promise.all([page.waitForURL(`${base}/app/merchants/demo-shop/statements?month=${month}`), page.click('#show-month')]);
    }
    const statement = await api(`/v1/merchants/demo-shop/settlements?month=${month}`);
    const shown = await page.$eval('#statement', (el) => ({ ...el.dataset }));
    t.same(shown, { month, currency: statement.currency, orders: String(statement.orders), gross: statement.gross, wholesaleCost: statement.wholesaleCost, margin: statement.margin, refunds: statement.refunds }, `${month}: the API’s figures`);
    t.equal((await page.textContent('#kpi-gross .value'))?.trim(), formatMoney(statement.gross, 'CNY'));
    t.equal((await page.textContent('#kpi-margin .value'))?.trim(), formatMoney(statement.margin, 'CNY'));
    t.equal((await page.textContent('#kpi-refunds .value'))?.trim(), formatMoney(statement.refunds, 'CNY'));
    const einvoices = (await api(`/v1/merchants/demo-shop/einvoices?month=${month}`)).einvoices as Array<{ number: string }>;
    t.same(await page.$$eval('#einvoices tbody tr', (trs) => trs.map((tr) => tr.dataset.einvoiceNumber)), einvoices.map((e) => e.number), `${month}: its e-invoices`);
  }
  t.equal(await page.getAttribute('#statement', 'data-refunds'), '0.00', 'November: no refund yet');
  await Promise.all([page.waitForURL(/month=2026-12/), page.click('#next-month')]);
  t.equal(await page.getAttribute('#statement', 'data-refunds'), '-48.00', 'December: the refund, negative');
  await page.screenshot({ path: path.join(artifacts, 'merchant-statement.png'), fullPage: true });
});

t.test('in Chinese too; then log out', async (t) => {
  await Promise.all([page.waitForURL(/\/statements\?month=2026-12$/), page.click('#lang-zh-CN')]);
  t.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  t.match(await page.textContent('h1'), '2026-12 结算单');
  t.match(await page.textContent('#kpi-margin .label'), '毛利');
  await page.screenshot({ path: path.join(artifacts, 'merchant-statement-zh-CN.png'), fullPage: true });
  await Promise.all([page.waitForURL(/\/app\/login\?bye=1/), page.click('#logout')]);
  await page.goto(`${base}/app/merchants/demo-shop/orders`);
  t.match(page.url(), /\/app\/login\?next=/, 'pages need signing in again');
  t.same(problems, [], 'no script errors or CSP violations on any page');
});
