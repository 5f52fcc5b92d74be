import { createHash } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import type { MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from './database.js';
import { manualClock, startTestService, type TestService } from './service.js';

/**
 * The fixture of test/integration/ingest-scenario.test.ts: the service on a database of its own with the
 * catalog of test/fixtures/catalog-scenario and a manual clock, a real mqtt client per vehicle, and the
 * ledger every subtest expects, computed here independently of src/ — DESIGN 3.1 (usage), 3.2 (acks,
 * duplicates), 3.3 (controls), 4.2 (the waterfall), 4.3 (money), 7 (exactly once).
 *
 * Each subtest calls startScenario(t) and so starts from an empty ledger: any one of them runs alone
 * (`npx tap test/integration/ingest-scenario.test.ts --grep='\(e\)'`). It writes down every allocation it
 * expects (expectAllocations) as it sends, and ends with checkLedger, which compares the whole ledger
 * (allocations, cap counters, rollups and the usage API's amounts) with what it wrote down.
 */

export const CATALOG_DIR = path.join(PROJECT_ROOT, 'test/fixtures/catalog-scenario');
export const NOW = Date.parse('2026-11-15T12:00:00+08:00');
export const MiB = 1_048_576n;
export const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Time and money, computed here without src/.

/** `ms` as RFC 3339 in Asia/Shanghai (UTC+8 all year since 1991). */
export function shanghai(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().replace('Z', '+08:00');
}
export const dayOf = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
export const monthOf = (ms: number) => dayOf(ms).slice(0, 7);

/** round_half_up(bytes × price / 2^30, 2) in cents (DESIGN 4.3), bigint only. */
export function amountCents(bytes: bigint, price: string): bigint {
  const [whole, fraction = ''] = price.split('.');
  const units = BigInt(`${whole}${fraction}`);
  const numerator = bytes * units * 100n;
  const denominator = 1_073_741_824n * 10n ** BigInt(fraction.length);
  return (2n * numerator + denominator) / (2n * denominator);
}
export const formatCents = (cents: bigint) => `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
/** "8.0000" and "8.00" are the same price. */
export const normPrice = (price: string | null) => (price === null ? null : price.includes('.') ? price.replace(/0+$/, '').replace(/\.$/, '') : price);

// ---------------------------------------------------------------------------------------------
// The expected ledger: the parts of each record, by the catalog of test/fixtures/catalog-scenario.

export interface Part {
  payer: string | null; // null for packs: who pays a pack is not a sponsor
  kind: 'sponsored' | 'pack' | 'overage';
  sponsorship: string | null;
  pack: string | null;
  bytes: bigint;
  price: string | null;
}
export interface ExpectedAllocation extends Part {
  vin: string;
  epoch: string;
  seq: number;
  part: number;
  app: string;
  month: string;
  day: string;
}

export const QQ = (bytes: bigint): Part => ({ payer: 'qqmusic', kind: 'sponsored', sponsorship: 'qqmusic-music', pack: null, bytes, price: '3.3333' });
export const NETEASE = (bytes: bigint): Part => ({ payer: 'netease', kind: 'sponsored', sponsorship: 'netease-music', pack: null, bytes, price: '2.7183' });
export const AMAP = (bytes: bigint): Part => ({ payer: 'amap', kind: 'sponsored', sponsorship: 'amap-navigation', pack: null, bytes, price: '4.1225' });
export const OVERAGE = (bytes: bigint): Part => ({ payer: 'oem-acme', kind: 'overage', sponsorship: null, pack: null, bytes, price: '8.00' });
export const PACK = (pack: string, bytes: bigint): Part => ({ payer: null, kind: 'pack', sponsorship: null, pack, bytes, price: null });
const CAPS: Record<string, bigint> = { 'qqmusic-music': 1n * MiB, 'netease-music': 2n * MiB };
const SPONSORS = ['qqmusic', 'netease', 'amap', 'oem-acme'];

// ---------------------------------------------------------------------------------------------
// Records, messages, acks and controls.

export interface UsageRecord {
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
export interface UsageMessage {
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
export interface Ack {
  v: number;
  batch?: number;
  serverTime: string;
  accepted: number;
  duplicates: number;
  rejected: Rejection[];
  payloadSha256?: string;
  error?: { code: string; message: string; retryable: boolean };
}
export interface ControlMessage {
  v: number;
  app: string;
  action: 'block' | 'allow';
  reasons: string[];
  rev: number;
  at: string;
}

export function record(seq: number, startIso: string, up: number, down: number, extra: Partial<UsageRecord> = {}): UsageRecord {
  return { seq, start: startIso, end: shanghai(Date.parse(startIso) + 60_000), up, down, ...extra };
}
export const music = (seq: number, start: string, up: number, down: number, extra: Partial<UsageRecord> = {}) =>
  record(seq, start, up, down, { host: 'stream.y.qq.com', port: 443, proto: 'tcp', ...extra });
export const nav = (seq: number, start: string, up: number, down: number, extra: Partial<UsageRecord> = {}) =>
  record(seq, start, up, down, { host: 'tile.amap.com', ip: '2001:db8:10::1', port: 443, proto: 'tcp', ...extra });
export const hotspot = (seq: number, start: string, up: number, down: number) => record(seq, start, up, down, { iface: 'hotspot', host: 'www.example.org', port: 443 });

export const sha16 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The counts of an ack, rejections without their free-text message: compared with t.same (exact). */
export function counts(ack: Ack) {
  return { accepted: ack.accepted, duplicates: ack.duplicates, rejected: (ack.rejected ?? []).map((r) => ({ index: r.index, seq: r.seq, code: r.code, retryable: r.retryable })) };
}
export const accepted = (n: number) => ({ accepted: n, duplicates: 0, rejected: [] });

/** Polls `probe` until it gives a value. The bound only turns a hang into a message; it asserts nothing about speed. */
export async function waitFor<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface Device {
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

export type Car = { vin: string; deviceSecret: string };

export interface Scenario {
  /** the service; startScenario's restart() replaces it */
  readonly svc: TestService;
  /** the test's own connections: the ledger is read independently of the service, and across its restart */
  db: pg.Pool;
  databaseUrl: string;
  clock: ReturnType<typeof manualClock>;
  expected: ExpectedAllocation[];
  /** Writes down what the ledger must hold for one accepted record. */
  expectAllocations(vin: string, epoch: string, record: UsageRecord, app: string, parts: Part[]): void;
  registerVehicle(extra?: Record<string, unknown>): Promise<Car>;
  /** A T-Box of `car` on one connection: its ack topic and, with `controlFilter`, its controls. */
  connect(t: Test, car: Car, controlFilter?: string | null): Promise<Device>;
  /** Stops the service and starts another on the same database and clock. */
  restart(t: Test): Promise<void>;
}

export interface ScenarioOptions {
  catalogDir?: string;
  env?: Record<string, string>;
  clock?: ReturnType<typeof manualClock>;
}

/** A service of this subtest's own, on an empty ledger (see the module's comment). */
export async function startScenario(t: Test, options: ScenarioOptions = {}): Promise<Scenario> {
  const clock = options.clock ?? manualClock(NOW);
  const databaseUrl = await createTestDatabase(t);
  const env = { DATABASE_URL: databaseUrl, CATALOG_DIR: options.catalogDir ?? CATALOG_DIR, ...options.env };
  let svc = await startTestService(t, env, clock);
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  db.on('error', () => undefined); // the database is dropped at teardown
  t.teardown(() => db.end());
  const expected: ExpectedAllocation[] = [];

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

  async function connect(t: Test, car: Car, controlFilter: string | null = null): Promise<Device> {
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

  return {
    get svc() {
      return svc;
    },
    db,
    databaseUrl,
    clock,
    expected,
    expectAllocations(vin, epoch, record, app, parts) {
      const total = parts.reduce((sum, p) => sum + p.bytes, 0n);
      if (total !== BigInt(record.up) + BigInt(record.down)) throw new Error(`test bug: parts of seq ${record.seq} do not add up`);
      const startMs = Date.parse(record.start);
      parts.forEach((p, part) => expected.push({ ...p, vin, epoch, seq: record.seq, part, app, month: monthOf(startMs), day: dayOf(startMs) }));
    },
    registerVehicle: (extra) => svc.registerVehicle(undefined, extra),
    connect,
    async restart(t) {
      await svc.service.stop();
      svc = await startTestService(t, env, clock);
    },
  };
}

/** One priced line of a sponsor's month (DESIGN 5), as the usage API must show it. */
export interface PricedLine {
  sponsor: string;
  month: string;
  app: string;
  kind: string;
  price: string;
  bytes: bigint;
}

/**
 * The whole ledger against what the subtest wrote down: every allocation, every stored record once, the cap
 * counters, the rollups by month, day and vehicle, and the usage API's lines and totals for each sponsor in
 * each month that has usage. Returns the priced lines, keyed `sponsor|month|app|kind|price`.
 */
export async function checkLedger(t: Test, s: Scenario): Promise<Map<string, PricedLine>> {
  const { db, expected } = s;
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
  t.equal(actual.length, want.length, 'ledger: as many allocations as expected');
  t.same(actual, want, 'ledger: every allocation as expected');

  const records = await db.query(`SELECT count(*)::int AS n, coalesce(sum(up + down), 0)::text AS bytes FROM usage_records WHERE up + down > 0`);
  const keys = new Set(expected.map((e) => `${e.vin}/${e.epoch}/${e.seq}`));
  t.same(records.rows[0], { n: keys.size, bytes: expected.reduce((sum, e) => sum + e.bytes, 0n).toString() }, 'ledger: every accepted record stored once');

  // caps: the counters equal the sums of sponsored allocations, never above the cap
  const caps = new Map<string, bigint>();
  for (const e of expected) if (e.kind === 'sponsored' && CAPS[e.sponsorship!] !== undefined) caps.set(`${e.vin}/${e.sponsorship}/${e.month}`, (caps.get(`${e.vin}/${e.sponsorship}/${e.month}`) ?? 0n) + e.bytes);
  for (const [key, bytes] of caps) t.ok(bytes <= CAPS[key.split('/')[1]!]!, `ledger: ${key} within its cap`);
  const capRows = await db.query(`SELECT vin, sponsorship_id, to_char(month, 'YYYY-MM') AS month, bytes::text FROM cap_usage WHERE sponsorship_id <> 'amap-navigation'`);
  t.same(
    Object.fromEntries(capRows.rows.map((r) => [`${r.vin}/${r.sponsorship_id}/${r.month}`, r.bytes])),
    Object.fromEntries([...caps].map(([k, v]) => [k, v.toString()])),
    'ledger: cap_usage = Σ sponsored allocations per (vehicle, sponsorship, month)',
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
  t.same(await table(`SELECT sponsor, to_char(usage_month, 'YYYY-MM') AS m, app, kind, price_per_gib::text AS price, bytes::text FROM rollup_app_month`), sum((e) => line(e, e.month)), 'ledger: rollup_app_month');
  t.same(await table(`SELECT sponsor, to_char(usage_day, 'YYYY-MM-DD') AS d, app, kind, price_per_gib::text AS price, bytes::text FROM rollup_app_day`), sum((e) => line(e, e.day)), 'ledger: rollup_app_day');
  t.same(
    await table(`SELECT sponsor, to_char(usage_month, 'YYYY-MM') || '|' || vin AS mv, app, kind, price_per_gib::text AS price, bytes::text FROM rollup_vehicle_month`),
    sum((e) => line(e, `${e.month}|${e.vin}`)),
    'ledger: rollup_vehicle_month',
  );

  // amounts: the usage API (DESIGN 5) against lines priced here
  const lines = new Map<string, PricedLine>();
  for (const e of expected) {
    if (e.kind === 'pack') continue;
    const key = line(e, e.month);
    const entry = lines.get(key) ?? { sponsor: e.payer!, month: e.month, app: e.app, kind: e.kind, price: e.price!, bytes: 0n };
    entry.bytes += e.bytes;
    lines.set(key, entry);
  }
  const months = [...new Set(expected.filter((e) => e.kind !== 'pack').map((e) => e.month))].sort();
  for (const sponsor of SPONSORS) {
    for (const month of months) {
      const want = [...lines.values()]
        .filter((l) => l.sponsor === sponsor && l.month === month)
        .map((l) => ({ app: l.app, kind: l.kind, bytes: Number(l.bytes), pricePerGiB: normPrice(l.price), amount: formatCents(amountCents(l.bytes, l.price)) }))
        .sort((a, b) => `${a.app}/${a.kind}`.localeCompare(`${b.app}/${b.kind}`));
      const response = await s.svc.request('GET', `/v1/sponsors/${sponsor}/usage?month=${month}`);
      t.equal(response.status, 200, `usage API: ${sponsor} in ${month}`);
      const got = ((response.body.lines ?? []) as Array<{ app: string; kind: string; bytes: number; pricePerGiB: string; amount: string }>)
        .map((l) => ({ app: l.app, kind: l.kind, bytes: l.bytes, pricePerGiB: normPrice(l.pricePerGiB), amount: l.amount }))
        .sort((a, b) => `${a.app}/${a.kind}`.localeCompare(`${b.app}/${b.kind}`));
      t.same(got, want, `usage API: ${sponsor} ${month} lines`);
      const total = [...lines.values()].filter((l) => l.sponsor === sponsor && l.month === month).reduce((sum, l) => sum + amountCents(l.bytes, l.price), 0n);
      t.match(response.body, { sponsor, month, currency: 'CNY', totalBytes: want.reduce((sum, l) => sum + l.bytes, 0), totalAmount: formatCents(total) }, `usage API: ${sponsor} ${month} totals`);
    }
  }
  return lines;
}
