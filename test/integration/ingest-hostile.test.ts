import t from 'tap';
import type { MqttClient } from 'mqtt';
import { startTestService } from '../helpers/service.js';
import { waitFor } from '../helpers/fleet.js';

/**
 * Issue 10, "one message must never stop ingest for everyone": each payload an authenticated T-Box used
 * to stall or poison ingest with, published beside a healthy vehicle whose acks keep flowing. Each is now
 * a clear INVALID_RECORD (or BEFORE_ACTIVATION) for that record alone, creates no partition and writes
 * nothing for it; and a failure inside the database is isolated to its message without acking any other
 * message twice, even when a transient failure hits one half of a bisected batch.
 */
const svc = await startTestService(t, { BATCH_MAX_MS: '300' });
const attacker = await svc.registerVehicle();
const healthy = await svc.registerVehicle();

interface Device {
  client: MqttClient;
  acks: Array<Record<string, any>>;
}

async function connect(car: { vin: string; deviceSecret: string }): Promise<Device> {
  const client = await svc.connectDevice(car.vin, car.deviceSecret);
  t.teardown(() => client.endAsync());
  await client.subscribeAsync(`tbox/${car.vin}/ack`, { qos: 1 });
  const acks: Array<Record<string, any>> = [];
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/ack')) acks.push(JSON.parse(payload.toString()) as Record<string, any>);
  });
  return { client, acks };
}

const record = (seq: number, extra: Record<string, unknown> = {}) => ({
  seq,
  start: '2026-11-03T08:15:00.000+08:00',
  end: '2026-11-03T08:16:00.000+08:00',
  up: 1024,
  down: 52000,
  host: 'tile.amap.com',
  port: 443,
  ...extra,
});

let nextBatch = 1;
/** Publishes one message and returns its ack (the ack of that batch). */
async function send(device: Device, vin: string, records: unknown[] | string): Promise<Record<string, any>> {
  const batch = nextBatch++;
  const payload = typeof records === 'string' ? records : JSON.stringify({ v: 1, batch, records });
  await device.client.publishAsync(`tbox/${vin}/usage`, payload, { qos: 1 });
  await waitFor(() => device.acks.some((ack) => ack.batch === batch), `the ack of batch ${batch}`);
  return device.acks.find((ack) => ack.batch === batch)!;
}

async function partitions(): Promise<string[]> {
  const { rows } = await svc.service.pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname = 'allocations' ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

const hostile: Array<{ name: string; record: Record<string, unknown>; code: string; message: RegExp }> = [
  { name: 'a start in year 10000 (an extreme offset on 9999-12-31)', record: record(1, { start: '9999-12-31T23:59:00.000-23:59', end: '9999-12-31T23:59:00.000-23:59' }), code: 'INVALID_RECORD', message: /^start: must be from 2000-01-01T00:00:00.000Z/ },
  { name: 'a record in year 0000', record: record(2, { start: '0000-01-01T00:00:00Z', end: '0000-01-01T00:01:00Z' }), code: 'INVALID_RECORD', message: /^start: must be from .*; end: must be from/ },
  { name: 'a start in year 1197', record: record(3, { start: '1197-04-01T00:00:00Z', end: '1197-04-01T00:01:00Z' }), code: 'INVALID_RECORD', message: /^start: must be from/ },
  { name: 'a NUL character in pkg', record: record(4, { pkg: 'com.evil\u0000app' }), code: 'INVALID_RECORD', message: /^pkg: must not contain a NUL character/ },
  { name: 'a NUL character in host', record: record(5, { host: 'tile.amap.com\u0000.evil' }), code: 'INVALID_RECORD', message: /^host: must not contain a NUL character/ },
  { name: 'a lone surrogate in host', record: record(6, { host: 'a\ud800.amap.com' }), code: 'INVALID_RECORD', message: /^host: must be well-formed Unicode/ },
  { name: 'a fractional number as host', record: record(7, { host: 1.5 }), code: 'INVALID_RECORD', message: /^host: must be a string, got 1\.5$/ },
  { name: 'a terabyte in one minute (beyond the link)', record: record(8, { up: 2 ** 40, down: 0 }), code: 'INVALID_RECORD', message: /^up \+ down: 1099511627776 bytes in 60000 ms is more than a 10000 Mbit\/s link carries/ },
  { name: 'a record in range but before activation (2020)', record: record(9, { start: '2020-03-10T00:00:00Z', end: '2020-03-10T00:01:00Z' }), code: 'BEFORE_ACTIVATION', message: /^start: 2020-03-10/ },
];

t.test('each hostile record is rejected alone while a healthy vehicle keeps getting acks', async (t) => {
  const bad = await connect(attacker);
  const good = await connect(healthy);
  let seq = 100;
  // The month of the good records gets its partition from this first write.
  t.match(await send(good, healthy.vin, [record(seq++)]), { accepted: 1 });
  const before = await partitions();
  t.ok(before.includes('allocations_2026_11'));
  for (const item of hostile) {
    const ack = await send(bad, attacker.vin, [item.record, record(1000 + seq)]);
    t.equal(ack.accepted, 1, `${item.name}: the good record beside it is accepted`);
    t.equal(ack.rejected.length, 1, item.name);
    t.equal(ack.rejected[0].code, item.code, item.name);
    t.match(ack.rejected[0].message, item.message, item.name);
    t.equal(ack.rejected[0].retryable, false, item.name);
    const healthyAck = await send(good, healthy.vin, [record(seq++)]);
    t.match(healthyAck, { accepted: 1, duplicates: 0, rejected: [] }, `the healthy vehicle is acked after: ${item.name}`);
  }
  t.same(await partitions(), before, 'no partition was created for a rejected record');
  t.notOk((await partitions()).some((name) => /allocations_(0000|1197|2020|10000)/.test(name)));
  const { rows: stored } = await svc.service.pool.query<{ seq: string }>('SELECT seq FROM usage_records WHERE vin = $1 ORDER BY seq', [attacker.vin]);
  t.same(stored.map((r) => Number(r.seq)), hostile.map((_, i) => 1101 + i), 'only the good records were written');
  const { rows: dead } = await svc.service.pool.query<{ code: string; n: string }>(
    'SELECT code, count(*) AS n FROM dead_letters WHERE vin = $1 GROUP BY code ORDER BY code',
    [attacker.vin],
  );
  t.same(dead, [
    { code: 'BEFORE_ACTIVATION', n: '1' },
    { code: 'INVALID_RECORD', n: String(hostile.length - 1) },
  ]);
  t.notOk(svc.logs.some((line) => line.msg === 'database unavailable; ingest paused'), 'ingest never paused');
});

t.test('a month partition is created when a record of that month is written', async (t) => {
  const good = await connect(healthy);
  t.notOk((await partitions()).includes('allocations_2026_02'));
  const ack = await send(good, healthy.vin, [record(5000, { start: '2026-02-10T08:00:00+08:00', end: '2026-02-10T08:01:00+08:00' })]);
  t.match(ack, { accepted: 1, rejected: [] });
  t.ok((await partitions()).includes('allocations_2026_02'));
  const { rows } = await svc.service.pool.query('SELECT bytes FROM allocations WHERE vin = $1 AND seq = 5000', [healthy.vin]);
  t.same(rows, [{ bytes: '53024' }]);
});

t.test('a failing message is isolated; a transient failure in one half retries that half only', async (t) => {
  const poisoned = await svc.registerVehicle();
  const flaky = await svc.registerVehicle();
  const others = [await svc.registerVehicle(), await svc.registerVehicle()];
  // Real faults inside PostgreSQL: every row of `poisoned` fails on its data; the first two rows of
  // `flaky` fail with a serialization failure (40001, transient). nextval is not rolled back, so the
  // sequence counts the injected transient failures.
  await svc.service.pool.query(`CREATE SEQUENCE injected_transient`);
  await svc.service.pool.query(`
    CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.vin = '${poisoned.vin}' THEN RAISE EXCEPTION 'injected data fault' USING ERRCODE = 'P0001'; END IF;
      IF NEW.vin = '${flaky.vin}' AND nextval('injected_transient') <= 2 THEN
        RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
      END IF;
      RETURN NEW;
    END $$`);
  await svc.service.pool.query('CREATE TRIGGER inject_fault BEFORE INSERT ON usage_records FOR EACH ROW EXECUTE FUNCTION inject_fault()');
  t.teardown(() => svc.service.pool.query('DROP TRIGGER inject_fault ON usage_records'));

  const cars = [poisoned, flaky, ...others];
  const devices = await Promise.all(cars.map((car) => connect(car)));
  // One micro-batch (BATCH_MAX_MS is 300 ms): the four messages are published together.
  const batches = cars.map(() => nextBatch++);
  await Promise.all(
    cars.map((car, i) =>
      devices[i]!.client.publishAsync(`tbox/${car.vin}/usage`, JSON.stringify({ v: 1, batch: batches[i], records: [record(1), record(2)] }), { qos: 1 }),
    ),
  );
  await waitFor(() => devices.every((device, i) => device.acks.some((ack) => ack.batch === batches[i])), 'an ack for every message');
  // A later message through the same (serial) writer: any second write of the batch above comes before it.
  const sentinel = await send(devices[2]!, others[0]!.vin, [record(3)]);
  t.match(sentinel, { accepted: 1 });

  t.match(devices[0]!.acks, [{ batch: batches[0], error: { code: 'INTERNAL_ERROR', retryable: true } }], 'the poisoned message: one INTERNAL_ERROR ack');
  t.match(devices[1]!.acks, [{ batch: batches[1], accepted: 2, duplicates: 0 }], 'the flaky message: committed once, acked once');
  t.equal(devices[2]!.acks.filter((ack) => ack.batch === batches[2]).length, 1, 'no message is acked twice');
  t.match(devices[3]!.acks, [{ batch: batches[3], accepted: 2, duplicates: 0 }]);
  const { rows: injected } = await svc.service.pool.query<{ last_value: string }>('SELECT last_value FROM injected_transient');
  t.ok(Number(injected[0]!.last_value) >= 2, 'the transient failures were really injected');
  const { rows: dead } = await svc.service.pool.query<{ vin: string; code: string }>(
    `SELECT vin, code FROM dead_letters WHERE vin = ANY($1::text[])`,
    [cars.map((car) => car.vin)],
  );
  t.same(dead, [{ vin: poisoned.vin, code: 'INTERNAL_ERROR' }], 'one dead letter, for the poisoned message only');
  const { rows: counts } = await svc.service.pool.query<{ vin: string; n: string }>(
    'SELECT vin, count(*) AS n FROM usage_records WHERE vin = ANY($1::text[]) GROUP BY vin ORDER BY vin',
    [cars.map((car) => car.vin)],
  );
  t.same(
    counts,
    [flaky, ...others].map((car) => ({ vin: car.vin, n: car === others[0] ? '3' : '2' })).sort((a, b) => a.vin.localeCompare(b.vin)),
  );
});
