import t from 'tap';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { startTestService } from '../helpers/service.js';

/**
 * Issue 6 fuzzing of the MQTT payload path: random bytes, truncated and nested JSON, huge numbers, wrong
 * types, 10 MiB packets, thousands of topics. No crash, every rejection explained (an ack per message and a
 * dead letter per rejection), valid traffic keeps flowing, nothing left queued.
 */
const svc = await startTestService(t);
const fuzzer = await svc.registerVehicle(1);
const good = await svc.registerVehicle(2);

function collectAcks(client: MqttClient): unknown[] {
  const acks: unknown[] = [];
  client.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString())));
  return acks;
}

async function waitFor(predicate: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((resolve) => setTimeout(resolve, 20));
}

const validRecord = (seq: number) => ({ seq, start: '2026-11-03T08:15:00+08:00', end: '2026-11-03T08:16:00+08:00', up: 100, down: 200, host: 'tile.amap.com', port: 443 });

const hostile = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  fc.json({ maxDepth: 6 }).map((text) => Buffer.from(text)),
  fc.json().map((text) => Buffer.from(text.slice(0, Math.max(0, text.length - 1)))),
  fc.integer({ min: 1, max: 5000 }).map((depth) => Buffer.from('['.repeat(depth) + ']'.repeat(depth))),
  fc.record({
    v: fc.oneof(fc.constant(1), fc.constant(2), fc.string(), fc.double()),
    batch: fc.oneof(fc.nat(), fc.constant(-1), fc.constant(2 ** 53), fc.string(), fc.constant(null)),
    records: fc.array(
      fc.record({
        seq: fc.oneof(fc.nat(), fc.constant('1'), fc.constant(1e300), fc.double()),
        start: fc.oneof(fc.constant('2026-11-03T08:15:00+08:00'), fc.string(), fc.constant('2026-11-03T08:15:60Z')),
        end: fc.oneof(fc.constant('2026-11-03T08:16:00+08:00'), fc.constant('2099-01-01T00:00:00Z')),
        up: fc.oneof(fc.nat(), fc.constant(2 ** 41), fc.constant(-5), fc.constant(1.5)),
        down: fc.oneof(fc.nat(), fc.constant('100')),
        host: fc.oneof(fc.domain(), fc.string({ maxLength: 300 }), fc.constant('xn--')),
        ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()),
      }),
      { maxLength: 20 },
    ),
  }).map((value) => Buffer.from(JSON.stringify(value))),
);

t.test('hostile payloads are all answered and explained while valid traffic flows', async (t) => {
  const attacker = await svc.connectDevice(fuzzer.vin, fuzzer.deviceSecret);
  const honest = await svc.connectDevice(good.vin, good.deviceSecret);
  t.teardown(() => Promise.all([attacker.endAsync(), honest.endAsync()]));
  await attacker.subscribeAsync(`tbox/${fuzzer.vin}/ack`, { qos: 1 });
  await honest.subscribeAsync(`tbox/${good.vin}/ack`, { qos: 1 });
  const attackerAcks = collectAcks(attacker);
  const honestAcks = collectAcks(honest);
  const payloads = fc.sample(hostile, { numRuns: 300, seed: 42 });
  let seq = 0;
  for (const [i, payload] of payloads.entries()) {
    attacker.publish(`tbox/${fuzzer.vin}/usage`, payload, { qos: i % 2 === 0 ? 1 : 0 });
    if (i % 30 === 0) honest.publish(`tbox/${good.vin}/usage`, JSON.stringify({ v: 1, batch: i, records: [validRecord(++seq)] }), { qos: 1 });
  }
  await waitFor(() => attackerAcks.length === payloads.length && honestAcks.length === seq);
  t.equal(attackerAcks.length, payloads.length, 'one ack per hostile message');
  for (const ack of attackerAcks as Array<Record<string, any>>) {
    if (ack.error) t.match(ack.error, { code: /^(INVALID_PAYLOAD|UNSUPPORTED_VERSION)$/, message: /./, retryable: Boolean });
    else t.equal(ack.accepted + ack.duplicates + ack.rejected.length >= 0, true);
  }
  t.ok((honestAcks as Array<Record<string, any>>).every((ack) => ack.accepted === 1), 'valid traffic was accepted throughout');
  const { rows } = await svc.service.pool.query('SELECT count(*)::int AS n FROM dead_letters WHERE vin = $1', [fuzzer.vin]);
  const rejections = (attackerAcks as Array<Record<string, any>>).reduce((n, ack) => n + (ack.error ? 1 : ack.rejected.length), 0);
  t.equal(rows[0].n, rejections, 'every rejection is a dead letter');
  t.equal((await svc.request('GET', '/ready', { token: null })).status, 200, 'still ready');
});

t.test('oversized packets and thousands of topics close connections, not the service', async (t) => {
  for (let round = 0; round < 3; round++) {
    const client = await svc.connectDevice(fuzzer.vin, fuzzer.deviceSecret);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`tbox/${fuzzer.vin}/usage`, Buffer.alloc(10 * 1024 * 1024, 0x7b), { qos: 0 });
    await closed;
    await client.endAsync(true);
  }
  const prober = await svc.connectDevice(fuzzer.vin, fuzzer.deviceSecret);
  t.teardown(() => prober.endAsync(true));
  const filters = Array.from({ length: 2000 }, (_, i) => `tbox/${fuzzer.vin}/x${i}/#`);
  // mqtt.js reports a refused filter as an error carrying the SUBACK
  const granted = await new Promise<number[]>((resolve) =>
    prober.subscribe(filters, { qos: 1 }, (error, result) => resolve(error ? ((error as { packet?: { granted?: number[] } }).packet?.granted ?? []) : (result ?? []).map((g) => g.qos))),
  );
  t.equal(granted.length, filters.length);
  t.ok(granted.every((qos) => qos === 128), 'thousands of forbidden filters refused');
  for (let i = 0; i < 50; i++) {
    const client = await svc.connectDevice(fuzzer.vin, fuzzer.deviceSecret);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`tbox/${fuzzer.vin}/random/${i}/${'z'.repeat(i * 20)}`, 'x', { qos: 1 });
    await closed;
    await client.endAsync(true);
  }
  t.equal((await svc.request('GET', '/ready', { token: null })).status, 200, 'still ready');
  const metrics = (await svc.request('GET', '/metrics', { token: null })).body as string;
  t.match(metrics, /ingest_pending_records\{[^}]*\} 0\b/, 'nothing left queued');
});
