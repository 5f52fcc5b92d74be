import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { inTestAt, loadSimTestWindows } from '../../src/sims/test-windows.js';
import { TEST_ADMIN_TOKEN } from '../helpers/service.js';
import { createMerchant, importSims, order, residentId, startSimStack, uscc, verifyHolder } from './sims-support.js';

// The whole lifecycle of DESIGN 6 against both simulators, with the scheduler driven by a manual clock:
// inventory → order → real-name → activation → term ends → suspended → recharge → active, a vehicle card's
// controls, refunds with red-letter invoices, and a settlement that sums to the orders.

const clock = manualClock(Date.parse('2026-03-15T10:00:00+08:00'));
const { svc, tax } = await startSimStack(t, { clock });
const key = await createMerchant(svc, 'shop-a', 1);
const [card, spare, refunded] = await importSims(svc, 'shop-a', key, [1, 2, 3]);
const ID = residentId(123);

const controlsOf = async (vin: string) => {
  const vehicle = await svc.request('GET', `/v1/vehicles/${vin}`);
  return Object.fromEntries((vehicle.body.controls as Array<{ app: string; reasons: string[] }>).map((c) => [c.app, c.reasons]));
};

t.test('an IoT card: order → real-name → activation → expiry → recharge', async (t) => {
  const sold = await order(svc, key, { merchant: 'shop-a', externalOrderId: 'A-1', iccid: card! });
  t.equal(sold.status, 201);
  t.equal(sold.body.status, 'paid');
  t.same(sold.body.buyer, { name: '张*三', phone: '138****0000' }, 'buyer masked');
  t.equal(sold.body.einvoices[0].status, 'issued', 'blue invoice issued at once');
  t.match(sold.body.einvoices[0].number, /^26311[0-9]{15}$/, '20 digits: year 26, Shanghai 31, channel 1');

  const replay = await order(svc, key, { merchant: 'shop-a', externalOrderId: 'A-1', iccid: card! });
  t.equal(replay.status, 200, 'the same order again is the same order');
  t.equal(replay.body.id, sold.body.id);
  const clash = await order(svc, key, { merchant: 'shop-a', externalOrderId: 'A-1', iccid: card!, plan: 'hotspot-pack' });
  t.equal(clash.status, 409);
  t.equal(clash.body.error.code, 'IDEMPOTENCY_CONFLICT');

  const early = await svc.request('POST', `/v1/sims/${card}/activate`, { token: key });
  t.equal(early.status, 409, 'no activation before real-name');
  t.equal(early.body.error.code, 'REALNAME_REQUIRED');

  const verified = await verifyHolder(svc, key, card!, ID);
  t.equal(verified.status, 200);
  t.same(verified.body.realName.status, 'verified');
  t.equal(verified.body.realName.name, '张*三');
  t.equal(verified.body.realName.idNumber, `${ID.slice(0, 4)}**********${ID.slice(-4)}`);

  const active = await svc.request('POST', `/v1/sims/${card}/activate`, { token: key, body: { reason: 'customer asked' } });
  t.equal(active.status, 200);
  t.equal(active.body.state, 'active');
  t.equal(active.body.activatedAt, '2026-03-15T10:00:00.000+08:00');
  t.equal(active.body.serviceUntil, '2027-03-15T10:00:00.000+08:00', 'the first term starts at activation');

  const invalid = await svc.request('POST', `/v1/sims/${card}/test`, { token: key });
  t.equal(invalid.status, 409);
  t.equal(invalid.body.error.code, 'INVALID_STATE');
  t.match(invalid.body.error.message, /the SIM is active/);

  clock.set(Date.parse('2027-03-15T09:59:59+08:00'));
  t.equal((await svc.request('POST', '/v1/jobs/sim-lifecycle')).body.suspended, 0, 'not before serviceUntil');
  clock.set(Date.parse('2027-03-15T10:00:00+08:00'));
  const report = await svc.service.app.simLifecycle!.runJobs();
  t.equal(report.suspended, 1, 'the scheduler suspends when serviceUntil passes');
  t.equal((await svc.request('GET', `/v1/sims/${card}`, { token: key })).body.state, 'suspended');

  const resume = await svc.request('POST', `/v1/sims/${card}/resume`, { token: key });
  t.equal(resume.status, 409);
  t.equal(resume.body.error.code, 'SERVICE_EXPIRED');

  clock.advance(86_400_000);
  const recharge = await svc.request('POST', `/v1/sims/${card}/recharges`, { token: key, body: { externalOrderId: 'A-2', plan: 'iot-12m' } });
  t.equal(recharge.status, 201);
  t.equal(recharge.body.kind, 'recharge');
  const again = await svc.request('POST', `/v1/sims/${card}/recharges`, { token: key, body: { externalOrderId: 'A-2', plan: 'iot-12m' } });
  t.equal(again.status, 200, 'recharges are idempotent');
  t.equal(again.body.id, recharge.body.id);
  const after = await svc.request('GET', `/v1/sims/${card}`, { token: key });
  t.equal(after.body.state, 'active', 'a recharge resumes a suspended card');
  t.equal(after.body.serviceUntil, '2028-03-16T10:00:00.000+08:00', 'max(serviceUntil, activation, now) + 12 months');

  const renew = await svc.request('POST', `/v1/sims/${card}/recharges`, { token: key, body: { externalOrderId: 'A-3', plan: 'iot-12m' } });
  t.equal(renew.status, 201);
  t.equal((await svc.request('GET', `/v1/sims/${card}`, { token: key })).body.serviceUntil, '2029-03-16T10:00:00.000+08:00', 'an early renewal extends from serviceUntil');

  const events = await svc.request('GET', `/v1/sims/${card}/events`, { token: key });
  t.same(
    events.body.events.map((e: { event: string; from: string | null; to: string }) => [e.event, e.from, e.to]),
    [
      ['import', null, 'inventory'],
      ['order', 'inventory', 'sold'],
      ['real-name', 'sold', 'sold'],
      ['activate', 'sold', 'active'],
      ['expire', 'active', 'suspended'],
      ['recharge', 'suspended', 'active'],
      ['recharge', 'active', 'active'],
    ],
  );
  const byEvent = Object.fromEntries(events.body.events.map((e: { event: string }) => [e.event, e]));
  t.equal(byEvent.expire.actor, 'scheduler');
  t.match(byEvent.activate.actor, /^merchant:shop-a\/key:[0-9a-f]{16}$/);
  t.equal(byEvent.activate.reason, 'customer asked');
  t.equal(byEvent.expire.at, '2027-03-15T10:00:00.000+08:00');
});

t.test('a vehicle card: automaker subject, REALNAME_REQUIRED until the owner registers, owner change, SIM_SUSPENDED', async (t) => {
  clock.set(Date.parse('2027-04-10T09:00:00+08:00'));
  // Bound at production, then assigned to the merchant by the admin (src/sims/README.md).
  const car = await svc.registerVehicle(901);
  const [vehicleCard] = await importSims(svc, 'shop-a', TEST_ADMIN_TOKEN, [901], '8986001');
  t.equal(car.iccid, vehicleCard);

  const testStart = clock.now();
  t.equal((await svc.request('POST', `/v1/sims/${vehicleCard}/test`, { token: key, body: { reason: 'end-of-line test' } })).body.state, 'test');
  clock.advance(3_600_000);
  t.equal((await svc.request('POST', `/v1/sims/${vehicleCard}/test/end`, { token: key })).body.state, 'inventory');
  const windows = (await loadSimTestWindows(svc.service.pool, [car.vin])).get(car.vin);
  t.same(windows, [{ fromMs: testStart, toMs: testStart + 3_600_000 }], 'test windows for ingest (payer none)');
  t.ok(inTestAt(windows, testStart + 1) && !inTestAt(windows, testStart + 3_600_000));

  const holder = await verifyHolder(svc, key, vehicleCard!, ID);
  t.equal(holder.status, 422, 'a vehicle card has no holder of its own');
  t.equal(holder.body.error.field, 'role');

  t.equal((await order(svc, key, { merchant: 'shop-a', externalOrderId: 'V-1', iccid: vehicleCard! })).status, 201);
  const sold = await svc.request('GET', `/v1/sims/${vehicleCard}`, { token: key });
  t.equal(sold.body.vin, car.vin);
  t.equal(sold.body.realName.status, 'verified', 'the automaker is the responsible subject');
  t.equal(sold.body.realName.type, 'enterprise');
  t.equal(sold.body.owner.status, 'none');

  const active = await svc.request('POST', `/v1/sims/${vehicleCard}/activate`, { token: key });
  t.equal(active.status, 200, 'the automaker subject allows activation');
  let controls = await controlsOf(car.vin);
  t.same(controls.general, ['REALNAME_REQUIRED']);
  t.same(controls['wifi-hotspot'], ['REALNAME_REQUIRED']);
  t.notOk(controls.navigation?.length, 'directed, sponsored apps stay allowed');

  const vehicle = await svc.request('GET', `/v1/vehicles/${car.vin}`);
  const monthly = vehicle.body.packs.filter((p: { pack: string }) => p.pack === 'vehicle-500m');
  t.equal(monthly.length, 1, 'the month’s pack is granted at activation');
  t.equal(monthly[0].expiresAt, new Date('2027-05-01T00:00:00+08:00').toISOString(), 'valid until the next month start');

  const owner = await svc.request('POST', `/v1/sims/${vehicleCard}/real-name`, { token: key, body: { role: 'owner', type: 'individual', name: '李四', idNumber: residentId(7, '19851111'), livenessToken: 'pass-owner' } });
  t.equal(owner.status, 200);
  t.equal(owner.body.owner.status, 'verified');
  t.equal(owner.body.owner.name, '李*');
  controls = await controlsOf(car.vin);
  t.same(controls.general, [], 'REALNAME_REQUIRED lifted once the owner is verified');
  t.same(controls['wifi-hotspot'], []);

  const change = await svc.request('POST', `/v1/vehicles/${car.vin}/owner-change`, { body: { reason: 'used-car sale' } });
  t.equal(change.status, 200);
  t.equal(change.body.owner.status, 'none');
  t.same((await controlsOf(car.vin)).general, ['REALNAME_REQUIRED'], 'an owner change brings it back');
  t.equal((await svc.request('POST', `/v1/vehicles/${car.vin}/owner-change`, { token: key })).status, 403, 'admin only');

  t.equal((await svc.request('POST', `/v1/sims/${vehicleCard}/suspend`, { token: key })).status, 200);
  controls = await controlsOf(car.vin);
  for (const app of svc.service.runtime.blockableApps) t.ok(controls[app]?.includes('SIM_SUSPENDED'), `${app} blocked while suspended`);
  t.notOk(controls.telemetry, 'telemetry is never blocked');
  t.equal((await svc.request('POST', `/v1/sims/${vehicleCard}/resume`, { token: key })).status, 200);
  controls = await controlsOf(car.vin);
  t.notOk(Object.values(controls).some((reasons) => (reasons as string[]).includes('SIM_SUSPENDED')), 'resumption lifts SIM_SUSPENDED');

  clock.set(Date.parse('2027-05-01T00:00:30+08:00'));
  const run = await svc.service.app.simLifecycle!.runJobs();
  t.equal(run.monthlyPacks, 1, 'the next month’s pack at the month start');
  const packs = (await svc.request('GET', `/v1/vehicles/${car.vin}`)).body.packs.filter((p: { pack: string }) => p.pack === 'vehicle-500m');
  t.equal(packs.length, 2);
  t.equal(packs[1].purchasedAt, new Date('2027-05-01T00:00:00+08:00').toISOString());
  t.equal((await svc.service.app.simLifecycle!.runJobs()).monthlyPacks, 0, 'once per month');

  t.equal((await svc.request('POST', `/v1/sims/${vehicleCard}/retire`, { token: key })).status, 200);
  t.ok((await controlsOf(car.vin)).general?.includes('SIM_SUSPENDED'), 'a retired card blocks too');
  const again = await svc.request('POST', `/v1/sims/${vehicleCard}/retire`, { token: key });
  t.equal(again.status, 409);
  t.match(again.body.error.message, /retired/);
});

t.test('refunds: before activation back to inventory, after it the term is taken back; red-letter invoices', async (t) => {
  clock.set(Date.parse('2027-05-20T12:00:00+08:00'));
  t.equal((await order(svc, key, { merchant: 'shop-a', externalOrderId: 'R-1', iccid: refunded! })).status, 201);
  t.equal((await verifyHolder(svc, key, refunded!, residentId(55))).status, 200);
  const refund = await svc.request('POST', '/v1/orders/R-1/refund', { token: key, body: { reason: 'changed mind' } });
  t.equal(refund.status, 200);
  t.equal(refund.body.status, 'refunded');
  const [blue, red] = refund.body.einvoices;
  t.equal(red.kind, 'red');
  t.equal(red.status, 'issued');
  t.equal(red.total, '-48.00');
  const sim = await svc.request('GET', `/v1/sims/${refunded}`, { token: key });
  t.equal(sim.body.state, 'inventory', 'a refund before activation returns the card to inventory');
  t.equal(sim.body.realName.status, 'none', 'and forgets the holder');
  const repeat = await svc.request('POST', '/v1/orders/R-1/refund', { token: key });
  t.equal(repeat.status, 200, 'refunds are idempotent');
  t.equal(repeat.body.einvoices.length, 2, 'no second reversal');

  const platform = tax.invoices().find((i) => i.number === red.number)!;
  t.equal(platform.document.originalNumber, blue.number, 'the red-letter invoice names the original');
  t.equal(platform.document.redReason, 'SALES_RETURN');
  t.match(platform.redConfirmationNumber, /^HZ/);

  // after activation: the spare card, sold and activated, then refunded
  t.equal((await order(svc, key, { merchant: 'shop-a', externalOrderId: 'R-2', iccid: spare! })).status, 201);
  t.equal((await verifyHolder(svc, key, spare!, residentId(56))).status, 200);
  t.equal((await svc.request('POST', `/v1/sims/${spare}/activate`, { token: key })).status, 200);
  const late = await svc.request('POST', '/v1/orders/R-2/refund', { token: key });
  t.equal(late.status, 200);
  const spareSim = await svc.request('GET', `/v1/sims/${spare}`, { token: key });
  t.equal(spareSim.body.state, 'suspended', 'a refunded term ends the service at once');
  t.equal(spareSim.body.serviceUntil, '2027-05-20T12:00:00.000+08:00');

  const invoices = await svc.request('GET', '/v1/merchants/shop-a/einvoices?month=2027-05', { token: key });
  t.equal(invoices.status, 200);
  const kinds = invoices.body.einvoices.map((i: { externalOrderId: string; kind: string }) => `${i.externalOrderId}:${i.kind}`);
  t.same(kinds, ['R-1:blue', 'R-1:red', 'R-2:blue', 'R-2:red']);
  for (const invoice of invoices.body.einvoices) {
    t.match(invoice.number, /^[0-9]{20}$/);
    t.same(invoice.seller, { name: 'Merchant shop-a', taxId: uscc(1) });
    t.equal(invoice.buyer.name, '张*三');
    const sign = invoice.kind === 'red' ? '-' : '';
    t.same(invoice.items[0], { name: '*电信服务*物联网卡服务 iot-12m', quantity: invoice.kind === 'red' ? -1 : 1, unit: '套', unitPrice: '45.28', amount: `${sign}45.28`, taxRate: '0.06', tax: `${sign}2.72` });
    t.equal(invoice.total, `${sign}48.00`);
  }
  const redInvoice = invoices.body.einvoices[1];
  t.equal(redInvoice.originalNumber, invoices.body.einvoices[0].number);
});

t.test('settlement sums exactly to the orders of the month', async (t) => {
  for (const month of ['2026-03', '2027-03', '2027-04', '2027-05']) {
    const statement = await svc.request('GET', `/v1/merchants/shop-a/settlements?month=${month}`, { token: key });
    t.equal(statement.status, 200);
    const orders = (await svc.request('GET', `/v1/merchants/shop-a/orders?month=${month}`, { token: key })).body.orders as Array<{ retail: string; wholesale: string; createdAt: string; refundedAt: string | null }>;
    const inMonth = (at: string | null) => at !== null && at.startsWith(month);
    const cents = (s: string) => Math.round(Number(s) * 100);
    const created = orders.filter((o) => inMonth(o.createdAt));
    const refundedHere = orders.filter((o) => inMonth(o.refundedAt));
    const gross = created.reduce((a, o) => a + cents(o.retail), 0) - refundedHere.reduce((a, o) => a + cents(o.retail), 0);
    const wholesale = created.reduce((a, o) => a + cents(o.wholesale), 0) - refundedHere.reduce((a, o) => a + cents(o.wholesale), 0);
    t.equal(statement.body.orders, created.length, `${month}: orders`);
    t.equal(cents(statement.body.gross), gross, `${month}: gross`);
    t.equal(cents(statement.body.wholesaleCost), wholesale, `${month}: wholesale`);
    t.equal(cents(statement.body.margin), gross - wholesale, `${month}: margin`);
    t.equal(cents(statement.body.refunds), -refundedHere.reduce((a, o) => a + cents(o.retail), 0), `${month}: refunds`);
  }
  const may = await svc.request('GET', '/v1/merchants/shop-a/settlements?month=2027-05', { token: key });
  t.same(may.body, { merchant: 'shop-a', month: '2027-05', currency: 'CNY', orders: 2, gross: '0.00', wholesaleCost: '0.00', margin: '0.00', refunds: '-96.00' });
  const march = await svc.request('GET', '/v1/merchants/shop-a/settlements?month=2026-03', { token: key });
  t.same(march.body, { merchant: 'shop-a', month: '2026-03', currency: 'CNY', orders: 1, gross: '48.00', wholesaleCost: '30.00', margin: '18.00', refunds: '0.00' });
  const future = await svc.request('GET', '/v1/merchants/shop-a/settlements?month=2099-01', { token: key });
  t.equal(future.status, 422);
});

t.test('every e-invoice number the service holds is unique and was issued once by the platform', async (t) => {
  // What the service returns, month by month from the first order to the clock's month, May 2027 (a list,
  // not keyed by number: a number stored twice, or an invoice listed twice, shows up here).
  const returned: Array<{ number: string | null; status: string; kind: string; externalOrderId: string }> = [];
  for (let at = Date.UTC(2026, 2, 1); at <= Date.UTC(2027, 4, 1); at = Date.UTC(new Date(at).getUTCFullYear(), new Date(at).getUTCMonth() + 1, 1)) {
    const month = new Date(at).toISOString().slice(0, 7);
    const listed = await svc.request('GET', `/v1/merchants/shop-a/einvoices?month=${month}`, { token: key });
    t.equal(listed.status, 200, `e-invoices of ${month}`);
    returned.push(...listed.body.einvoices);
  }
  const stored = await svc.service.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM einvoices WHERE status = 'issued'");
  const numbers = returned.filter((i) => i.status === 'issued').map((i) => i.number);
  t.equal(numbers.length, stored.rows[0]!.n, 'the months listed cover every issued e-invoice the service stored');
  t.ok(numbers.length >= 4, `the scenario issued e-invoices (${numbers.length})`);
  const seen = new Map<string | null, number>();
  for (const number of numbers) seen.set(number, (seen.get(number) ?? 0) + 1);
  t.same([...seen].filter(([number, n]) => number === null || n > 1), [], 'no number held by two e-invoices, none issued without a number');
  const orderKinds = returned.map((i) => `${i.externalOrderId}:${i.kind}`);
  t.same(orderKinds.filter((k, i) => orderKinds.indexOf(k) !== i), [], 'at most one blue and one red e-invoice per order');
  // The platform's side: it issued exactly these, each once (a retried request that issued again would leave
  // the platform with one more invoice than the service holds).
  t.equal(tax.stats().issued, numbers.length, 'the platform issued as many invoices as the service holds');
  const platform = new Set(tax.invoices().map((i) => i.number));
  t.same(numbers.filter((n) => n === null || !platform.has(n)), [], 'every number the service holds is one the platform issued');
});
