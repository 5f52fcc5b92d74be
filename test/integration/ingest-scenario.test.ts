import { createHash } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import pg from 'pg';
import type { MqttClient } from 'mqtt';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from '../helpers/database.js';
import { manualClock, startTestService, type TestService } from '../helpers/service.js';

/**
 * End to end over a real mqtt client with the catalog of test/fixtures/catalog-scenario, where every
 * expected byte and amount is computed here, independently of src/: DESIGN 3.1 (usage), 3.2 (acks,
 * duplicates), 3.3 (controls), 4.2 (the waterfall), 4.3 (money), 7 (exactly once).
 *
 * The subtests share one database and run in order; each uses its own vehicle. Every allocation the
 * ledger should hold is written down in `expected` as the subtests go, and the last subtest compares the
 * whole ledger (allocations, cap counters, rollups, the usage API) with it. One subtest (receipt time)
 * needs a service with other settings and has its own database.
 */

const CATALOG_DIR = path.join(PROJECT_ROOT, 'test/fixtures/catalog-scenario');
const NOW = Date.parse('2026-11-15T12:00:00+08:00');
const MiB = 1_048_576n;
const DAY_MS = 86_400_000;
const clock = manualClock(NOW);

const databaseUrl = await createTestDatabase(t);
let svc: TestService = await startTestService(t, { DATABASE_URL: databaseUrl, CATALOG_DIR }, clock);
// The test's own connections: the ledger is read independently of the service, and across its restart.
const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
db.on('error', () => undefined); // the database is dropped at teardown
t.teardown(() => db.end());

// ---------------------------------------------------------------------------------------------
// Time and money, computed here without src/.

/** `ms` as RFC 3339 in Asia/Shanghai (UTC+8 all year since 1991). */
function shanghai(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().replace('Z', '+08:00');
}
const dayOf = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
const monthOf = (ms: number) => dayOf(ms).slice(0, 7);

/** round_half_up(bytes × price / 2^30, 2) in cents (DESIGN 4.3), bigint only. */
function amountCents(bytes: bigint, price: string): bigint {
  const [whole, fraction = ''] = price.split('.');
  const units = BigInt(`${whole}${fraction}`);
  const numerator = bytes * units * 100n;
  const denominator = 1_073_741_824n * 10n ** BigInt(fraction.length);
  return (2n * numerator + denominator) / (2n * denominator);
}
const formatCents = (cents: bigint) => `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
/** "8.0000" and "8.00" are the same price. */
const normPrice = (price: string | null) => (price === null ? null : price.includes('.') ? price.replace(/0+$/, '').replace(/\.$/, '') : price);

t.test('the test\'s own money formula: ties round half up', async (t) => {
  t.equal(formatCents(amountCents(10n * 1_073_741_824n, '4.1225')), '41.23', '41.225 → 41.23 (half-even or truncation would say 41.22)');
  t.equal(formatCents(amountCents(16n * MiB, '8.00')), '0.13', '0.125 → 0.13');
  t.equal(formatCents(amountCents(1_073_741_823n, '1.00')), '1.00');
  t.equal(formatCents(amountCents(5_368_709n, '1.00')), '0.00', '0.004999… → 0.00');
  t.equal(formatCents(amountCents(5_368_710n, '1.00')), '0.01', '0.0050000… → 0.01');
});

// ---------------------------------------------------------------------------------------------
// The expected ledger.

interface Part {
  payer: string | null; // null for packs: who pays a pack is not a sponsor
  kind: 'sponsored' | 'pack' | 'overage';
  sponsorship: string | null;
  pack: string | null;
  bytes: bigint;
  price: string | null;
}
interface ExpectedAllocation extends Part {
  vin: string;
  epoch: string;
  seq: number;
  part: number;
  app: string;
  month: string;
  day: string;
}
const expected: ExpectedAllocation[] = [];

const QQ = (bytes: bigint): Part => ({ payer: 'qqmusic', kind: 'sponsored', sponsorship: 'qqmusic-music', pack: null, bytes, price: '3.3333' });
const NETEASE = (bytes: bigint): Part => ({ payer: 'netease', kind: 'sponsored', sponsorship: 'netease-music', pack: null, bytes, price: '2.7183' });
const AMAP = (bytes: bigint): Part => ({ payer: 'amap', kind: 'sponsored', sponsorship: 'amap-navigation', pack: null, bytes, price: '4.1225' });
const OVERAGE = (bytes: bigint): Part => ({ payer: 'oem-acme', kind: 'overage', sponsorship: null, pack: null, bytes, price: '8.00' });
const PACK = (pack: string, bytes: bigint): Part => ({ payer: null, kind: 'pack', sponsorship: null, pack, bytes, price: null });
const CAPS: Record<string, bigint> = { 'qqmusic-music': 1n * MiB, 'netease-music': 2n * MiB };

/** Writes down what the ledger must hold for one accepted record. */
function expectAllocations(vin: string, epoch: string, record: UsageRecord, app: string, parts: Part[]): void {
  const total = parts.reduce((sum, p) => sum + p.bytes, 0n);
  if (total !== BigInt(record.up) + BigInt(record.down)) throw new Error(`test bug: parts of seq ${record.seq} do not add up`);
  const startMs = Date.parse(record.start);
  parts.forEach((p, part) => expected.push({ ...p, vin, epoch, seq: record.seq, part, app, month: monthOf(startMs), day: dayOf(startMs) }));
}

// ---------------------------------------------------------------------------------------------
// Records, messages and a device.

interface UsageRecord {
  seq: number;
  start: string;
  end: string;
  up: number;
  down: number;
  host?: string;
  ip?: string;
  port?: number;
  proto?: string;
  iface?: string;
  pkg?: string;
}
interface UsageMessage {
  v: number;
  batch: number;
  epoch?: string;
  records: UsageRecord[];
}
interface Rejection {
  index: number;
  seq: number | null;
  code: string;
  message: string;
  retryable: boolean;
}
interface Ack {
  v: number;
  batch?: number;
  serverTime: string;
  accepted: number;
  duplicates: number;
  rejected: Rejection[];
  payloadSha256?: string;
  error?: { code: string; message: string; retryable: boolean };
}
interface ControlMessage {
  v: number;
  app: string;
  action: 'block' | 'allow';
  reasons: string[];
  rev: number;
  at: string;
}

function record(seq: number, startIso: string, up: number, down: number, extra: Partial<UsageRecord> = {}): UsageRecord {
  return { seq, start: startIso, end: shanghai(Date.parse(startIso) + 60_000), up, down, ...extra };
}
const music = (seq: number, start: string, up: number, down: number, extra: Partial<UsageRecord> = {}) =>
  record(seq, start, up, down, { host: 'stream.y.qq.com', port: 443, proto: 'tcp', ...extra });
const nav = (seq: number, start: string, up: number, down: number, extra: Partial<UsageRecord> = {}) =>
  record(seq, start, up, down, { host: 'tile.amap.com', ip: '2001:db8:10::1', port: 443, proto: 'tcp', ...extra });
const hotspot = (seq: number, start: string, up: number, down: number) => record(seq, start, up, down, { iface: 'hotspot', host: 'www.example.org', port: 443 });

const sha16 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex').slice(0, 16);

async function waitFor<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000): Promise<T> {
  // A bound that turns a hang into a message; it asserts nothing about speed.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * DESIGN 3.2 "sent only after the ledger commit": started synchronously when the ack arrives, this reads
 * (on the test's own connection) the records the ack did not reject and their allocations. Anything
 * missing at that moment was acked before its commit.
 */
async function uncommittedAtAck(vin: string, message: UsageMessage, ack: Ack): Promise<string[]> {
  const rejected = new Set(ack.rejected.map((r) => r.index));
  const seqs = [...new Set(message.records.filter((_, i) => !rejected.has(i)).map((r) => r.seq))];
  if (seqs.length === 0) return [];
  const { rows } = await db.query<{ seq: string; bytes: string; allocated: string }>(
    `SELECT u.seq, (u.up + u.down)::text AS bytes, coalesce((SELECT sum(a.bytes) FROM allocations a WHERE a.vin = u.vin AND a.epoch = u.epoch AND a.seq = u.seq), 0)::text AS allocated
       FROM usage_records u WHERE u.vin = $1 AND u.epoch = $2 AND u.seq = ANY($3::bigint[])`,
    [vin, message.epoch ?? '0', seqs],
  );
  const found = new Map(rows.map((r) => [Number(r.seq), r]));
  return seqs.flatMap((seq) => {
    const row = found.get(seq);
    if (!row) return [`seq ${seq}: no usage record`];
    return row.bytes === row.allocated ? [] : [`seq ${seq}: ${row.allocated} of ${row.bytes} bytes allocated`];
  });
}

interface Device {
  vin: string;
  client: MqttClient;
  acks: Ack[];
  controls: Array<{ app: string; retain: boolean; message: ControlMessage }>;
  /** Publishes and resolves with the ack of that message; checks DESIGN 3.2 on it. */
  send(t: Test, payload: UsageMessage | string, options?: { qos?: 0 | 1 }): Promise<Ack>;
  /** Publishes without waiting (QoS 0); `ackOf` waits for the ack of a batch. */
  publish(message: UsageMessage): void;
  ackOf(t: Test, message: UsageMessage): Promise<Ack>;
  controlsFor(app: string): ControlMessage[];
}

async function connect(t: Test, car: { vin: string; deviceSecret: string }, controlFilter: string | null = null): Promise<Device> {
  const { vin } = car;
  const client = await svc.connectDevice(vin, car.deviceSecret);
  t.teardown(() => void client.end(true));
  const acks: Ack[] = [];
  const controls: Device['controls'] = [];
  const sent = new Map<number, UsageMessage>();
  const checks = new Map<Ack, Promise<string[]>>();
  const consumed = new Set<Ack>();
  client.on('message', (topic, payload, packet) => {
    if (topic === `tbox/${vin}/ack`) {
      const ack = JSON.parse(payload.toString()) as Ack;
      acks.push(ack);
      const message = ack.batch !== undefined && !ack.error ? sent.get(ack.batch) : undefined;
      // started now, before anything else runs: see uncommittedAtAck
      checks.set(ack, message ? uncommittedAtAck(vin, message, ack) : Promise.resolve([]));
    } else if (topic.startsWith(`tbox/${vin}/control/`)) {
      controls.push({ app: topic.slice(`tbox/${vin}/control/`.length), retain: packet.retain, message: JSON.parse(payload.toString()) as ControlMessage });
    }
  });
  const granted = await client.subscribeAsync(`tbox/${vin}/ack`, { qos: 1 });
  if (granted[0]?.qos !== 1) throw new Error(`ack subscription refused: ${JSON.stringify(granted)}`);
  if (controlFilter) await client.subscribeAsync(`tbox/${vin}/control/${controlFilter}`, { qos: 1 });

  async function ackOf(t: Test, match: (ack: Ack) => boolean, records: number | null, what: string): Promise<Ack> {
    const ack = await waitFor(() => acks.find((a) => !consumed.has(a) && match(a)), `the ack of ${what}`);
    consumed.add(ack);
    t.same(await checks.get(ack), [], `ack of ${what}: its records were committed, with their allocations, before it was sent`);
    t.equal(ack.v, 1, `ack of ${what}: v 1`);
    if (!ack.error && records !== null) {
      // DESIGN 3.2: an ack covers every record of its message
      t.equal(ack.accepted + ack.duplicates + ack.rejected.length, records, `ack of ${what}: accepted + duplicates + rejected = records`);
    }
    return ack;
  }
  const parse = (text: string): UsageMessage | null => {
    try {
      const value = JSON.parse(text) as UsageMessage;
      return typeof value === 'object' && value !== null && Array.isArray(value.records) && typeof value.batch === 'number' ? value : null;
    } catch {
      return null;
    }
  };

  return {
    vin,
    client,
    acks,
    controls,
    async send(t, payload, options = {}) {
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const message = parse(text);
      if (message) sent.set(message.batch, message);
      await client.publishAsync(`tbox/${vin}/usage`, text, { qos: options.qos ?? 1 });
      const batch = message?.batch;
      const what = message ? `batch ${message.batch}` : `payload ${sha16(text)}`;
      return ackOf(t, (a) => (batch !== undefined && a.batch !== undefined ? a.batch === batch : a.payloadSha256 === sha16(text)), message?.records.length ?? null, what);
    },
    publish(message) {
      sent.set(message.batch, message);
      client.publish(`tbox/${vin}/usage`, JSON.stringify(message), { qos: 0 });
    },
    ackOf: (t, message) => ackOf(t, (a) => a.batch === message.batch, message.records.length, `batch ${message.batch}`),
    controlsFor: (app) => controls.filter((c) => c.app === app).map((c) => c.message),
  };
}

/** The counts of an ack, rejections without their free-text message: compared with t.same (exact). */
function counts(ack: Ack) {
  return { accepted: ack.accepted, duplicates: ack.duplicates, rejected: (ack.rejected ?? []).map((r) => ({ index: r.index, seq: r.seq, code: r.code, retryable: r.retryable })) };
}
const accepted = (n: number) => ({ accepted: n, duplicates: 0, rejected: [] });
const root = t;
const cars: Record<string, { vin: string; deviceSecret: string }> = {};
/** The last control message seen per vin and app before the restart of (d). */
const lastControls = new Map<string, ControlMessage>();

// ---------------------------------------------------------------------------------------------

t.test('(a) a capped app split across two sponsors by priority, exact bytes per sponsor', async (t) => {
  const car = (cars.a = await svc.registerVehicle());
  const device = await connect(t, car, '+');
  const start = '2026-11-15T10:00:00.000+08:00';
  const records = [music(1, start, 14_400, 600_000), music(2, start, 0, 1_000_000), music(3, start, 1_000, 1_999_000)];
  const ack = await device.send(t, { v: 1, batch: 1, records });
  t.same(counts(ack), accepted(3));
  t.equal(Date.parse(ack.serverTime), NOW, 'serverTime is the injected clock');
  // qqmusic (priority 10) first up to 1 MiB, then netease up to 2 MiB, then overage
  expectAllocations(car.vin, '0', records[0]!, 'music', [QQ(614_400n)]);
  expectAllocations(car.vin, '0', records[1]!, 'music', [QQ(434_176n), NETEASE(565_824n)]);
  expectAllocations(car.vin, '0', records[2]!, 'music', [NETEASE(1_531_328n), OVERAGE(468_672n)]);

  const allocations = await db.query(
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
  const caps = await db.query(`SELECT sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes::text FROM cap_usage WHERE vin = $1 ORDER BY sponsorship_id`, [car.vin]);
  t.same(caps.rows, [
    { sponsorship_id: 'netease-music', month: '2026-11', bytes: '2097152' },
    { sponsorship_id: 'qqmusic-music', month: '2026-11', bytes: '1048576' },
  ]);

  // DESIGN 3.3: both caps used up and no pack → music is blocked (rev 1: its first change)
  const block = await waitFor(() => device.controlsFor('music').at(-1), 'the music control');
  t.match(block, { v: 1, app: 'music', action: 'block', reasons: ['FUNDS_EXHAUSTED'], rev: 1 });
  t.equal(Date.parse(block.at), NOW, '`at` is the injected clock');
  t.same(device.controlsFor('navigation'), [], 'navigation (uncapped) is never blocked');
  const vehicle = await svc.request('GET', `/v1/vehicles/${car.vin}`);
  t.ok(
    (vehicle.body.controls as Array<{ app: string; action: string; rev: number }>).some((c) => c.app === 'music' && c.action === 'block' && c.rev === 1),
    'GET /v1/vehicles/:vin shows the music block',
  );
  // wait until every control of this batch arrived, then remember the last message per app for (d)
  await waitFor(async () => {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM control_states WHERE vin = $1', [car.vin]);
    return new Set(device.controls.map((c) => c.app)).size === rows[0]!.n;
  }, 'every control message of vehicle a');
  for (const c of device.controls) lastControls.set(`${car.vin}/${c.app}`, c.message);
});

t.test('(b, c) a pack used up mid-record, the rest to overage; the hotspot blocked, then allowed again', async (t) => {
  const car = (cars.b = await svc.registerVehicle());
  const device = await connect(t, car, 'wifi-hotspot');
  const bought = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'hotspot-1m', externalOrderId: 'order-b-1' } });
  t.equal(bought.status, 201);
  t.match(bought.body, { pack: 'hotspot-1m', sizeBytes: 1_048_576, balanceBytes: 1_048_576 });
  t.equal(Date.parse(bought.body.purchasedAt), NOW, 'purchasedAt defaults to now (the injected clock)');
  t.equal(Date.parse(bought.body.expiresAt), NOW + 30 * DAY_MS, 'expiresAt = purchasedAt + validDays × 86,400 s');
  const pack1 = bought.body.id as string;

  const start = shanghai(NOW); // purchasedAt ≤ t
  const r1 = hotspot(1, start, 100_000, 600_000);
  t.same(counts(await device.send(t, { v: 1, batch: 1, records: [r1] })), accepted(1));
  expectAllocations(car.vin, '0', r1, 'wifi-hotspot', [PACK(pack1, 700_000n)]);
  const r2 = hotspot(2, start, 0, 500_000);
  t.same(counts(await device.send(t, { v: 1, batch: 2, records: [r2] })), accepted(1));
  // 348,576 bytes were left in the pack; the other 151,424 go to the automaker as overage
  expectAllocations(car.vin, '0', r2, 'wifi-hotspot', [PACK(pack1, 348_576n), OVERAGE(151_424n)]);
  const split = await db.query(`SELECT part, payer, kind, pack_instance_id::text AS pack, bytes::text, price_per_gib::numeric = 8 AS at_overage_price FROM allocations WHERE vin = $1 AND seq = 2 ORDER BY part`, [car.vin]);
  t.match(split.rows, [
    { part: 0, kind: 'pack', pack: pack1, bytes: '348576' },
    { part: 1, payer: 'oem-acme', kind: 'overage', pack: null, bytes: '151424', at_overage_price: true },
  ]);

  // (c) DESIGN 3.3: the pack is empty → wifi-hotspot blocked, retained, rev 1 (its first change)
  const block = await waitFor(() => device.controlsFor('wifi-hotspot').at(-1), 'the wifi-hotspot block');
  t.same(device.controlsFor('wifi-hotspot'), [{ v: 1, app: 'wifi-hotspot', action: 'block', reasons: ['FUNDS_EXHAUSTED'], rev: 1, at: block.at }], 'one control so far: the block');
  t.equal(Date.parse(block.at), NOW);

  const again = await svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'hotspot-1m', externalOrderId: 'order-b-2' } });
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
  expectAllocations(car.vin, '0', r3, 'wifi-hotspot', [PACK(pack2, 200_000n)]);
  const vehicle = await svc.request('GET', `/v1/vehicles/${car.vin}`);
  t.match(vehicle.body.packs, [
    { id: pack1, balanceBytes: 0 },
    { id: pack2, balanceBytes: 1_048_576 - 200_000 },
  ]);
  t.ok((vehicle.body.controls as ControlMessage[]).some((c) => c.app === 'wifi-hotspot' && c.action === 'allow' && c.rev === 2), 'the API shows wifi-hotspot allowed at rev 2');
  t.same(device.controlsFor('wifi-hotspot').map((c) => c.rev), [1, 2, 2], 'nothing else was published for wifi-hotspot');
});

t.test('(e) the usage month is the month of `start` in the billing timezone; caps are per month', async (t) => {
  const car = (cars.e = await svc.registerVehicle());
  const device = await connect(t, car);
  // 2026-11-01T00:00+08:00 is still October in UTC: a UTC month would put both records in October
  const lastOfOctober = music(1, '2026-10-31T23:59:59.999+08:00', 72_864, 1_500_000);
  const firstOfNovember = music(2, '2026-11-01T00:00:00.000+08:00', 72_864, 1_500_000);
  t.same(counts(await device.send(t, { v: 1, batch: 1, records: [lastOfOctober, firstOfNovember] })), accepted(2));
  expectAllocations(car.vin, '0', lastOfOctober, 'music', [QQ(MiB), NETEASE(MiB / 2n)]);
  expectAllocations(car.vin, '0', firstOfNovember, 'music', [QQ(MiB), NETEASE(MiB / 2n)]);
  const months = await db.query(
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
  expectAllocations(car.vin, '0', navigation, 'navigation', [AMAP(10n * 1_073_741_824n)]);
  expectAllocations(car.vin, '0', lateMusic, 'music', [NETEASE(3n * (MiB / 2n)), OVERAGE(16n * MiB)]);
  const caps = await db.query(
    `SELECT sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes::text FROM cap_usage WHERE vin = $1 AND sponsorship_id <> 'amap-navigation' ORDER BY month, sponsorship_id`,
    [car.vin],
  );
  t.same(caps.rows, [
    { sponsorship_id: 'netease-music', month: '2026-10', bytes: '2097152' },
    { sponsorship_id: 'qqmusic-music', month: '2026-10', bytes: '1048576' },
    { sponsorship_id: 'netease-music', month: '2026-11', bytes: '524288' },
    { sponsorship_id: 'qqmusic-music', month: '2026-11', bytes: '1048576' },
  ]);
});

const F_START = '2026-11-15T09:00:00.000+08:00';
const fRecords = [1, 2, 3].map((seq) => nav(seq, F_START, 1000 * seq + 11, 20_000 * seq + 7));
let fVehicle: Device | null = null;

t.test('(f) duplicates: resent as is, or re-serialised, they are counted and never billed twice', async (t) => {
  const car = (cars.f = await svc.registerVehicle());
  const device = (fVehicle = await connect(root, car)); // used by (g) and (h) too
  const original = JSON.stringify({ v: 1, batch: 1, records: fRecords });
  t.same(counts(await device.send(t, original)), accepted(3));
  for (const r of fRecords) expectAllocations(car.vin, '0', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  const ledger = async () =>
    (
      await db.query(
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
  const stored = await db.query(`SELECT host, ip FROM usage_records WHERE vin = $1 ORDER BY seq`, [car.vin]);
  t.same(stored.rows, fRecords.map(() => ({ host: 'tile.amap.com', ip: '2001:db8:10::1' })), 'the first version is stored normalised');

  // a resend while the first copy is still unacked (same batch): one copy accepted, the other duplicates
  const inFlight = { v: 1, batch: 9, epoch: 'twice', records: [nav(1, F_START, 61, 600), nav(2, F_START, 62, 600)] };
  device.publish(inFlight);
  device.publish(inFlight);
  const both = [counts(await device.ackOf(t, inFlight)), counts(await device.ackOf(t, inFlight))];
  t.same(both, [accepted(2), { accepted: 0, duplicates: 2, rejected: [] }], 'two copies in flight: accepted once, then duplicates');
  for (const r of inFlight.records) expectAllocations(car.vin, 'twice', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
});

t.test('(g) SEQ_CONFLICT: the same key with different content; the first version stands', async (t) => {
  const car = cars.f!;
  const device = fVehicle!;
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
  expectAllocations(car.vin, '0', r4, 'navigation', [AMAP(4400n)]);
  expectAllocations(car.vin, '0', r5, 'navigation', [AMAP(5500n)]);
  const stored = await db.query(`SELECT seq::int, up::text, down::text FROM usage_records WHERE vin = $1 AND epoch = '0' AND seq IN (2, 4) ORDER BY seq`, [car.vin]);
  t.same(stored.rows, [
    { seq: 2, up: String(f2.up), down: String(f2.down) },
    { seq: 4, up: '400', down: '4000' },
  ], 'the first versions stand');
  const dead = await db.query(`SELECT code, seq::int, record_index FROM dead_letters WHERE vin = $1 ORDER BY seq`, [car.vin]);
  t.same(dead.rows, [
    { code: 'SEQ_CONFLICT', seq: 2, record_index: 1 },
    { code: 'SEQ_CONFLICT', seq: 4, record_index: 3 },
  ], 'each conflict is a dead letter');
});

t.test('(h) a new epoch reuses old seq numbers as new records', async (t) => {
  const car = cars.f!;
  const device = fVehicle!;
  const records = [1, 2, 3].map((seq) => nav(seq, F_START, 5, 5000 * seq));
  t.same(counts(await device.send(t, { v: 1, batch: 4, epoch: 'b7e1-boot2', records })), accepted(3));
  for (const r of records) expectAllocations(car.vin, 'b7e1-boot2', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  const keys = await db.query(`SELECT epoch, count(*)::int AS n FROM usage_records WHERE vin = $1 AND epoch IN ('0', 'b7e1-boot2') GROUP BY epoch ORDER BY epoch`, [car.vin]);
  t.same(keys.rows, [
    { epoch: '0', n: 5 },
    { epoch: 'b7e1-boot2', n: 3 },
  ]);
});

t.test('(i) malformed payloads are rejected whole; a bad record alone', async (t) => {
  const car = (cars.i = await svc.registerVehicle());
  const device = await connect(t, car);
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
  expectAllocations(car.vin, '0', good1, 'navigation', [AMAP(1100n)]);
  expectAllocations(car.vin, '0', good3, 'navigation', [AMAP(3300n)]);
  const dead = await db.query(`SELECT d.code, d.record_index, d.seq::int, p.payload FROM dead_letters d JOIN dead_letter_payloads p ON p.sha256 = d.payload_sha256 WHERE d.vin = $1 ORDER BY d.id`, [car.vin]);
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
});

t.test('(k) a burst of QoS 0 messages: every ack comes after the commit of what it accepts', async (t) => {
  const car = (cars.k = await svc.registerVehicle());
  const device = await connect(t, car);
  const messages: UsageMessage[] = Array.from({ length: 12 }, (_, m) => ({
    v: 1,
    batch: 100 + m,
    records: Array.from({ length: 50 }, (_, i) => nav(m * 50 + i + 1, '2026-11-15T08:00:00.000+08:00', 7 * i + m, 1000 + i)),
  }));
  for (const message of messages) device.publish(message);
  for (const message of messages) {
    t.same(counts(await device.ackOf(t, message)), accepted(50));
    for (const r of message.records) expectAllocations(car.vin, '0', r, 'navigation', [AMAP(BigInt(r.up + r.down))]);
  }
});

t.test('(l) BEFORE_ACTIVATION and CLOCK_AHEAD against the injected clock', async (t) => {
  const never = (cars.l0 = await svc.registerVehicle(undefined, { activatedAt: undefined }));
  const neverDevice = await connect(t, never);
  const ack = await neverDevice.send(t, { v: 1, batch: 1, records: [nav(1, '2026-11-15T10:00:00.000+08:00', 1, 1)] });
  t.same(counts(ack), { accepted: 0, duplicates: 0, rejected: [{ index: 0, seq: 1, code: 'BEFORE_ACTIVATION', retryable: false }] }, 'a vehicle never activated rejects every record');

  const car = (cars.l1 = await svc.registerVehicle(undefined, { activatedAt: '2026-11-15T00:00:00+08:00' }));
  const device = await connect(t, car);
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
  expectAllocations(car.vin, '0', onTime, 'navigation', [AMAP(40n)]);
  expectAllocations(car.vin, '0', edge, 'navigation', [AMAP(60n)]);

  // the T-Box keeps a CLOCK_AHEAD record and resends it; one millisecond later it is in time
  clock.advance(1);
  try {
    t.same(counts(await device.send(t, { v: 1, batch: 2, records: [ahead] })), accepted(1), 'a rejected record did not claim its seq');
  } finally {
    clock.set(NOW);
  }
  expectAllocations(car.vin, '0', ahead, 'navigation', [AMAP(80n)]);
  const dead = await db.query(`SELECT vin, code FROM dead_letters WHERE vin = ANY($1::text[]) ORDER BY id`, [[never.vin, car.vin]]);
  t.same(dead.rows, [
    { vin: never.vin, code: 'BEFORE_ACTIVATION' },
    { vin: car.vin, code: 'BEFORE_ACTIVATION' },
    { vin: car.vin, code: 'CLOCK_AHEAD' },
  ]);
});

t.test('(l) the time checks use the receipt time, not the time of the commit', async (t) => {
  // Its own service and database, so the ledger of the other subtests is not touched: the scenario
  // catalog with maxLateDays 400, and micro-batches held open for 2 s so the clock can move between the
  // receipt of a message and its commit (as it does for real under load, or while the database is down
  // and ingest retries the same batch).
  const catalogDir = await mkdtemp(path.join(tmpdir(), 'catalog-late-'));
  t.teardown(() => rm(catalogDir, { recursive: true, force: true }));
  await cp(CATALOG_DIR, catalogDir, { recursive: true });
  await writeFile(
    path.join(catalogDir, '00-billing.yaml'),
    'billing: { timezone: Asia/Shanghai, currency: CNY, taxRate: "0.06", closeAfterDays: 3, maxLateDays: 400 }\noverage: { payer: oem-acme, pricePerGiB: "8.00" }\n',
  );
  const lateClock = manualClock(NOW);
  const late = await startTestService(t, { CATALOG_DIR: catalogDir, BATCH_MAX_MS: '2000', BATCH_MAX_RECORDS: '100000' }, lateClock);
  const car = await late.registerVehicle(undefined, { activatedAt: '2025-01-01T00:00:00+08:00' });
  const client = await late.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => void client.end(true));
  const acks: Ack[] = [];
  client.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()) as Ack));
  await client.subscribeAsync(`tbox/${car.vin}/ack`, { qos: 1 });

  const ahead = { ...record(1, shanghai(NOW + 240_000), 10, 10, { host: 'tile.amap.com' }), end: shanghai(NOW + 300_001) }; // CLOCK_AHEAD at receipt
  const oldest = record(2, shanghai(NOW - 400 * DAY_MS), 10, 10, { host: 'tile.amap.com' }); // exactly maxLateDays old at receipt: in time
  client.publish(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: 1, records: [ahead, oldest] }), { qos: 0 });
  await waitFor(async () => /^ingest_pending_records(\{[^}]*\})? 2$/m.test((await late.request('GET', '/metrics', { token: null })).body as string), 'the message to be received');
  lateClock.advance(1); // received at NOW; committed 1 ms later
  const ack = await waitFor(() => acks[0], 'the ack');
  t.same(
    counts(ack),
    { accepted: 1, duplicates: 0, rejected: [{ index: 0, seq: 1, code: 'CLOCK_AHEAD', retryable: true }] },
    'DESIGN 3.1: judged at receipt — the record ending 5 min + 1 ms ahead is CLOCK_AHEAD, the one exactly maxLateDays old is accepted',
  );
});

t.test('(d) after a restart on the same database, devices get their controls again with the same rev', async (t) => {
  await svc.service.stop();
  svc = await startTestService(root, { DATABASE_URL: databaseUrl, CATALOG_DIR }, clock);
  for (const name of ['a', 'b']) {
    const car = cars[name]!;
    const { rows } = await db.query<{ app: string; reasons: string[]; rev: number }>(
      'SELECT app, reasons, rev FROM control_states WHERE vin = $1 AND cardinality(reasons) > 0 ORDER BY app',
      [car.vin],
    );
    t.ok(rows.length > 0, `vehicle ${name} has blocked apps`);
    const device = await connect(t, car, '+');
    await waitFor(() => rows.every((row) => device.controlsFor(row.app).length > 0), `the controls of vehicle ${name} after the restart`);
    for (const row of rows) {
      const message = device.controlsFor(row.app)[0]!;
      t.match(message, { v: 1, app: row.app, action: 'block', reasons: row.reasons, rev: row.rev }, `${name}: ${row.app} as stored`);
      const before = lastControls.get(`${car.vin}/${row.app}`);
      if (before) t.same(message, before, `${name}: ${row.app} is the message sent before the restart`);
    }
  }
  t.ok(lastControls.has(`${cars.a!.vin}/music`), 'the music block of (a) was compared');

  // exactly once holds across the restart too
  const device = await connect(t, cars.f!);
  t.same(counts(await device.send(t, { v: 1, batch: 1, records: fRecords })), { accepted: 0, duplicates: 3, rejected: [] });
});

t.test('the whole ledger: allocations, caps, rollups and amounts are exactly the expected ones', async (t) => {
  const sortKey = (a: { vin: string; epoch: string; seq: number; part: number }) => `${a.vin}/${a.epoch}/${String(a.seq).padStart(8, '0')}/${a.part}`;
  const byKey = <T extends { vin: string; epoch: string; seq: number; part: number }>(list: T[]) => [...list].sort((x, y) => (sortKey(x) < sortKey(y) ? -1 : 1));

  const { rows } = await db.query(
    `SELECT vin, epoch, seq::int, part, CASE WHEN kind = 'pack' THEN NULL ELSE payer END AS payer, kind, sponsorship_id AS sponsorship,
            pack_instance_id::text AS pack, bytes::text, price_per_gib::text AS price, app,
            to_char(usage_month, 'YYYY-MM') AS month, to_char(usage_day, 'YYYY-MM-DD') AS day
       FROM allocations`,
  );
  const actual = byKey(rows.map((r) => ({ ...r, price: normPrice(r.price) })));
  const want = byKey(expected.map((e) => ({ ...e, bytes: e.bytes.toString(), price: normPrice(e.price) })));
  t.equal(actual.length, want.length, 'as many allocations as expected');
  t.same(actual, want, 'every allocation as expected');

  const records = await db.query(`SELECT count(*)::int AS n, sum(up + down)::text AS bytes FROM usage_records WHERE up + down > 0`);
  const keys = new Set(expected.map((e) => `${e.vin}/${e.epoch}/${e.seq}`));
  t.same(records.rows[0], { n: keys.size, bytes: expected.reduce((s, e) => s + e.bytes, 0n).toString() }, 'every accepted record stored once');

  // caps: the counters equal the sums of sponsored allocations, never above the cap
  const caps = new Map<string, bigint>();
  for (const e of expected) if (e.kind === 'sponsored' && CAPS[e.sponsorship!] !== undefined) caps.set(`${e.vin}/${e.sponsorship}/${e.month}`, (caps.get(`${e.vin}/${e.sponsorship}/${e.month}`) ?? 0n) + e.bytes);
  for (const [key, bytes] of caps) t.ok(bytes <= CAPS[key.split('/')[1]!]!, `${key}: within its cap`);
  const capRows = await db.query(`SELECT vin, sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes::text FROM cap_usage WHERE sponsorship_id <> 'amap-navigation'`);
  t.same(
    Object.fromEntries(capRows.rows.map((r) => [`${r.vin}/${r.sponsorship_id}/${r.month}`, r.bytes])),
    Object.fromEntries([...caps].map(([k, v]) => [k, v.toString()])),
    'cap_usage = Σ sponsored allocations per (vehicle, sponsorship, month)',
  );

  // rollups: lines keyed by (sponsor, month, app, kind, price); by day; by vehicle
  const sum = (key: (e: ExpectedAllocation) => string) => {
    const totals: Record<string, string> = {};
    for (const e of expected) {
      if (e.kind === 'pack') continue;
      const k = key(e);
      totals[k] = (BigInt(totals[k] ?? '0') + e.bytes).toString();
    }
    return totals;
  };
  const table = async (sql: string) => Object.fromEntries((await db.query(sql)).rows.map((r) => [[...Object.values(r).slice(0, -2), normPrice(r.price)].join('|'), r.bytes]));
  const line = (e: ExpectedAllocation, first: string) => [e.payer, first, e.app, e.kind, normPrice(e.price)].join('|');
  t.same(await table(`SELECT sponsor, to_char(usage_month, 'YYYY-MM') AS m, app, kind, price_per_gib::text AS price, bytes::text FROM rollup_app_month`), sum((e) => line(e, e.month)), 'rollup_app_month');
  t.same(await table(`SELECT sponsor, to_char(usage_day, 'YYYY-MM-DD') AS d, app, kind, price_per_gib::text AS price, bytes::text FROM rollup_app_day`), sum((e) => line(e, e.day)), 'rollup_app_day');
  t.same(
    await table(`SELECT sponsor, to_char(usage_month, 'YYYY-MM') || '|' || vin AS mv, app, kind, price_per_gib::text AS price, bytes::text FROM rollup_vehicle_month`),
    sum((e) => line(e, `${e.month}|${e.vin}`)),
    'rollup_vehicle_month',
  );

  // amounts: the usage API (DESIGN 5) against lines priced here
  const lines = new Map<string, { sponsor: string; month: string; app: string; kind: string; price: string; bytes: bigint }>();
  for (const e of expected) {
    if (e.kind === 'pack') continue;
    const key = line(e, e.month);
    const entry = lines.get(key) ?? { sponsor: e.payer!, month: e.month, app: e.app, kind: e.kind, price: e.price!, bytes: 0n };
    entry.bytes += e.bytes;
    lines.set(key, entry);
  }
  const amapOctober = lines.get('amap|2026-10|navigation|sponsored|4.1225');
  t.equal(amapOctober && formatCents(amountCents(amapOctober.bytes, amapOctober.price)), '41.23', 'amap, October: 10 GiB at 4.1225 = 41.225 → 41.23');
  const overageOctober = lines.get('oem-acme|2026-10|music|overage|8');
  t.equal(overageOctober && formatCents(amountCents(overageOctober.bytes, overageOctober.price)), '0.13', 'music overage, October: 16 MiB at 8.00 = 0.125 → 0.13');
  for (const sponsor of ['qqmusic', 'netease', 'amap', 'oem-acme']) {
    for (const month of ['2026-10', '2026-11']) {
      const want = [...lines.values()]
        .filter((l) => l.sponsor === sponsor && l.month === month)
        .map((l) => ({ app: l.app, kind: l.kind, bytes: Number(l.bytes), pricePerGiB: normPrice(l.price), amount: formatCents(amountCents(l.bytes, l.price)) }))
        .sort((a, b) => `${a.app}/${a.kind}`.localeCompare(`${b.app}/${b.kind}`));
      const response = await svc.request('GET', `/v1/sponsors/${sponsor}/usage?month=${month}`);
      t.equal(response.status, 200, `usage of ${sponsor} in ${month}`);
      const got = ((response.body.lines ?? []) as Array<{ app: string; kind: string; bytes: number; pricePerGiB: string; amount: string }>)
        .map((l) => ({ app: l.app, kind: l.kind, bytes: l.bytes, pricePerGiB: normPrice(l.pricePerGiB), amount: l.amount }))
        .sort((a, b) => `${a.app}/${a.kind}`.localeCompare(`${b.app}/${b.kind}`));
      t.same(got, want, `${sponsor} ${month}: lines`);
      const total = [...lines.values()].filter((l) => l.sponsor === sponsor && l.month === month).reduce((s, l) => s + amountCents(l.bytes, l.price), 0n);
      t.match(response.body, { sponsor, month, currency: 'CNY', totalBytes: want.reduce((s, l) => s + l.bytes, 0), totalAmount: formatCents(total) }, `${sponsor} ${month}: totals`);
    }
  }
});
