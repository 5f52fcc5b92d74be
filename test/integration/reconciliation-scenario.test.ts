import path from 'node:path';
import t from 'tap';
import { simulateCarrier, groundTruth, type SimBinding } from '../../simulators/carrier/carrier.js';
import { buildUsagePayload, loadCatalogTraffic, splitIntoMessages, type Flow, type SimRecord } from '../../simulators/fleet/index.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { makeIccid } from '../helpers/fixtures.js';
import { browserLike, dataAttributes, signIn } from '../browser/web-fixture.js';
import { manualClock, startTestService, TEST_ADMIN_TOKEN } from '../helpers/service.js';

// Issue 13: the carrier simulator writes three days of per-card files from the fleet's ground truth, with
// injected faults; the reconciliation must find exactly the faults that cost money, and nothing else:
// - a T-Box that under-reports 10 %            → `under` on each of its card-days
// - a day of records never sent                → `carrier_only` on that card-day
// - a card used by another device one day      → `under` on that card-day
// - a SIM swap at noon                         → nothing: each card matched for its half of the day
// - a re-delivered file                        → nothing: the import says `duplicate`
// - a corrected file                           → nothing: one audit row, the corrected figure matches

const TZ = 'Asia/Shanghai';
const START = Date.parse('2026-11-10T00:00:00+08:00');
const SWAP_AT = Date.parse('2026-11-11T12:00:00+08:00');
const clock = manualClock(SWAP_AT);
const svc = await startTestService(t, {}, clock);

const [under, silent, lent, swapped, corrected, clean] = await Promise.all([801, 802, 803, 804, 805, 806].map((serial) => svc.registerVehicle(serial)));
const newCard = makeIccid(1804);
const swap = await svc.request('PUT', `/v1/vehicles/${swapped!.vin}/iccid`, { body: { iccid: newCard } });
if (swap.status !== 200) throw new Error(`swap: ${JSON.stringify(swap.body)}`);
clock.set(Date.parse('2026-12-03T10:00:00+08:00'));

const cars = [under!, silent!, lent!, swapped!, corrected!, clean!];
const bindings: SimBinding[] = cars.flatMap((car): SimBinding[] =>
  car === swapped ? [{ vin: car.vin, iccid: car.iccid, from: null, to: SWAP_AT }, { vin: car.vin, iccid: newCard, from: SWAP_AT, to: null }] : [{ vin: car.vin, iccid: car.iccid, from: null, to: null }],
);
const traffic = await loadCatalogTraffic(path.join(PROJECT_ROOT, 'sponsors'));
const truth = groundTruth(traffic, cars.map((c) => c.vin), START, 3, 'issue-13');
const scenario = simulateCarrier({
  truth,
  bindings,
  timezone: TZ,
  faults: {
    underReport: { vin: under!.vin, fraction: 0.1 },
    dayNotSent: { vin: silent!.vin, day: '2026-11-11' },
    otherDevice: { iccid: lent!.iccid, day: '2026-11-12', bytes: 800_000_000n },
    redeliver: { day: '2026-11-10' },
    corrected: { day: '2026-11-12', iccid: corrected!.iccid, wrongBytes: 123_456_789_012n },
  },
});

/** Sends a vehicle's flows as its T-Box would: messages of ≤ 1,000 records, each PUBACKed after its commit. */
async function send(car: { vin: string; deviceSecret: string }, flows: readonly Flow[]): Promise<void> {
  const records: SimRecord[] = flows.map((flow, index) => ({ ...flow, seq: index + 1 }));
  let batch = 0;
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  try {
    for (const message of splitIntoMessages('e1', records, 1000, () => ++batch)) {
      await client.publishAsync(`tbox/${car.vin}/usage`, buildUsagePayload(message), { qos: 1 });
    }
  } finally {
    await client.endAsync();
  }
}

t.test('the ledger holds what the T-Boxes sent', async (t) => {
  for (const car of cars) await send(car, scenario.sent.get(car.vin)!);
  const { rows } = await svc.service.pool.query('SELECT vin, sum(up + down)::text AS bytes FROM usage_records GROUP BY vin');
  const ledger = new Map(rows.map((r: { vin: string; bytes: string }) => [r.vin, BigInt(r.bytes)]));
  for (const car of cars) {
    const sent = scenario.sent.get(car.vin)!.reduce((sum, f) => sum + BigInt(f.up) + BigInt(f.down), 0n);
    t.equal(ledger.get(car.vin), sent, `${car.vin}: every byte sent is in the ledger`);
  }
});

t.test('the carrier files import; a re-delivery changes nothing, a correction is audited', async (t) => {
  const outcomes = [];
  for (const file of scenario.files) {
    const response = await svc.service.app.inject({ method: 'POST', url: '/v1/carrier-usage', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'text/csv', 'x-file-id': file.fileId }, payload: file.csv });
    t.equal(response.statusCode, 200, `${file.fileId}: ${response.body.slice(0, 300)}`);
    outcomes.push({ fileId: file.fileId, ...response.json() });
  }
  t.same(outcomes.map((o) => [o.fileId, o.duplicate, o.corrections]), [
    ['carrier-2026-11-10', false, 0],
    ['carrier-2026-11-10', true, 0],
    ['carrier-2026-11-11', false, 0],
    ['carrier-2026-11-12', false, 0],
    ['carrier-2026-11-12-corrected', false, 1],
  ]);
});

t.test('the reconciliation finds exactly the injected faults', async (t) => {
  const response = await svc.request('GET', '/v1/reconciliation?month=2026-11&limit=1000');
  t.equal(response.status, 200);
  const body = response.body;
  const found = body.largest.map((cd: { iccid: string; day: string; status: string }) => ({ iccid: cd.iccid, day: cd.day, status: cd.status }));
  const expected = scenario.expected.map(({ iccid, day, status }) => ({ iccid, day, status }));
  const key = (x: { iccid: string; day: string }) => `${x.iccid} ${x.day}`;
  t.same([...found].sort((a, b) => (key(a) < key(b) ? -1 : 1)), expected, 'the flagged card-days are exactly the faults');
  t.equal(expected.length, 3 + 1 + 1, 'three days of under-reporting, one silent day, one lent card');
  t.equal(body.daysDelivered, 3);
  t.equal(body.totals.under.cardDays, 4);
  t.equal(body.totals.carrier_only.cardDays, 1);
  t.equal(body.totals.over.cardDays + body.totals.ledger_only.cardDays, 0);
  // 6 vehicles × 3 days, and the swapped vehicle's swap day counts twice (one per card).
  t.equal(body.totals.all.cardDays, 6 * 3 + 1);
  t.equal(body.totals.matched.cardDays, 19 - 5);
  t.match(body.corrections, [{ iccid: corrected!.iccid, day: '2026-11-12', oldFileId: 'carrier-2026-11-12', newFileId: 'carrier-2026-11-12-corrected' }]);
  const carrierTotal = [...scenario.carrierBytes.values()].reduce((a, b) => a + b, 0n);
  t.equal(BigInt(body.totals.all.carrierBytes), carrierTotal, 'carrier bytes are the corrected figures');
  t.equal(body.daily.length, 3);
  t.ok(body.totals.all.unexplainedBytes > 800_000_000, 'the lent card alone leaves 800 MB unexplained');

  const oldCard = await svc.request('GET', `/v1/reconciliation/cards/${swapped!.iccid}?month=2026-11`);
  const newOne = await svc.request('GET', `/v1/reconciliation/cards/${newCard}?month=2026-11`);
  t.same(oldCard.body.days.map((d: { day: string; status: string }) => [d.day, d.status]), [['2026-11-10', 'matched'], ['2026-11-11', 'matched']], 'the old card until the swap');
  t.same(newOne.body.days.map((d: { day: string; status: string; vins: string[] }) => [d.day, d.status, d.vins]), [['2026-11-11', 'matched', [swapped!.vin]], ['2026-11-12', 'matched', [swapped!.vin]]], 'the new card from the swap');

  const csv = await svc.service.app.inject({ method: 'GET', url: '/v1/reconciliation/days.csv?month=2026-11', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  t.equal(csv.statusCode, 200);
  t.match(csv.headers['content-type'], /text\/csv/);
  const lines = csv.body.trim().split('\n');
  t.equal(lines[0], 'iccid,date,vins,carrier_bytes,ledger_bytes,gap_bytes,status');
  t.equal(lines.length, 1 + 19);
  t.equal(lines.filter((l) => l.endsWith(',under')).length, 4);

  const metrics = await svc.service.app.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, new RegExp(`reconciliation_unexplained_bytes\\{month="2026-11"[^}]*\\} ${body.totals.all.unexplainedBytes}`), 'the gap is a Prometheus gauge');
});

t.test('the operator page shows the month, the daily gap chart and each card’s days', async (t) => {
  const web = browserLike(svc);
  const admin = await signIn(web, TEST_ADMIN_TOKEN);
  const page = await web('GET', '/app/admin/reconciliation?month=2026-11', { cookie: admin });
  t.equal(page.statusCode, 200);
  t.same(dataAttributes(page.body, 'card-days'), ['14', '4', '0', '1', '0'], 'matched, under, over, carrier_only, ledger_only');
  t.match(page.body, /id="daily-chart"/);
  const chart = JSON.parse(/<script type="application\/json" id="daily-data">([^<]*)<\/script>/.exec(page.body)?.[1] ?? 'null');
  t.same(chart?.days, ['2026-11-10', '2026-11-11', '2026-11-12'], 'the chart has the delivered days');
  t.equal(dataAttributes(page.body, 'status').filter((s) => s !== 'matched').length >= 5, true);
  const card = await web('GET', `/app/admin/reconciliation/cards/${under!.iccid}?month=2026-11`, { cookie: admin });
  t.same(dataAttributes(card.body, 'status'), ['under', 'under', 'under']);
  const csv = await web('GET', '/app/admin/reconciliation.csv?month=2026-11', { cookie: admin });
  t.equal(csv.body.trim().split('\n').length, 20);
  t.equal((await web('GET', '/app/admin/reconciliation?month=2026-13', { cookie: admin })).statusCode, 422);
  t.equal((await web('GET', '/app/admin/reconciliation?month=2027-01', { cookie: admin })).statusCode, 422);
  t.equal((await web('GET', '/app/admin/reconciliation/cards/nonsense?month=2026-11', { cookie: admin })).statusCode, 404);
  const key = (await svc.request('POST', '/v1/sponsors/amap/keys')).body.key;
  const sponsor = await signIn(web, key);
  t.equal((await web('GET', '/app/admin/reconciliation?month=2026-11', { cookie: sponsor })).statusCode, 403, 'a sponsor never sees the reconciliation');
  t.equal((await web('GET', '/app/admin/reconciliation?month=2026-11')).statusCode, 303, 'signed out → sign in');
  const zh = await web('GET', '/app/admin/reconciliation?month=2026-11', { cookie: `${admin}; tbx_lang=zh-CN` });
  t.match(zh.body, /运营商流量对账/, 'both languages');
});
