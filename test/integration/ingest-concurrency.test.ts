import path from 'node:path';
import t from 'tap';
import pg from 'pg';
import type { MqttClient } from 'mqtt';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { createTestDatabase } from '../helpers/database.js';
import { manualClock, startTestService, type TestService } from '../helpers/service.js';

/**
 * DESIGN 2 and 4.2: correctness must not depend on one worker per vehicle. Two service instances share one
 * database, each with its own embedded broker; the same vehicles are connected to both and publish many
 * small records to both at once (distinct seqs). Music is capped (qqmusic 1 MiB, then netease 2 MiB, then
 * overage); hotspot traffic draws on packs bought through both instances meanwhile. Afterwards:
 * no cap or pack is overspent and the counters equal the allocations, every record is stored exactly
 * once with allocations summing to its bytes, and the rollups equal the allocations.
 */

const CATALOG_DIR = path.join(PROJECT_ROOT, 'test/fixtures/catalog-scenario');
const NOW = Date.parse('2026-11-15T12:00:00+08:00');
const MiB = 1_048_576n;
const CAPS: Record<string, bigint> = { 'qqmusic-music': 1n * MiB, 'netease-music': 2n * MiB };
const VEHICLES = 2;
const MESSAGES_PER_CONNECTION = 12;
const RECORDS_PER_MESSAGE = 20;

const clock = manualClock(NOW);
const databaseUrl = await createTestDatabase(t);
const instances: TestService[] = [
  await startTestService(t, { DATABASE_URL: databaseUrl, CATALOG_DIR }, clock),
  await startTestService(t, { DATABASE_URL: databaseUrl, CATALOG_DIR }, clock),
];
const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
db.on('error', () => undefined); // the database is dropped at teardown
t.teardown(() => db.end());

interface Ack {
  batch?: number;
  accepted: number;
  duplicates: number;
  rejected: unknown[];
  error?: unknown;
}

function shanghai(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().replace('Z', '+08:00');
}

async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 60_000): Promise<T> {
  // A bound that turns a hang into a message; it asserts nothing about speed.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test('two instances, one vehicle on both brokers: no cap or pack overspent, every record once', async (t) => {
  const cars = [];
  for (let v = 0; v < VEHICLES; v++) cars.push(await instances[v % 2]!.registerVehicle());
  // one pack per vehicle through each instance: funding changes under the same vehicle lock as ingest
  const packs = await Promise.all(
    cars.flatMap((car) => instances.map((svc, i) => svc.request('POST', `/v1/vehicles/${car.vin}/packs`, { body: { pack: 'hotspot-1m', externalOrderId: `order-${i}`, purchasedAt: '2026-11-01T00:00:00+08:00' } }))),
  );
  for (const bought of packs) t.equal(bought.status, 201, 'pack bought');

  let sentBytes = 0n;
  const sentKeys = new Set<string>();
  const connections: Array<{ vin: string; client: MqttClient; acks: Ack[]; messages: Array<{ batch: number; records: unknown[] }> }> = [];
  for (const car of cars) {
    for (const [i, svc] of instances.entries()) {
      const client = await svc.connectDevice(car.vin, car.deviceSecret);
      t.teardown(() => void client.end(true));
      const acks: Ack[] = [];
      client.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()) as Ack));
      await client.subscribeAsync(`tbox/${car.vin}/ack`, { qos: 1 });
      const messages = Array.from({ length: MESSAGES_PER_CONNECTION }, (_, m) => {
        const records = Array.from({ length: RECORDS_PER_MESSAGE }, (_, r) => {
          // instance 0 gets the even seqs, instance 1 the odd ones; every 5th record is hotspot traffic
          const seq = 2 * (m * RECORDS_PER_MESSAGE + r) + i;
          const start = NOW - 3_600_000 + seq * 1000;
          const hotspot = seq % 5 === 0;
          const up = 1_000 + (seq % 7);
          const down = (hotspot ? 60_000 : 16_000) + (seq % 13) * 97;
          sentBytes += BigInt(up + down);
          sentKeys.add(`${car.vin}/${seq}`);
          return { seq, start: shanghai(start), end: shanghai(start + 500), up, down, ...(hotspot ? { iface: 'hotspot' } : { host: 'stream.y.qq.com', port: 443 }) };
        });
        return { batch: 1000 * i + m, records };
      });
      connections.push({ vin: car.vin, client, acks, messages });
    }
  }
  t.ok(sentBytes > BigInt(VEHICLES) * 7n * MiB, 'more traffic than the caps and packs hold');

  // everything at once: every connection publishes all of its messages without waiting
  await Promise.all(connections.flatMap((c) => c.messages.map((m) => c.client.publishAsync(`tbox/${c.vin}/usage`, JSON.stringify({ v: 1, ...m }), { qos: 1 }))));
  for (const c of connections) {
    await waitFor(() => c.acks.length >= c.messages.length, `the acks of ${c.vin}`);
    const byBatch = new Map(c.acks.map((a) => [a.batch, a]));
    for (const m of c.messages) {
      const ack = byBatch.get(m.batch);
      t.same(ack && { accepted: ack.accepted, duplicates: ack.duplicates, rejected: ack.rejected, error: ack.error }, { accepted: RECORDS_PER_MESSAGE, duplicates: 0, rejected: [], error: undefined }, `${c.vin} batch ${m.batch}: all accepted`);
    }
  }

  // every record exactly once, its allocations summing to its bytes
  const records = await db.query<{ vin: string; seq: string }>('SELECT vin, seq FROM usage_records');
  t.equal(records.rows.length, sentKeys.size, 'as many records as sent');
  t.same(new Set(records.rows.map((r) => `${r.vin}/${r.seq}`)), sentKeys, 'exactly the records sent');
  const unbalanced = await db.query(
    `SELECT u.vin, u.seq, u.up + u.down AS bytes, a.allocated FROM usage_records u
       LEFT JOIN (SELECT vin, epoch, seq, sum(bytes) AS allocated FROM allocations GROUP BY vin, epoch, seq) a USING (vin, epoch, seq)
      WHERE a.allocated IS DISTINCT FROM u.up + u.down`,
  );
  t.same(unbalanced.rows, [], 'allocations sum to each record\'s bytes');
  const totals = await db.query<{ records: string; allocations: string }>('SELECT (SELECT sum(up + down) FROM usage_records)::text AS records, (SELECT sum(bytes) FROM allocations)::text AS allocations');
  t.same(totals.rows[0], { records: sentBytes.toString(), allocations: sentBytes.toString() }, 'ledger totals equal what was sent');

  // caps: never above the cap; with more traffic than the caps, both are full; cap_usage = Σ allocations
  const caps = await db.query<{ vin: string; sponsorship_id: string; allocated: string; counter: string | null }>(
    `SELECT a.vin, a.sponsorship_id, a.allocated::text, c.bytes::text AS counter
       FROM (SELECT vin, sponsorship_id, usage_month, sum(bytes) AS allocated FROM allocations WHERE kind = 'sponsored' GROUP BY 1, 2, 3) a
       LEFT JOIN cap_usage c ON c.vin = a.vin AND c.sponsorship_id = a.sponsorship_id AND c.month = a.usage_month
      ORDER BY 1, 2`,
  );
  t.equal(caps.rows.length, VEHICLES * 2, 'both music sponsorships used by every vehicle');
  for (const row of caps.rows) {
    const cap = CAPS[row.sponsorship_id]!;
    t.ok(BigInt(row.allocated) <= cap, `${row.vin} ${row.sponsorship_id}: ${row.allocated} ≤ cap ${cap}`);
    t.equal(row.allocated, cap.toString(), `${row.vin} ${row.sponsorship_id}: the cap is used up, not more`);
    t.equal(row.counter, row.allocated, `${row.vin} ${row.sponsorship_id}: cap_usage equals the allocations`);
  }

  // packs: never overspent; balance = size − Σ pack allocations
  const packRows = await db.query<{ id: string; size: string; balance: string; allocated: string }>(
    `SELECT p.id::text, p.size_bytes::text AS size, p.balance_bytes::text AS balance, coalesce(sum(a.bytes), 0)::text AS allocated
       FROM pack_instances p LEFT JOIN allocations a ON a.pack_instance_id = p.id GROUP BY p.id ORDER BY p.id`,
  );
  t.equal(packRows.rows.length, VEHICLES * 2);
  for (const p of packRows.rows) {
    t.equal(BigInt(p.balance) + BigInt(p.allocated), BigInt(p.size), `pack ${p.id}: balance + allocated = size`);
    t.equal(p.balance, '0', `pack ${p.id}: used up (more hotspot traffic than packs)`);
  }

  // the waterfall: overage only for bytes no sponsorship or pack could take
  const music = await db.query<{ vin: string; kind: string; bytes: string }>(
    `SELECT vin, kind, sum(bytes)::text AS bytes FROM allocations WHERE app = 'music' GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  for (const car of cars) {
    const sent = connections.filter((c) => c.vin === car.vin).flatMap((c) => c.messages.flatMap((m) => m.records as Array<{ up: number; down: number; iface?: string }>));
    const musicBytes = sent.filter((r) => r.iface !== 'hotspot').reduce((s, r) => s + BigInt(r.up + r.down), 0n);
    t.same(
      music.rows.filter((r) => r.vin === car.vin).map((r) => [r.kind, r.bytes]),
      [
        ['overage', (musicBytes - 3n * MiB).toString()],
        ['sponsored', (3n * MiB).toString()],
      ],
      `${car.vin}: music = 3 MiB sponsored + the rest as overage`,
    );
  }

  // rollups written by both instances lose no update
  const rollups = await db.query(
    `SELECT r.sponsor, r.app, r.kind, r.bytes::text AS rollup, a.bytes::text AS allocations
       FROM rollup_app_month r FULL JOIN (SELECT payer, usage_month, app, kind, price_per_gib, sum(bytes) AS bytes FROM allocations WHERE kind IN ('sponsored', 'overage') GROUP BY 1, 2, 3, 4, 5) a
         ON a.payer = r.sponsor AND a.usage_month = r.usage_month AND a.app = r.app AND a.kind = r.kind AND a.price_per_gib = r.price_per_gib
      WHERE r.bytes IS DISTINCT FROM a.bytes`,
  );
  t.same(rollups.rows, [], 'rollup_app_month equals the allocations');
});
