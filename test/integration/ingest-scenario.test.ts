import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import pg from 'pg';
import {
  accepted,
  AMAP,
  amountCents,
  CATALOG_DIR,
  checkLedger,
  counts,
  DAY_MS,
  formatCents,
  hotspot,
  MiB,
  music,
  nav,
  NETEASE,
  NOW,
  OVERAGE,
  PACK,
  QQ,
  record,
  sha16,
  shanghai,
  startScenario,
  waitFor,
  type ControlMessage,
  type Scenario,
  type UsageMessage,
  type UsageRecord,
} from '../helpers/ingest-scenario.js';

/**
 * End to end over a real mqtt client with the catalog of test/fixtures/catalog-scenario, where every
 * expected byte and amount is computed independently of src/ (test/helpers/ingest-scenario.ts): DESIGN 3.1
 * (usage), 3.2 (acks, duplicates), 3.3 (controls), 4.2 (the waterfall), 4.3 (money), 7 (exactly once).
 *
 * The subtests are independent: each starts its own service on an empty database (startScenario), sets up
 * the vehicles it needs, writes down every allocation it expects, and ends by comparing the whole ledger
 * (allocations, cap counters, rollups, the usage API) with it (checkLedger). Any one runs alone:
 *   npx tap test/integration/ingest-scenario.test.ts --grep='^\(g\)'
 */

t.test('the test\'s own money formula: ties round half up', async (t) => {
  t.equal(formatCents(amountCents(10n * 1_073_741_824n, '4.1225')), '41.23', '41.225 → 41.23 (half-even or truncation would say 41.22)');
  t.equal(formatCents(amountCents(16n * MiB, '8.00')), '0.13', '0.125 → 0.13');
  t.equal(formatCents(amountCents(1_073_741_823n, '1.00')), '1.00');
  t.equal(formatCents(amountCents(5_368_709n, '1.00')), '0.00', '0.004999… → 0.00');
  t.equal(formatCents(amountCents(5_368_710n, '1.00')), '0.01', '0.0050000… → 0.01');
});

t.test('(a) a capped app split across two sponsors by priority, exact bytes per sponsor', async (t) => {
  const s = await startScenario(t);
  const car = await s.registerVehicle();
  const device = await s.connect(t, car, '+');
  const start = '2026-11-15T10:00:00.000+08:00';
  const records = [music(1, start, 14_400, 600_000), music(2, start, 0, 1_000_000), music(3, start, 1_000, 1_999_000)];
  const ack = await device.send(t, { v: 1, batch: 1, records });
  t.same(counts(ack), accepted(3));
  t.equal(Date.parse(ack.serverTime), NOW, 'serverTime is the injected clock');
  // qqmusic (priority 10) first up to 1 MiB, then netease up to 2 MiB, then overage
  s.expectAllocations(car.vin, '0', records[0]!, 'music', [QQ(614_400n)]);
  s.expectAllocations(car.vin, '0', records[1]!, 'music', [QQ(434_176n), NETEASE(565_824n)]);
  s.expectAllocations(car.vin, '0', records[2]!, 'music', [NETEASE(1_531_328n), OVERAGE(468_672n)]);

  const allocations = await s.db.query(
    `SELECT seq::int, part, payer, kind, sponsorship_id, bytes::text FROM allocations WHERE vin = $1 ORDER BY seq, part`,
    [car.vin],
  );
  t.same(allocations.rows, [
    { seq: 1, part: 0, payer: 'qqmusic', kind: 'sponsored', sponsorship_id: 'qqmusic-music', bytes: '614400' },
    { seq: 2, part: 0, payer: 'qqmusic', kind: 'sponsored', sponsorship_id: 'qqmusic-music', bytes: '434176' },
    { seq: 2, part: 1, payer: 'netease', kind: 'sponsored', sponsorship_id: 'netease-music', bytes: '565824' },
    { seq: 3, part: 0, payer: 'netease', kind: 'sponsored', sponsorship_id: 'netease-music', bytes: '1531328' },
    { seq: 3, part: 1, payer: 'oem-acme', kind: 'overage', sponsorship_id: null, bytes: '468672' },
  ]);
  const caps = await s.db.query(`SELECT sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes::text FROM cap_usage WHERE vin = $1 ORDER BY sponsorship_id`, [car.vin]);
  t.same(caps.rows, [
    { sponsorship_id: 'netease-music', month: '2026-11', bytes: '2097152' },
    { sponsorship_id: 'qqmusic-music', month: '2026-11', bytes: '1048576' },
  ]);

  // DESIGN 3.3: both caps used up and no pack → music is blocked (rev 1: its first change)
  const block = await waitFor(() => device.controlsFor('music').at(-1), 'the music control');
  t.match(block, { v: 1, app: 'music', action: 'block', reasons: ['FUNDS_EXHAUSTED'], rev: 1 });
  t.equal(Date.parse(block.at), NOW, '`at` is the injected clock');
  t.same(device.controlsFor('navigation'), [], 'navigation (uncapped) is never blocked');
  const vehicle = await s.svc.request('GET', `/v1/vehicles/${car.vin}`);
  t.ok(
    (vehicle.body.controls as Array<{ app: string; action: string; rev: number }>).some((c) => c.app === 'music' && c.action === 'block' && c.rev === 1),
    'GET /v1/vehicles/:vin shows the music block',
  );
  await checkLedger(t, s);
});

t.test('(b, c) a pack used up mid-record, the rest to overage; the hotspot blocked, then allowed again', async (t) => {
  const s = await startScenario(t);
  const car = await s.registerVehicle();
  const device = await s.connect(t, car, 'wifi-hotspot');
  const bought = await s.svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'hotspot-1m', externalOrderId: 'order-b-1' } });
  t.equal(bought.status, 201);
  t.match(bought.body, { pack: 'hotspot-1m', sizeBytes: 1_048_576, balanceBytes: 1_048_576 });
  t.equal(Date.parse(bought.body.purchasedAt), NOW, 'purchasedAt defaults to now (the injected clock)');
  t.equal(Date.parse(bought.body.expiresAt), NOW + 30 * DAY_MS, 'expiresAt = purchasedAt + validDays × 86,400 s');
  const pack1 = bought.body.id as string;

  const start = shanghai(NOW); // purchasedAt ≤ t
  const r1 = hotspot(1, start, 100_000, 600_000);
  t.same(counts(await device.send(t, { v: 1, batch: 1, records: [r1] })), accepted(1));
  s.expectAllocations(car.vin, '0', r1, 'wifi-hotspot', [PACK(pack1, 700_000n)]);
  const r2 = hotspot(2, start, 0, 500_000);
  t.same(counts(await device.send(t, { v: 1, batch: 2, records: [r2] })), accepted(1));
  // 348,576 bytes were left in the pack; the other 151,424 go to the automaker as overage
  s.expectAllocations(car.vin, '0', r2, 'wifi-hotspot', [PACK(pack1, 348_576n), OVERAGE(151_424n)]);
  const split = await s.db.query(`SELECT part, payer, kind, pack_instance_id::text AS pack, bytes::text, price_per_gib::numeric = 8 AS at_overage_price FROM allocations WHERE vin = $1 AND seq = 2 ORDER BY part`, [car.vin]);
  t.match(split.rows, [
    { part: 0, kind: 'pack', pack: pack1, bytes: '348576' },
    { part: 1, payer: 'oem-acme', kind: 'overage', pack: null, bytes: '151424', at_overage_price: true },
  ]);

  // (c) DESIGN 3.3: the pack is empty → wifi-hotspot blocked, retained, rev 1 (its first change)
  const block = await waitFor(() => device.controlsFor('wifi-hotspot').at(-1), 'the wifi-hotspot block');
  t.same(device.controlsFor('wifi-hotspot'), [{ v: 1, app: 'wifi-hotspot', action: 'block', reasons: ['FUNDS_EXHAUSTED'], rev: 1, at: block.at }], 'one control so far: the block');
  t.equal(Date.parse(block.at), NOW);

  const again = await s.svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'hotspot-1m', externalOrderId: 'order-b-2' } });
  t.equal(again.status, 201);
  const pack2 = again.body.id as string;
  const allow = await waitFor(() => device.controlsFor('wifi-hotspot').find((c) => c.action === 'allow'), 'the wifi-hotspot allow');
  t.match(allow, { v: 1, app: 'wifi-hotspot', action: 'allow', reasons: [], rev: 2 }, 'a new pack lifts the block with a higher rev');

  // a new subscription gets the retained state
  await device.client.unsubscribeAsync(`tbox/${car.vin}/control/wifi-hotspot`);
  const before = device.controls.length;
  await device.client.subscribeAsync(`tbox/${car.vin}/control/wifi-hotspot`, { qos: 1 });
  const retained = await waitFor(() => device.controls.slice(before)[0], 'the retained wifi-hotspot control');
  t.equal(retained.retain, true, 'the control is retained');
  t.same(retained.message, allow, 'the retained control is the latest one');

  const r3 = hotspot(3, start, 0, 200_000);
  t.same(counts(await device.send(t, { v: 1, batch: 3, records: [r3] })), accepted(1));
  s.expectAllocations(car.vin, '0', r3, 'wifi-hotspot', [PACK(pack2, 200_000n)]);
  const vehicle = await s.svc.request('GET', `/v1/vehicles/${car.vin}`);
  t.match(vehicle.body.packs, [
    { id: pack1, balanceBytes: 0 },
    { id: pack2, balanceBytes: 1_048_576 - 200_000 },
  ]);
  t.ok((vehicle.body.controls as ControlMessage[]).some((c) => c.app === 'wifi-hotspot' && c.action === 'allow' && c.rev === 2), 'the API shows wifi-hotspot allowed at rev 2');
  t.same(device.controlsFor('wifi-hotspot').map((c) => c.rev), [1, 2, 2], 'nothing else was published for wifi-hotspot');
  await checkLedger(t, s);
});

t.test('(e) the usage month is the month of `start` in the billing timezone; caps are per month', async (t) => {
  const s = await startScenario(t);
  const car = await s.registerVehicle();
  const device = await s.connect(t, car);
  // 2026-11-01T00:00+08:00 is still October in UTC: a UTC month would put both records in October
  const lastOfOctober = music(1, '2026-10-31T23:59:59.999+08:00', 72_864, 1_500_000);
  const firstOfNovember = music(2, '2026-11-01T00:00:00.000+08:00', 72_864, 1_500_000);
  t.same(counts(await device.send(t, { v: 1, batch: 1, records: [lastOfOctober, firstOfNovember] })), accepted(2));
  s.expectAllocations(car.vin, '0', lastOfOctober, 'music', [QQ(MiB), NETEASE(MiB / 2n)]);
  s.expectAllocations(car.vin, '0', firstOfNovember, 'music', [QQ(MiB), NETEASE(MiB / 2n)]);
  const months = await s.db.query(
    `SELECT seq::int, part, to_char(usage_month, 'YYYY-MM-DD') AS usage_month, to_char(usage_day, 'YYYY-MM-DD') AS usage_day, sponsorship_id, bytes::text
       FROM allocations WHERE vin = $1 ORDER BY seq, part`,
    [car.vin],
  );
  t.same(months.rows, [
    { seq: 1, part: 0, usage_month: '2026-10-01', usage_day: '2026-10-31', sponsorship_id: 'qqmusic-music', bytes: '1048576' },
    { seq: 1, part: 1, usage_month: '2026-10-01', usage_day: '2026-10-31', sponsorship_id: 'netease-music', bytes: '524288' },
    { seq: 2, part: 0, usage_month: '2026-11-01', usage_day: '2026-11-01', sponsorship_id: 'qqmusic-music', bytes: '1048576' },
    { seq: 2, part: 1, usage_month: '2026-11-01', usage_day: '2026-11-01', sponsorship_id: 'netease-music', bytes: '524288' },
  ]);

  // October again, after November: October's caps are what is left of October's
  const navigation = nav(3, '2026-10-20T09:00:00.000+08:00', 737_418_240, 10_000_000_000); // exactly 10 GiB
  const lateMusic = music(4, '2026-10-25T20:00:00.000+08:00', 350_080, 18_000_000); // 1.5 MiB + 16 MiB
  t.same(counts(await device.send(t, { v: 1, batch: 2, records: [navigation, lateMusic] })), accepted(2));
  s.expectAllocations(car.vin, '0', navigation, 'navigation', [AMAP(10n * 1_073_741_824n)]);
  s.expectAllocations(car.vin, '0', lateMusic, 'music', [NETEASE(3n * (MiB / 2n)), OVERAGE(16n * MiB)]);
  const caps = await s.db.query(
    `SELECT sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes::text FROM cap_usage WHERE vin = $1 AND sponsorship_id <> 'amap-navigation' ORDER BY month, sponsorship_id`,
    [car.vin],
  );
  t.same(caps.rows, [
    { sponsorship_id: 'netease-music', month: '2026-10', bytes: '2097152' },
    { sponsorship_id: 'qqmusic-music', month: '2026-10', bytes: '1048576' },
    { sponsorship_id: 'netease-music', month: '2026-11', bytes: '524288' },
    { sponsorship_id: 'qqmusic-music', month: '2026-11', bytes: '1048576' },
  ]);
  const lines = await checkLedger(t, s);
  const amapOctober = lines.get('amap|2026-10|navigation|sponsored|4.1225');
  t.equal(amapOctober && formatCents(amountCents(amapOctober.bytes, amapOctober.price)), '41.23', 'amap, October: 10 GiB at 4.1225 = 41.225 → 41.23');
  const overageOctober = lines.get('oem-acme|2026-10|music|overage|8');
  t.equal(overageOctober && formatCents(amountCents(overageOctober.bytes, overageOctober.price)), '0.13', 'music overage, October: 16 MiB at 8.00 = 0.125 → 0.13');
});

const F_START = '2026-11-15T09:00:00.000+08:00';
const fRecords = [1, 2, 3].map((seq) => nav(seq, F_START, 1000 * seq + 11, 20_000 * seq + 7));

/** (f), (g), (h) and (d) start from a vehicle that sent fRecords once (epoch 0), all accepted. */
async function sentFRecords(t: Test, s: Scenario) {
  const car = await s.registerVehicle();
  const device = await s.connect(t, car);
  const original = JSON.stringify({ v: 1, batch: 1, records: fRecords });
  t.same(counts(await device.send(t, original)), accepted(3), 'fRecords accepted');
  for (const r of fRecords) s.expectAllocations(car.vin, '0', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  return { car, device, original };
}

t.test('(f) duplicates: resent as is, or re-serialised, they are counted and never billed twice', async (t) => {
  const s = await startScenario(t);
  const { car, device, original } = await sentFRecords(t, s);
  const ledger = async () =>
    (
      await s.db.query(
        `SELECT (SELECT count(*) FROM usage_records WHERE vin = $1)::int AS records, (SELECT count(*) FROM allocations WHERE vin = $1)::int AS allocations,
                (SELECT sum(bytes) FROM allocations WHERE vin = $1)::text AS bytes, (SELECT sum(bytes) FROM rollup_app_month WHERE sponsor = 'amap')::text AS rollup`,
        [car.vin],
      )
    ).rows[0];
  const once = await ledger();
  t.match(once, { records: 3, allocations: 3 });

  t.same(counts(await device.send(t, original)), { accepted: 0, duplicates: 3, rejected: [] }, 'the same bytes again: all duplicates');
  t.same(await ledger(), once, 'nothing stored or billed twice');

  // The same records written differently: key order, whitespace, `Z` instead of +08:00 for the same
  // instant (and a sub-millisecond fraction, truncated), host in upper case with a trailing dot, the IPv6
  // address uncompressed in upper case, the default iface spelled out, an unknown field.
  const variant = {
    records: fRecords.map((r) => ({
      note: 'resent after a reboot',
      iface: 'tbox',
      proto: r.proto,
      port: r.port,
      ip: '2001:DB8:10:0:0:0:0:1',
      host: 'TILE.AMAP.COM.',
      down: r.down,
      up: r.up,
      end: new Date(Date.parse(r.end)).toISOString().replace(/\.(\d{3})Z$/, '.$1999Z'),
      start: new Date(Date.parse(r.start)).toISOString().replace('.000Z', 'Z'),
      seq: r.seq,
    })),
    epoch: '0',
    batch: 2,
    v: 1,
  };
  const text = JSON.stringify(variant, null, '\t').replace(/\n/g, '\r\n  ');
  t.match(text, /"start": "2026-11-15T01:00:00Z"/, 'the variant writes start in UTC');
  t.same(counts(await device.send(t, text)), { accepted: 0, duplicates: 3, rejected: [] }, 're-serialised: still duplicates');
  t.same(await ledger(), once, 'nothing stored or billed twice');
  const stored = await s.db.query(`SELECT host, ip FROM usage_records WHERE vin = $1 ORDER BY seq`, [car.vin]);
  t.same(stored.rows, fRecords.map(() => ({ host: 'tile.amap.com', ip: '2001:db8:10::1' })), 'the first version is stored normalised');

  // a resend while the first copy is still unacked (same batch): one copy accepted, the other duplicates
  const inFlight = { v: 1, batch: 9, epoch: 'twice', records: [nav(1, F_START, 61, 600), nav(2, F_START, 62, 600)] };
  device.publish(inFlight);
  device.publish(inFlight);
  const both = [counts(await device.ackOf(t, inFlight)), counts(await device.ackOf(t, inFlight))];
  t.same(both, [accepted(2), { accepted: 0, duplicates: 2, rejected: [] }], 'two copies in flight: accepted once, then duplicates');
  for (const r of inFlight.records) s.expectAllocations(car.vin, 'twice', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  await checkLedger(t, s);
});

t.test('(g) SEQ_CONFLICT: the same key with different content; the first version stands', async (t) => {
  const s = await startScenario(t);
  const { car, device } = await sentFRecords(t, s);
  const [f1, f2] = fRecords as [UsageRecord, UsageRecord];
  const changed = { ...f2, down: f2.down + 1 };
  const r4 = nav(4, F_START, 400, 4000);
  const r5 = nav(5, F_START, 500, 5000);
  const records = [f1, changed, r4, { ...r4, up: r4.up + 1 }, r5, { ...r5 }];
  const ack = await device.send(t, { v: 1, batch: 3, records });
  t.same(counts(ack), {
    accepted: 2,
    duplicates: 2,
    rejected: [
      { index: 1, seq: 2, code: 'SEQ_CONFLICT', retryable: false },
      { index: 3, seq: 4, code: 'SEQ_CONFLICT', retryable: false },
    ],
  });
  s.expectAllocations(car.vin, '0', r4, 'navigation', [AMAP(4400n)]);
  s.expectAllocations(car.vin, '0', r5, 'navigation', [AMAP(5500n)]);
  const stored = await s.db.query(`SELECT seq::int, up::text, down::text FROM usage_records WHERE vin = $1 AND epoch = '0' AND seq IN (2, 4) ORDER BY seq`, [car.vin]);
  t.same(stored.rows, [
    { seq: 2, up: String(f2.up), down: String(f2.down) },
    { seq: 4, up: '400', down: '4000' },
  ], 'the first versions stand');
  const dead = await s.db.query(`SELECT code, seq::int, record_index FROM dead_letters WHERE vin = $1 ORDER BY seq`, [car.vin]);
  t.same(dead.rows, [
    { code: 'SEQ_CONFLICT', seq: 2, record_index: 1 },
    { code: 'SEQ_CONFLICT', seq: 4, record_index: 3 },
  ], 'each conflict is a dead letter');
  await checkLedger(t, s);
});

t.test('(h) a new epoch reuses old seq numbers as new records', async (t) => {
  const s = await startScenario(t);
  const { car, device } = await sentFRecords(t, s);
  const records = [1, 2, 3].map((seq) => nav(seq, F_START, 5, 5000 * seq));
  t.same(counts(await device.send(t, { v: 1, batch: 4, epoch: 'b7e1-boot2', records })), accepted(3));
  for (const r of records) s.expectAllocations(car.vin, 'b7e1-boot2', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  const keys = await s.db.query(`SELECT epoch, count(*)::int AS n FROM usage_records WHERE vin = $1 AND epoch IN ('0', 'b7e1-boot2') GROUP BY epoch ORDER BY epoch`, [car.vin]);
  t.same(keys.rows, [
    { epoch: '0', n: 3 },
    { epoch: 'b7e1-boot2', n: 3 },
  ]);
  await checkLedger(t, s);
});

t.test('(i) malformed payloads are rejected whole; a bad record alone', async (t) => {
  const s = await startScenario(t);
  const car = await s.registerVehicle();
  const device = await s.connect(t, car);
  const start = '2026-11-15T11:00:00.000+08:00';

  const garbage = 'not json {';
  const invalid = await device.send(t, garbage);
  const { serverTime: _serverTime, error, ...rest } = invalid;
  t.same(rest, { v: 1, payloadSha256: sha16(garbage) }, 'no batch (none was readable), the payload hash, no counts');
  t.match(error, { code: 'INVALID_PAYLOAD', retryable: false, message: String });
  t.equal(Date.parse(invalid.serverTime), NOW);

  const v2 = JSON.stringify({ v: 2, batch: 77, records: [nav(1, start, 1, 1)] });
  const unsupported = await device.send(t, v2);
  t.match(unsupported, { v: 1, batch: 77, payloadSha256: sha16(v2), error: { code: 'UNSUPPORTED_VERSION', retryable: true } });

  // not this shape: whole-message INVALID_PAYLOAD, echoing `batch` whenever it is readable
  const noBatch = JSON.stringify({ v: 1, records: [nav(1, start, 1, 1)] });
  const withoutBatch = await device.send(t, noBatch);
  t.match(withoutBatch, { v: 1, payloadSha256: sha16(noBatch), error: { code: 'INVALID_PAYLOAD', retryable: false } }, '`batch` is required');
  t.notOk('batch' in withoutBatch, 'no batch to echo');
  const notArray = JSON.stringify({ v: 1, batch: 78, records: 'none' });
  t.match(await device.send(t, notArray), { v: 1, batch: 78, payloadSha256: sha16(notArray), error: { code: 'INVALID_PAYLOAD', retryable: false } }, 'records not an array');

  // one text with a negative count and a non-integer count (`1024.0` is not a JSON integer)
  const good1 = nav(1, start, 100, 1000);
  const good3 = nav(3, start, 300, 3000);
  const text = `{"v":1,"batch":3,"records":[${JSON.stringify(good1)},${JSON.stringify(nav(2, start, -1, 2000))},${JSON.stringify(good3)},${JSON.stringify(nav(4, start, 0, 0)).replace('"up":0', '"up":1024.0')}]}`;
  const partial = await device.send(t, text);
  t.same(counts(partial), {
    accepted: 2,
    duplicates: 0,
    rejected: [
      { index: 1, seq: 2, code: 'INVALID_RECORD', retryable: false },
      { index: 3, seq: 4, code: 'INVALID_RECORD', retryable: false },
    ],
  });
  t.match(partial.rejected[0]!.message, /^up/, 'the message names the field first');
  s.expectAllocations(car.vin, '0', good1, 'navigation', [AMAP(1100n)]);
  s.expectAllocations(car.vin, '0', good3, 'navigation', [AMAP(3300n)]);
  const dead = await s.db.query(`SELECT d.code, d.record_index, d.seq::int, p.payload FROM dead_letters d JOIN dead_letter_payloads p ON p.sha256 = d.payload_sha256 WHERE d.vin = $1 ORDER BY d.id`, [car.vin]);
  t.match(dead.rows, [
    { code: 'INVALID_PAYLOAD', record_index: null, seq: null },
    { code: 'UNSUPPORTED_VERSION', record_index: null },
    { code: 'INVALID_PAYLOAD', record_index: null },
    { code: 'INVALID_PAYLOAD', record_index: null },
    { code: 'INVALID_RECORD', record_index: 1, seq: 2 },
    { code: 'INVALID_RECORD', record_index: 3, seq: 4 },
  ]);
  t.equal(dead.rows.length, 6, 'every rejection is a dead letter');
  t.equal((dead.rows[0].payload as Buffer).toString(), garbage, 'the dead letter keeps the payload');
  await checkLedger(t, s);
});

t.test('(k) a burst of QoS 0 messages: every ack comes after the commit of what it accepts', async (t) => {
  const s = await startScenario(t);
  const car = await s.registerVehicle();
  const device = await s.connect(t, car);
  const messages: UsageMessage[] = Array.from({ length: 12 }, (_, m) => ({
    v: 1,
    batch: 100 + m,
    records: Array.from({ length: 50 }, (_, i) => nav(m * 50 + i + 1, '2026-11-15T08:00:00.000+08:00', 7 * i + m, 1000 + i)),
  }));
  for (const message of messages) device.publish(message);
  for (const message of messages) {
    t.same(counts(await device.ackOf(t, message)), accepted(50));
    for (const r of message.records) s.expectAllocations(car.vin, '0', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  }
  await checkLedger(t, s);
});

t.test('(l) BEFORE_ACTIVATION and CLOCK_AHEAD against the injected clock', async (t) => {
  const s = await startScenario(t);
  const never = await s.registerVehicle({ activatedAt: undefined });
  const neverDevice = await s.connect(t, never);
  const ack = await neverDevice.send(t, { v: 1, batch: 1, records: [nav(1, '2026-11-15T10:00:00.000+08:00', 1, 1)] });
  t.same(counts(ack), { accepted: 0, duplicates: 0, rejected: [{ index: 0, seq: 1, code: 'BEFORE_ACTIVATION', retryable: false }] }, 'a vehicle never activated rejects every record');

  const car = await s.registerVehicle({ activatedAt: '2026-11-15T00:00:00+08:00' });
  const device = await s.connect(t, car);
  const early = record(1, '2026-11-14T23:59:59.999+08:00', 10, 10, { host: 'tile.amap.com' });
  const onTime = record(2, '2026-11-15T00:00:00.000+08:00', 20, 20, { host: 'tile.amap.com' });
  const edge = { ...record(3, '2026-11-15T12:04:00.000+08:00', 30, 30, { host: 'tile.amap.com' }), end: shanghai(NOW + 300_000) };
  const ahead = { ...record(4, '2026-11-15T12:04:00.000+08:00', 40, 40, { host: 'tile.amap.com' }), end: shanghai(NOW + 300_001) };
  const mixed = await device.send(t, { v: 1, batch: 1, records: [early, onTime, edge, ahead] });
  t.same(counts(mixed), {
    accepted: 2,
    duplicates: 0,
    rejected: [
      { index: 0, seq: 1, code: 'BEFORE_ACTIVATION', retryable: false },
      { index: 3, seq: 4, code: 'CLOCK_AHEAD', retryable: true },
    ],
  });
  s.expectAllocations(car.vin, '0', onTime, 'navigation', [AMAP(40n)]);
  s.expectAllocations(car.vin, '0', edge, 'navigation', [AMAP(60n)]);

  // the T-Box keeps a CLOCK_AHEAD record and resends it; one millisecond later it is in time
  s.clock.advance(1);
  try {
    t.same(counts(await device.send(t, { v: 1, batch: 2, records: [ahead] })), accepted(1), 'a rejected record did not claim its seq');
  } finally {
    s.clock.set(NOW);
  }
  s.expectAllocations(car.vin, '0', ahead, 'navigation', [AMAP(80n)]);
  const dead = await s.db.query(`SELECT vin, code FROM dead_letters WHERE vin = ANY($1::text[]) ORDER BY id`, [[never.vin, car.vin]]);
  t.same(dead.rows, [
    { vin: never.vin, code: 'BEFORE_ACTIVATION' },
    { vin: car.vin, code: 'BEFORE_ACTIVATION' },
    { vin: car.vin, code: 'CLOCK_AHEAD' },
  ]);
  await checkLedger(t, s);
});

t.test('(l) the time checks use the receipt time, not the time of the commit', async (t) => {
  // The scenario catalog with maxLateDays 400, and the clock moved between the receipt of a message and
  // its commit (as it does for real under load, or while the database is down and ingest retries the same
  // batch). A lane writes one batch at a time: while the batch of a first message waits on a lock this test
  // holds, the second message is received and waits for the lane; then the clock moves, the lock goes, and
  // the second message commits 1 ms after its receipt. Every step waits for a state, never for a duration.
  const catalogDir = await mkdtemp(path.join(tmpdir(), 'catalog-late-'));
  t.teardown(() => rm(catalogDir, { recursive: true, force: true }));
  await cp(CATALOG_DIR, catalogDir, { recursive: true });
  await writeFile(
    path.join(catalogDir, '00-billing.yaml'),
    'billing: { timezone: Asia/Shanghai, currency: CNY, taxRate: "0.06", closeAfterDays: 3, maxLateDays: 400 }\noverage: { payer: oem-acme, pricePerGiB: "8.00" }\n',
  );
  const s = await startScenario(t, { catalogDir });
  const car = await s.registerVehicle({ activatedAt: '2025-01-01T00:00:00+08:00' });
  const device = await s.connect(t, car);

  const lock = new pg.Client({ connectionString: s.databaseUrl });
  lock.on('error', () => undefined); // the database is dropped at teardown
  await lock.connect();
  t.teardown(() => lock.end());
  await lock.query('BEGIN');
  await lock.query('LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE');
  const first = { v: 1, batch: 1, records: [nav(1, shanghai(NOW - 3_600_000), 10, 10)] };
  device.publish(first);
  await waitFor(async () => {
    const { rows } = await lock.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'usage_records'::regclass");
    return rows[0]!.n > 0;
  }, 'the batch of the first message waiting on the lock');

  const ahead = { ...record(2, shanghai(NOW + 240_000), 10, 10, { host: 'tile.amap.com' }), end: shanghai(NOW + 300_001) }; // CLOCK_AHEAD at receipt
  const oldest = record(3, shanghai(NOW - 400 * DAY_MS), 10, 10, { host: 'tile.amap.com' }); // exactly maxLateDays old at receipt: in time
  const second = { v: 1, batch: 2, records: [ahead, oldest] };
  device.publish(second);
  await waitFor(async () => /^ingest_pending_records(\{[^}]*\})? 2$/m.test((await s.svc.request('GET', '/metrics', { token: null })).body as string), 'the second message received, waiting for its lane');
  s.clock.advance(1); // received at NOW; committed 1 ms later
  await lock.query('COMMIT');

  t.same(counts(await device.ackOf(t, first)), accepted(1));
  s.expectAllocations(car.vin, '0', first.records[0]!, 'navigation', [AMAP(20n)]);
  t.same(
    counts(await device.ackOf(t, second)),
    { accepted: 1, duplicates: 0, rejected: [{ index: 0, seq: 2, code: 'CLOCK_AHEAD', retryable: true }] },
    'DESIGN 3.1: judged at receipt — the record ending 5 min + 1 ms ahead is CLOCK_AHEAD, the one exactly maxLateDays old is accepted',
  );
  s.expectAllocations(car.vin, '0', oldest, 'navigation', [AMAP(20n)]);
  await checkLedger(t, s);
});

t.test('(d) after a restart on the same database, devices get their controls again with the same rev', async (t) => {
  const s = await startScenario(t);
  const start = '2026-11-15T10:00:00.000+08:00';
  // Vehicle a: both music caps used up, no pack → music blocked (as in (a)).
  const a = await s.registerVehicle();
  const aDevice = await s.connect(t, a, '+');
  const aRecords = [music(1, start, 14_400, 600_000), music(2, start, 0, 1_000_000), music(3, start, 1_000, 1_999_000)];
  t.same(counts(await aDevice.send(t, { v: 1, batch: 1, records: aRecords })), accepted(3));
  s.expectAllocations(a.vin, '0', aRecords[0]!, 'music', [QQ(614_400n)]);
  s.expectAllocations(a.vin, '0', aRecords[1]!, 'music', [QQ(434_176n), NETEASE(565_824n)]);
  s.expectAllocations(a.vin, '0', aRecords[2]!, 'music', [NETEASE(1_531_328n), OVERAGE(468_672n)]);
  // Vehicle b: its hotspot pack used up → wifi-hotspot blocked (as in (b, c)).
  const b = await s.registerVehicle();
  const bDevice = await s.connect(t, b, '+');
  const bought = await s.svc.request('POST', `/v1/vehicles/${b.vin}/packs`, { body: { pack: 'hotspot-1m', externalOrderId: 'order-d-1' } });
  t.equal(bought.status, 201);
  const bRecords = [hotspot(1, shanghai(NOW), 100_000, 600_000), hotspot(2, shanghai(NOW), 0, 500_000)];
  t.same(counts(await bDevice.send(t, { v: 1, batch: 1, records: bRecords })), accepted(2));
  s.expectAllocations(b.vin, '0', bRecords[0]!, 'wifi-hotspot', [PACK(bought.body.id, 700_000n)]);
  s.expectAllocations(b.vin, '0', bRecords[1]!, 'wifi-hotspot', [PACK(bought.body.id, 348_576n), OVERAGE(151_424n)]);
  // Vehicle f: fRecords committed once.
  const { car: f } = await sentFRecords(t, s);

  // Every control of a and b arrived; the last message per app is what the restarted service must send again.
  const lastControls = new Map<string, ControlMessage>();
  for (const [name, car, device] of [['a', a, aDevice], ['b', b, bDevice]] as const) {
    await waitFor(async () => {
      const { rows } = await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM control_states WHERE vin = $1', [car.vin]);
      return new Set(device.controls.map((c) => c.app)).size === rows[0]!.n;
    }, `every control message of vehicle ${name}`);
    for (const c of device.controls) lastControls.set(`${car.vin}/${c.app}`, c.message);
  }
  t.match(lastControls.get(`${a.vin}/music`), { action: 'block', rev: 1 }, 'a: music blocked before the restart');
  t.match(lastControls.get(`${b.vin}/wifi-hotspot`), { action: 'block', rev: 1 }, 'b: wifi-hotspot blocked before the restart');

  await s.restart(t);
  for (const [name, car] of [['a', a], ['b', b]] as const) {
    const { rows } = await s.db.query<{ app: string; reasons: string[]; rev: number }>(
      'SELECT app, reasons, rev FROM control_states WHERE vin = $1 AND cardinality(reasons) > 0 ORDER BY app',
      [car.vin],
    );
    t.ok(rows.length > 0, `vehicle ${name} has blocked apps`);
    const device = await s.connect(t, car, '+');
    await waitFor(() => rows.every((row) => device.controlsFor(row.app).length > 0), `the controls of vehicle ${name} after the restart`);
    for (const row of rows) {
      const message = device.controlsFor(row.app)[0]!;
      t.match(message, { v: 1, app: row.app, action: 'block', reasons: row.reasons, rev: row.rev }, `${name}: ${row.app} as stored`);
      t.same(message, lastControls.get(`${car.vin}/${row.app}`), `${name}: ${row.app} is the message sent before the restart`);
    }
  }

  // exactly once holds across the restart too
  const device = await s.connect(t, f);
  t.same(counts(await device.send(t, { v: 1, batch: 1, records: fRecords })), { accepted: 0, duplicates: 3, rejected: [] });
  await checkLedger(t, s);
});
