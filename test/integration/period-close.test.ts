import t from 'tap';
import { manualClock } from '../../src/shared/clock.js';
import { startTestService } from '../helpers/service.js';

/** DESIGN 5 "Period close": exact invoices, idempotent and concurrent closes, adjustments, numbering, credit notes. */
const clock = manualClock(Date.parse('2026-11-15T12:00:00+08:00'));
const svc = await startTestService(t, {}, clock);
const car = await svc.registerVehicle(1, { model: 'A7' });
const device = await svc.connectDevice(car.vin, car.deviceSecret);
t.teardown(() => device.endAsync());
const GiB = 1_073_741_824n;
let seq = 0;

async function publish(records: Array<{ start: string; bytes: bigint; host: string }>) {
  const payload = {
    v: 1,
    batch: seq,
    records: records.map((r) => ({ seq: ++seq, start: r.start, end: r.start, up: 0, down: Number(r.bytes), host: r.host })),
  };
  await device.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify(payload), { qos: 1 });
}

/** Independent of the service: round_half_up(bytes × price / 2^30, 2) in cents, bigint only. */
function cents(bytes: bigint, price: string): bigint {
  const [whole, frac = ''] = price.split('.');
  const priceUnits = BigInt(whole! + frac.padEnd(4, '0')); // 1/10,000 CNY
  const numerator = bytes * priceUnits * 100n; // in 1/10,000 cents × 2^30
  const denominator = GiB * 10_000n;
  const q = numerator / denominator;
  return (numerator % denominator) * 2n >= denominator ? q + 1n : q;
}
const taxOf = (amount: bigint) => {
  const n = amount * 6n;
  const q = n / 100n;
  return (n % 100n) * 2n >= 100n ? q + 1n : q;
};
const money = (c: bigint) => `${c < 0n ? '-' : ''}${(c < 0n ? -c : c) / 100n}.${String((c < 0n ? -c : c) % 100n).padStart(2, '0')}`;

const october = '2026-10-20T10:00:00+08:00';
const NAV = 1_000_000_007n;
const FM = 536_870_913n;
const MUSIC = GiB + 5n; // cap 1,024 MiB, then 5 bytes of overage
const GENERAL = 2n * GiB; // no pack: all overage
const TELEMETRY = 123_456_789n;

t.test('closing a month produces exact, immutable invoices', async (t) => {
  await publish([
    { start: october, bytes: NAV, host: 'tile.amap.com' },
    { start: october, bytes: FM, host: 'a.xmcdn.com' },
    { start: october, bytes: MUSIC, host: 'u.y.qq.com' },
    { start: october, bytes: GENERAL, host: 'www.example.org' },
    { start: october, bytes: TELEMETRY, host: 'telemetry.acme-motor.cn' },
  ]);
  const tooEarly = await svc.request('POST', '/v1/billing/periods/2026-11/close');
  t.equal(tooEarly.status, 422, 'a month that has not ended cannot close');
  t.equal(tooEarly.body.error.field, 'month');

  const [a, b] = await Promise.all([svc.request('POST', '/v1/billing/periods/2026-10/close'), svc.request('POST', '/v1/billing/periods/2026-10/close')]);
  t.equal(a.status, 200);
  t.equal(b.status, 200);
  const again = await svc.request('POST', '/v1/billing/periods/2026-10/close');
  t.same(again.body.periods.filter((p: any) => p.month === '2026-10').map((p: any) => p.number).sort(), ['INV-amap-2026-000001', 'INV-oem-acme-2026-000001', 'INV-qqmusic-2026-000001', 'INV-ximalaya-2026-000001']);
  const { rows } = await svc.service.pool.query("SELECT sponsor, count(*)::int AS n FROM invoices GROUP BY sponsor ORDER BY sponsor");
  t.same(rows, [{ sponsor: 'amap', n: 1 }, { sponsor: 'oem-acme', n: 1 }, { sponsor: 'qqmusic', n: 1 }, { sponsor: 'ximalaya', n: 1 }], 'run twice and concurrently: one invoice each');

  const list = await svc.request('GET', '/v1/sponsors/oem-acme/invoices');
  t.equal(list.status, 200);
  const acme = list.body.invoices[0];
  const expected = [
    { app: 'general', kind: 'overage', bytes: GENERAL, price: '8.00' },
    { app: 'music', kind: 'overage', bytes: 5n, price: '8.00' },
    { app: 'telemetry', kind: 'sponsored', bytes: TELEMETRY, price: '2.50' },
  ];
  t.same(
    acme.lines,
    expected.map((e) => ({ app: e.app, kind: e.kind, usageMonth: '2026-10', bytes: Number(e.bytes), pricePerGiB: e.price, amount: money(cents(e.bytes, e.price)), taxRate: '0.06', tax: money(taxOf(cents(e.bytes, e.price))) })),
  );
  const subtotal = expected.reduce((s, e) => s + cents(e.bytes, e.price), 0n);
  const tax = expected.reduce((s, e) => s + taxOf(cents(e.bytes, e.price)), 0n);
  t.match(acme, { number: 'INV-oem-acme-2026-000001', sponsor: 'oem-acme', month: '2026-10', status: 'issued', currency: 'CNY', subtotal: money(subtotal), tax: money(tax), total: money(subtotal + tax) });
  t.same(Object.keys(acme).sort(), ['currency', 'id', 'issuedAt', 'lines', 'month', 'number', 'sponsor', 'status', 'subtotal', 'tax', 'total'], 'exactly the DESIGN 5 shape');
  t.match(acme.issuedAt, /\+08:00$/);

  const nav = (await svc.request('GET', '/v1/sponsors/amap/invoices')).body.invoices[0];
  t.same(nav.lines.map((l: any) => [l.bytes, l.amount, l.tax]), [[Number(NAV), money(cents(NAV, '4.00')), money(taxOf(cents(NAV, '4.00')))]]);
  const music = (await svc.request('GET', '/v1/sponsors/qqmusic/invoices')).body.invoices[0];
  t.same(music.lines.map((l: any) => [l.bytes, l.amount]), [[Number(GiB), '5.00']], 'the capped gigabyte');
  t.equal((await svc.request('GET', '/v1/sponsors/netease/invoices')).status, 404, 'not a sponsor of this catalog');
});

t.test('late usage becomes an adjustment line rated cumulatively; numbers stay gapless', async (t) => {
  const LATE = 10_000_000n;
  await publish([{ start: '2026-10-31T23:59:59.999+08:00', bytes: LATE, host: 'tile.amap.com' }]);
  await publish([{ start: '2026-11-01T00:00:00.000+08:00', bytes: NAV, host: 'tile.amap.com' }]);
  clock.set(Date.parse('2026-12-03T23:59:59+08:00'));
  await svc.service.jobs.closeDuePeriods();
  t.equal((await svc.request('GET', '/v1/sponsors/amap/invoices')).body.invoices.length, 1, 'November closes only at 00:00 on 4 December');
  clock.set(Date.parse('2026-12-04T00:00:00+08:00'));
  await svc.service.jobs.closeDuePeriods();
  const invoices = (await svc.request('GET', '/v1/sponsors/amap/invoices')).body.invoices;
  t.equal(invoices.length, 2);
  const november = invoices[0];
  t.equal(november.number, 'INV-amap-2026-000002');
  const adjustment = november.lines.find((l: any) => l.usageMonth === '2026-10');
  const cumulative = cents(NAV + LATE, '4.00') - cents(NAV, '4.00');
  t.same(adjustment, { app: 'navigation', kind: 'sponsored', usageMonth: '2026-10', bytes: Number(LATE), pricePerGiB: '4.00', amount: money(cumulative), taxRate: '0.06', tax: money(taxOf(cumulative)) });
  t.not(money(cumulative), money(cents(LATE, '4.00')), 'the fixture exercises cumulative rounding');
  const octoberTotal = (await svc.request('GET', '/v1/sponsors/amap/usage?month=2026-10')).body.totalAmount;
  const invoicedOctober = invoices.flatMap((i: any) => i.lines).filter((l: any) => l.usageMonth === '2026-10').reduce((s: bigint, l: any) => s + BigInt(l.amount.replace('.', '')), 0n);
  t.equal(money(invoicedOctober), octoberTotal, "a usage month's invoices add up to the usage API's amount");
  t.ok(november.lines.some((l: any) => l.usageMonth === '2026-11' && l.bytes === Number(NAV)));
});

t.test('a credit note negates an invoice; its usage is invoiced again at the next close', async (t) => {
  const [original] = (await svc.request('GET', '/v1/sponsors/ximalaya/invoices')).body.invoices;
  const credit = await svc.request('POST', `/v1/sponsors/ximalaya/invoices/${original.id}/credit-note`);
  t.equal(credit.status, 201);
  const repeat = await svc.request('POST', `/v1/sponsors/ximalaya/invoices/${original.id}/credit-note`);
  t.same(repeat.body, credit.body, 'idempotent');
  const note = (await svc.request('GET', `/v1/sponsors/ximalaya/invoices/${credit.body.id}`)).body;
  t.same(note.lines.map((l: any) => [l.bytes, l.amount, l.tax]), original.lines.map((l: any) => [-l.bytes, `-${l.amount}`, `-${l.tax}`]));
  t.equal(note.total, `-${original.total}`);
  t.equal((await svc.request('GET', `/v1/sponsors/ximalaya/invoices/${original.id}`)).body.status, 'void');
  clock.set(Date.parse('2027-01-04T00:00:00+08:00'));
  await svc.service.jobs.closeDuePeriods();
  const [latest] = (await svc.request('GET', '/v1/sponsors/ximalaya/invoices')).body.invoices;
  t.match(latest, { number: 'INV-ximalaya-2026-000003', month: '2026-12' }, 'numbers continue without a gap');
  t.same(latest.lines.map((l: any) => [l.usageMonth, l.bytes, l.amount]), [['2026-10', Number(FM), original.lines[0].amount]]);
});

t.test('tenant isolation on every invoice path, CSV and print', async (t) => {
  const amapKey = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key;
  const qqKey = (await svc.request('POST', '/v1/sponsors/qqmusic/keys')).body.key;
  const [amapInvoice] = (await svc.request('GET', '/v1/sponsors/amap/invoices')).body.invoices;
  for (const suffix of ['', `/${amapInvoice.id}`, `/${amapInvoice.id}/print`, `/${amapInvoice.id}/lines.csv`, `/${amapInvoice.id}/usage.csv`]) {
    t.equal((await svc.request('GET', `/v1/sponsors/amap/invoices${suffix}`, { token: qqKey })).status, 403, `another sponsor's path ${suffix}: 403`);
    t.equal((await svc.request('GET', `/v1/sponsors/amap/invoices${suffix}`, { token: null })).status, 401, `no token ${suffix}: 401`);
    t.equal((await svc.request('GET', `/v1/sponsors/amap/invoices${suffix}`, { token: amapKey })).status, 200, `own ${suffix}: 200`);
    if (suffix) t.equal((await svc.request('GET', `/v1/sponsors/qqmusic/invoices${suffix}`, { token: qqKey })).status, 404, `another sponsor's invoice id under one's own path ${suffix}: 404`);
  }
  t.equal((await svc.request('POST', `/v1/sponsors/amap/invoices/${amapInvoice.id}/credit-note`, { token: amapKey })).status, 403, 'sponsors cannot issue credit notes');
  t.equal((await svc.request('POST', '/v1/billing/periods/2026-10/close', { token: amapKey })).status, 403);

  const lines = await svc.request('GET', `/v1/sponsors/amap/invoices/${amapInvoice.id}/lines.csv`, { token: amapKey });
  t.match(lines.headers['content-type'], /text\/csv/);
  t.match(lines.body, /^number,app,kind,usage_month,bytes,price_per_gib,amount,tax_rate,tax,currency\r\n/);
  const usage = await svc.request('GET', `/v1/sponsors/amap/invoices/${amapInvoice.id}/usage.csv`, { token: amapKey });
  t.match(usage.body, new RegExp(`${car.vin},navigation,sponsored,2026-1[01],`));
  const page = await svc.request('GET', `/v1/sponsors/amap/invoices/${amapInvoice.id}/print`, { token: amapKey });
  t.match(page.headers['content-type'], /text\/html/);
  for (const text of [amapInvoice.number, '91310115MA1H7G2K43', '@media print', 'Catalog version', amapInvoice.total]) t.match(page.body, text);
});
