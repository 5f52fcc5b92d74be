import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { formatMoney } from '../../src/web/format.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { browserLike, csrfOf, dataAttributes, signIn } from '../browser/web-fixture.js';
import { createMerchant, importSims, residentId, simRow, startSimStack, uscc } from './sims-support.js';

// The merchant portal (issue 5): a merchant signs in with its API key and sees its cards (state, service,
// masked real-name), its orders (refunds, e-invoice numbers) and its monthly statements — the settlement
// API's very figures — in zh-CN and English; personal data never appears unmasked on any page.

const clock = manualClock(Date.parse('2026-11-10T10:00:00+08:00'));
const { svc } = await startSimStack(t, { clock });
const web = browserLike(svc);

// Personal data of the fixture: none of these may ever appear on a page.
const PERSON = { name: '欧阳小明', idNumber: residentId(801, '19881212'), phone: '13912345678' };
const AGENT = { name: '诸葛孔明', idNumber: residentId(802, '19720202') };
const OWNER = { name: '司马长卿', idNumber: residentId(803, '19660606') };
const REJECTED = { name: '赵钱孙李', idNumber: residentId(804, '19900101') };
const BUYER_2 = { name: '上官婉儿', phone: '13700001111' };
const BUYER_3 = { name: '独孤求败', phone: '13600002222' };
const BUYER_B = { name: '慕容复', phone: '13500003333' };
const COMPANY = '蜀汉物流有限公司';
const CARDS = Array.from({ length: 60 }, (_, i) => i + 1);
const SECRETS = [
  PERSON.name,
  PERSON.idNumber,
  PERSON.phone,
  AGENT.name,
  AGENT.idNumber,
  OWNER.name,
  OWNER.idNumber,
  REJECTED.name,
  REJECTED.idNumber,
  BUYER_2.name,
  BUYER_2.phone,
  BUYER_3.name,
  BUYER_3.phone,
  BUYER_B.name,
  BUYER_B.phone,
  COMPANY,
  ...CARDS.map((serial) => simRow(serial).msisdn),
  simRow(77, '8986001').msisdn,
  simRow(90).msisdn,
];

/** Setup through the API as the admin (exempt from the per-key rate limit); fails loudly. */
async function admin(method: 'POST' | 'GET', url: string, body?: unknown, expected = [200, 201]) {
  const response = await svc.request(method, url, body === undefined ? {} : { body });
  if (!expected.includes(response.status)) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}
const sell = (merchant: string, externalOrderId: string, iccid: string, buyer: { name: string; phone: string }) => admin('POST', '/v1/orders', { merchant, externalOrderId, iccid, plan: 'iot-12m', buyer });

const keyA = await createMerchant(svc, 'shop-a', 1);
const keyB = await createMerchant(svc, 'shop-b', 2);
const cards = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, CARDS);
// A vehicle card is bound at production, then the admin assigns it to the merchant (src/sims/README.md).
await svc.registerVehicle(77);
const [vehicleCard] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [77], '8986001');
const [cardB] = await importSims(svc, 'shop-b', TEST_ADMIN_TOKEN, [90]);
const [card1, card2, card3, card4, card5] = cards as [string, string, string, string, string];

// November: an active individual card with a recharge, an enterprise card, a card refunded in December,
// a card whose real-name was rejected, a vehicle card with its user registered.
await sell('shop-a', 'A-1', card1, { name: PERSON.name, phone: PERSON.phone });
await admin('POST', `/v1/sims/${card1}/real-name`, { type: 'individual', name: PERSON.name, idNumber: PERSON.idNumber, livenessToken: 'pass-1' });
await admin('POST', `/v1/sims/${card1}/activate`);
await sell('shop-a', 'A-2', card2, BUYER_2);
await admin('POST', `/v1/sims/${card2}/real-name`, { type: 'enterprise', name: COMPANY, uscc: uscc(9), agent: AGENT });
await sell('shop-a', 'A-3', card3, BUYER_3);
await sell('shop-a', 'A-4', card4, { name: PERSON.name, phone: PERSON.phone });
await admin('POST', `/v1/sims/${card4}/real-name`, { type: 'individual', name: REJECTED.name, idNumber: REJECTED.idNumber, livenessToken: 'fail-blurry' }, [422]);
await sell('shop-a', 'V-1', vehicleCard!, BUYER_2);
await admin('POST', `/v1/sims/${vehicleCard}/activate`);
await admin('POST', `/v1/sims/${vehicleCard}/real-name`, { role: 'owner', type: 'individual', ...OWNER, livenessToken: 'pass-2' });
clock.advance(3_600_000);
await admin('POST', `/v1/sims/${card1}/recharges`, { externalOrderId: 'R-1', plan: 'iot-12m' });
await sell('shop-b', 'B-1', cardB!, BUYER_B);
// December: the refund of A-3 (red-letter invoice, negative in December's statement) and a new sale.
clock.set(Date.parse('2026-12-05T09:30:00+08:00'));
await admin('POST', '/v1/orders/A-3/refund', { merchant: 'shop-a', reason: 'changed mind' });
await sell('shop-a', 'A-5', card5, BUYER_3);

const MONTHS = ['2026-10', '2026-11', '2026-12'];
/** Every page body fetched by these tests, for the personal-data check at the end. */
const bodies: string[] = [];
const page = async (url: string, cookie: string, lang = 'en') => {
  const response = await web('GET', url, { cookie: `${cookie}; tbx_lang=${lang}` });
  bodies.push(response.body);
  return response;
};
const api = async (url: string, token = keyA) => (await svc.request('GET', url, { token })).body;

t.test('a merchant signs in with its key and lands on its cards', async (t) => {
  const login = await web('GET', '/app/login', { headers: { 'accept-language': 'en' } });
  t.match(login.body, 'merchant API key');
  const response = await web('POST', '/app/login', { form: { key: keyA } });
  t.equal(response.statusCode, 303, 'a merchant key signs in (the service hands the SIM module’s readers to the web: WebDeps.merchantPortal)');
  t.equal(response.headers.location, '/app/merchants/shop-a');
  const cookie = `tbx_session=${response.cookies.find((c) => c.name === 'tbx_session')!.value}`;
  t.notMatch(cookie, keyA.split('_').slice(2).join('_'), 'the key’s secret is not in the cookie');
  const home = await web('GET', '/app/merchants/shop-a', { cookie });
  t.equal(home.statusCode, 303);
  t.equal(home.headers.location, '/app/merchants/shop-a/sims');
  t.equal((await web('GET', '/app', { cookie })).headers.location, '/app/merchants/shop-a');
  const sims = await page('/app/merchants/shop-a/sims', cookie);
  t.equal(sims.statusCode, 200);
  t.match(sims.body, 'Signed in as merchant shop-a');
  t.match(sims.body, 'Merchant shop-a', 'the merchant’s name');
  t.match(sims.body, /<nav><a href="\/app\/merchants\/shop-a\/sims" aria-current="page">SIM cards<\/a><a href="\/app\/merchants\/shop-a\/orders">Orders<\/a><a href="\/app\/merchants\/shop-a\/statements">Statements<\/a><a href="\/app\/merchants\/shop-a\/alerts">Alerts<\/a><a href="\/app\/merchants\/shop-a\/webhooks">Webhooks<\/a><\/nav>/);
  t.notMatch(sims.body, '/app/sponsors/', 'no sponsor navigation');
  const signIn = svc.logs.find((l) => l.event === 'web_sign_in' && l.merchant === 'shop-a');
  t.ok(signIn, 'the sign-in is logged with the merchant and key id');
  t.notMatch(svc.rawLogs(), keyA.split('_').slice(2).join('_'), 'never the key');
});

t.test('cards: paginated, with state, service end and masked real-name — as the API has them', async (t) => {
  const cookie = await signIn(web, keyA);
  const all = (await api('/v1/merchants/shop-a/sims?limit=1000')).sims as Array<{ iccid: string; state: string; serviceUntil: string | null }>;
  t.equal(all.length, 61);
  const first = await page('/app/merchants/shop-a/sims', cookie);
  t.same(dataAttributes(first.body, 'iccid'), all.slice(0, 50).map((s) => s.iccid), 'the first 50 cards, by ICCID');
  t.same(dataAttributes(first.body, 'state'), all.slice(0, 50).map((s) => s.state));
  t.same(dataAttributes(first.body, 'service-until'), all.slice(0, 50).map((s) => s.serviceUntil ?? ''));
  const next = /<a href="([^"]+)" id="next-page">/.exec(first.body)?.[1]?.replace(/&amp;/g, '&');
  t.equal(next, `/app/merchants/shop-a/sims?after=${all[49]!.iccid}`);
  const second = await page(next!, cookie);
  t.same(dataAttributes(second.body, 'iccid'), all.slice(50).map((s) => s.iccid), 'the rest on the next page');
  t.notMatch(second.body, 'id="next-page"', 'the last page');
  t.match(second.body, 'id="first-page"');

  const realNames = await Promise.all(all.slice(0, 50).map(async (s) => (await api(`/v1/sims/${s.iccid}`)).realName.status as string));
  t.same(dataAttributes(first.body, 'real-name'), realNames, 'each card’s real-name status as GET /v1/sims/{iccid} says');
  t.ok(realNames.includes('verified') && realNames.includes('rejected') && realNames.includes('none'));

  const active = await page('/app/merchants/shop-a/sims?state=active', cookie);
  const apiActive = (await api('/v1/merchants/shop-a/sims?state=active')).sims.map((s: { iccid: string }) => s.iccid);
  t.same(dataAttributes(active.body, 'iccid'), apiActive, 'filtered by state');
  t.same(apiActive.sort(), [card1, vehicleCard].sort());
  t.match(active.body, '<option value="active" selected>');
  t.same(dataAttributes(active.body, 'owner'), ['verified'], 'the vehicle card’s user is verified');
  const bogus = await page('/app/merchants/shop-a/sims?state=nonsense&after=x', cookie);
  t.equal(bogus.statusCode, 200, 'a malformed filter is ignored');
  t.equal(dataAttributes(bogus.body, 'iccid').length, 50);
});

t.test('a card: the masked view and its audit trail', async (t) => {
  const cookie = await signIn(web, keyA);
  const sim = await api(`/v1/sims/${card1}`);
  const response = await page(`/app/merchants/shop-a/sims/${card1}`, cookie);
  t.equal(response.statusCode, 200);
  t.match(response.body, `data-state="active" data-service-until="${sim.serviceUntil}"`);
  t.match(response.body, sim.realName.name, `the holder masked: ${sim.realName.name}`);
  t.equal(sim.realName.name, '欧**明');
  t.match(response.body, sim.realName.idNumber);
  t.match(response.body, sim.msisdn, 'the MSISDN masked');
  const events = (await api(`/v1/sims/${card1}/events`)).events as Array<{ event: string }>;
  t.same(dataAttributes(response.body, 'event'), events.map((e) => e.event), 'every audit row');

  const enterprise = await api(`/v1/sims/${card2}`);
  const enterprisePage = (await page(`/app/merchants/shop-a/sims/${card2}`, cookie)).body;
  t.match(enterprisePage, enterprise.realName.agent.name, 'the agent, masked');
  t.match(enterprisePage, enterprise.realName.agent.idNumber);
  t.match(enterprisePage, 'enterprise');

  const vehicle = await api(`/v1/sims/${vehicleCard}`);
  const vehiclePage = (await page(`/app/merchants/shop-a/sims/${vehicleCard}`, cookie)).body;
  t.match(vehiclePage, 'id="owner" data-status="verified"');
  t.match(vehiclePage, vehicle.owner.name);
  t.match(vehiclePage, vehicle.vin);

  const rejected = (await page(`/app/merchants/shop-a/sims/${card4}`, cookie)).body;
  t.match(rejected, 'id="real-name" data-status="rejected"');
});

t.test('orders: the month’s orders and refunds with their e-invoices, as the API lists them', async (t) => {
  const cookie = await signIn(web, keyA);
  for (const month of ['2026-11', '2026-12']) {
    const listed = (await api(`/v1/merchants/shop-a/orders?month=${month}`)).orders as Array<{ externalOrderId: string; status: string; retail: string; einvoices: Array<{ number: string | null; status: string }> }>;
    const response = await page(`/app/merchants/shop-a/orders?month=${month}`, cookie);
    t.equal(response.statusCode, 200);
    t.same(dataAttributes(response.body, 'order'), listed.map((o) => o.externalOrderId), `${month}: the same orders`);
    t.same(dataAttributes(response.body, 'status'), listed.map((o) => o.status));
    t.same(dataAttributes(response.body, 'einvoice-number'), listed.flatMap((o) => o.einvoices.map((e) => e.number ?? '')), 'each e-invoice number');
    t.ok(listed.flatMap((o) => o.einvoices).every((e) => e.status === 'issued' && /^\d{20}$/.test(e.number ?? '')), 'issued, 20 digits');
  }
  const december = (await page('/app/merchants/shop-a/orders', cookie)).body;
  t.same(dataAttributes(december, 'order'), ['A-3', 'A-5'], 'the current month by default: the refund made in it and the new sale');
  t.match(december, /data-order="A-3" data-status="refunded"/);
  t.match(december, 'red-letter reversal');
  t.match(december, formatMoney('48.00', 'CNY'));
  t.match(december, 'id="previous-month"');
  t.notMatch(december, 'id="next-month"', 'January has not started');
  t.equal((await page('/app/merchants/shop-a/orders?month=2027-01', cookie)).statusCode, 422);
  t.equal((await page('/app/merchants/shop-a/orders?month=2026-13', cookie)).statusCode, 422);
  t.match((await page('/app/merchants/shop-a/orders?month=2026-10', cookie)).body, 'id="no-orders"');

  const refunded = await api('/v1/orders/A-3');
  const detail = await page('/app/merchants/shop-a/orders/A-3', cookie);
  t.equal(detail.statusCode, 200);
  t.match(detail.body, 'data-order="A-3" data-status="refunded"');
  t.same(dataAttributes(detail.body, 'einvoice-number'), refunded.einvoices.map((e: { number: string }) => e.number), 'the invoice and its red-letter reversal');
  t.same(dataAttributes(detail.body, 'einvoice-kind'), ['blue', 'red']);
  t.match(detail.body, refunded.buyer.name, 'the buyer masked');
  t.match(detail.body, refunded.buyer.phone);
  t.match(detail.body, '6 %', 'the tax rate');
  const recharge = await page('/app/merchants/shop-a/orders/R-1', cookie);
  t.match(recharge.body, 'recharge');
});

t.test('statements: exactly the settlement API’s figures, month by month', async (t) => {
  const cookie = await signIn(web, keyA);
  for (const month of MONTHS) {
    const statement = await api(`/v1/merchants/shop-a/settlements?month=${month}`);
    const response = await page(`/app/merchants/shop-a/statements?month=${month}`, cookie);
    t.equal(response.statusCode, 200);
    t.match(
      response.body,
      `data-month="${month}" data-currency="${statement.currency}" data-orders="${statement.orders}" data-gross="${statement.gross}" data-wholesale-cost="${statement.wholesaleCost}" data-margin="${statement.margin}" data-refunds="${statement.refunds}"`,
      `${month}: ${JSON.stringify(statement)}`,
    );
    for (const amount of [statement.gross, statement.wholesaleCost, statement.margin, statement.refunds]) t.match(response.body, formatMoney(amount, statement.currency));
    const einvoices = (await api(`/v1/merchants/shop-a/einvoices?month=${month}`)).einvoices as Array<{ number: string }>;
    t.same(dataAttributes(response.body, 'einvoice-number'), einvoices.map((e) => e.number), `${month}: the month’s e-invoices`);
  }
  const november = await api('/v1/merchants/shop-a/settlements?month=2026-11');
  t.match(november, { orders: 6, gross: '288.00', wholesaleCost: '180.00', margin: '108.00', refunds: '0.00' });
  const current = await page('/app/merchants/shop-a/statements', cookie);
  t.match(current.body, 'data-month="2026-12"', 'the current month by default');
  t.match(current.body, 'data-refunds="-48.00"', 'the refund, negative, in the month it was made');
  t.match(current.body, 'reverses ', 'the red-letter invoice names the one it reverses');
  t.match(current.body, '<input type="month" name="month" value="2026-12" id="month">', 'a month picker');
  const future = await page('/app/merchants/shop-a/statements?month=2027-01', cookie);
  t.equal(future.statusCode, 422, 'as the API');
  t.equal((await svc.request('GET', '/v1/merchants/shop-a/settlements?month=2027-01', { token: keyA })).status, 422);
});

t.test('zh-CN and English', async (t) => {
  const cookie = await signIn(web, keyA);
  // The audit trail's reasons are stored data (written in English by the service), not the UI's words.
  const visible = (body: string) =>
    body
      .replace(/<script[\s\S]*?<\/script>/g, '')
      .replace(/<table id="events">[\s\S]*?<\/table>/g, '')
      .replace(/<[^>]+>/g, ' ');
  for (const path of ['/app/merchants/shop-a/sims', `/app/merchants/shop-a/sims/${card1}`, '/app/merchants/shop-a/orders?month=2026-11', '/app/merchants/shop-a/orders/A-3', '/app/merchants/shop-a/statements?month=2026-12']) {
    const zh = (await page(path, cookie, 'zh-CN')).body;
    const en = (await page(path, cookie, 'en')).body;
    t.match(zh, '<html lang="zh-CN">');
    t.match(en, '<html lang="en">');
    t.notMatch(visible(zh), /\b(SIM cards|Orders|Statements|Log out|State|Service until|Gross|Margin|Refunds|Retail|Wholesale|Buyer|verified|refunded|issued|Audit trail)\b/, `${path}: no English in Chinese`);
    t.match(zh, '当前登录：商户 shop-a');
  }
  const statementZh = (await page('/app/merchants/shop-a/statements?month=2026-12', cookie, 'zh-CN')).body;
  t.match(statementZh, '2026-12 结算单');
  t.match(statementZh, '毛利（归商户）');
  t.match((await page('/app/merchants/shop-a/orders?month=2026-12', cookie, 'zh-CN')).body, '红字发票');
  t.match((await page('/app/merchants/shop-a/sims?state=active', cookie, 'zh-CN')).body, '已认证');
});

t.test('the admin opens any merchant’s portal from the admin view', async (t) => {
  const cookie = await signIn(web, TEST_ADMIN_TOKEN);
  const adminView = await page('/app/admin', cookie);
  t.same(dataAttributes(adminView.body, 'merchant'), ['shop-a', 'shop-b'], 'every merchant, listed');
  t.match(adminView.body, '<a href="/app/merchants/shop-b">Open merchant portal</a>');
  t.equal((await web('GET', '/app/merchants/shop-b', { cookie })).headers.location, '/app/merchants/shop-b/sims');
  const sims = await page('/app/merchants/shop-b/sims', cookie);
  t.same(dataAttributes(sims.body, 'iccid'), [cardB]);
  t.match(sims.body, 'Signed in as platform admin · Viewing merchant shop-b');
  t.match(sims.body, '<a href="/app/admin">Admin</a>', 'with the admin navigation');
  const statement = await api('/v1/merchants/shop-b/settlements?month=2026-11', keyB);
  t.match((await page('/app/merchants/shop-b/statements?month=2026-11', cookie)).body, `data-orders="${statement.orders}" data-gross="${statement.gross}"`);
  t.equal((await page('/app/merchants/shop-b/orders/B-1?x=1', cookie)).statusCode, 200);
  t.equal((await page('/app/merchants/nobody/sims', cookie)).statusCode, 404, 'an unknown merchant');
  const adminZh = (await page('/app/admin', cookie, 'zh-CN')).body;
  t.match(adminZh, '打开商户门户');
});

t.test('no page shows personal data in clear, nor does the log', async (t) => {
  t.ok(bodies.length > 30, `${bodies.length} pages checked`);
  const everything = bodies.join('\n');
  for (const secret of SECRETS) t.notOk(everything.includes(secret), `never on a page: ${secret.slice(0, 2)}…`);
  const logs = svc.rawLogs();
  for (const secret of SECRETS) t.notOk(logs.includes(secret), `never in the log: ${secret.slice(0, 2)}…`);
  t.match(everything, '欧**明', 'masked forms are shown');
  t.match(everything, /139\*+5678/);
});

t.test('log out works for a merchant session', async (t) => {
  const cookie = await signIn(web, keyA);
  const sims = await web('GET', '/app/merchants/shop-a/sims', { cookie });
  const out = await web('POST', '/app/logout', { cookie, form: { csrf: csrfOf(sims.body) } });
  t.equal(out.statusCode, 303);
  t.equal(out.headers.location, '/app/login?bye=1');
});
