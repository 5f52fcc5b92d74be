import net from 'node:net';
import t, { type Test } from 'tap';
import pg from 'pg';
import mqtt, { type MqttClient } from 'mqtt';
import { Aedes } from 'aedes';
import { createTestDatabase } from '../helpers/database.js';
import { buildUsageMessages, seededRandom, shanghai, waitFor, type FleetMessage } from '../helpers/fleet.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Issue 11: bounded memory while the database is stalled, in both broker modes. A second connection holds
 * an ACCESS EXCLUSIVE lock on usage_records, so every batch waits; the devices offer more than
 * INGEST_MAX_PENDING_BYTES (the minimum, 1 MiB). The gate must close with at most the bound plus one
 * message inside ingest, and nothing may be acked (nor, with the embedded broker, PUBACKed) while the
 * lock is held. Then the lock goes: every message is acked and every record is in the ledger exactly once.
 * Every wait is on a count or a state; the timeouts of waitFor only turn a hang into a message.
 */

const BOUND = 1_048_576;
// Messages of 1,000 records (about 170 KB, DESIGN 3.0 allows 262,144 bytes): the embedded broker reads a
// device again only once its last read is handled, so each device has at least one message inside ingest
// and ten of them are more than the bound, however the bytes were split into reads.
const VEHICLES = 10;
const MESSAGES_PER_VEHICLE = 5;
const RECORDS_PER_MESSAGE = 1000;
const SEED = Number(process.env.BACKPRESSURE_SEED ?? 20_261_111);
t.comment(`BACKPRESSURE_SEED=${SEED}`);

interface Ack {
  batch?: number;
  accepted?: number;
  duplicates?: number;
  rejected?: unknown[];
  error?: unknown;
}

interface Device {
  vin: string;
  client: MqttClient;
  messages: FleetMessage[];
  acks: Ack[];
  /** PUBACKs the device received for its usage */
  pubacks: number;
}

/** An aedes broker standing in for an external one (Mosquitto, EMQX): no auth, `$share/<group>/` taken as a plain subscription. */
async function startExternalBroker(t: Test): Promise<{ url: string; broker: Aedes }> {
  const broker = await Aedes.createBroker({
    drainTimeout: 0, // the service stops reading while its gate is closed: that is the point, not a fault
    authorizeSubscribe(_client, subscription, callback) {
      callback(null, { ...subscription, topic: subscription.topic.replace(/^\$share\/[^/]+\//, '') });
    },
  });
  const server = net.createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    server.close();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  });
  return { url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`, broker };
}

async function metric(svc: TestService, name: string): Promise<number> {
  const { status, body } = await svc.request('GET', '/metrics', { token: null });
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(String(body));
  if (!match) throw new Error(`${name} not in /metrics (${status}): ${String(typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 300)}`);
  return Number(match[1]);
}

/**
 * The scenario of both modes. `connect` opens a device connection (to the service's broker or to the
 * external one); `servicePubackedBytes` (external mode) is what the service's client PUBACKed so far.
 */
async function stallAndRecover(t: Test, svc: TestService, databaseUrl: string, connect: (vin: string, secret: string) => Promise<MqttClient>, mode: { embedded: boolean; servicePubacks?: () => number }) {
  const gate = svc.service.ingestGate;
  t.equal(gate.maxPendingBytes, BOUND, 'the bound is the configured one');
  const random = seededRandom(SEED);
  const base = Date.now() - 6 * 3_600_000; // seqs reach about 10,000: records a second apart stay in the past
  const devices: Device[] = [];
  for (let v = 0; v < VEHICLES; v++) {
    const car = await svc.registerVehicle();
    const client = await connect(car.vin, car.deviceSecret);
    t.teardown(() => client.end(true));
    const device: Device = {
      vin: car.vin,
      client,
      acks: [],
      pubacks: 0,
      messages: buildUsageMessages({
        count: MESSAGES_PER_VEHICLE,
        recordsPerMessage: RECORDS_PER_MESSAGE,
        firstSeq: 0,
        random,
        record: (seq) => ({ start: shanghai(base + seq * 1000), end: shanghai(base + seq * 1000 + 900), up: 1000 + seq, down: 50_000, host: 'tile.amap.com', port: 443, pkg: 'com.autonavi.amapauto' }),
      }),
    };
    client.on('message', (_topic, payload) => device.acks.push(JSON.parse(payload.toString()) as Ack));
    await client.subscribeAsync(`tbox/${car.vin}/ack`, { qos: 1 });
    devices.push(device);
  }
  const sizes = devices.flatMap((d) => d.messages.map((m) => Buffer.byteLength(m.text)));
  const largest = Math.max(...sizes);
  const smallest = Math.min(...sizes);
  const offeredBytes = sizes.reduce((a, b) => a + b, 0);
  t.ok(offeredBytes > 2 * BOUND, `the devices offer ${offeredBytes} bytes, more than twice the bound`);

  // The database stalls: every batch waits on the lock.
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  t.teardown(() => lock.end());
  await lock.query('BEGIN');
  await lock.query('LOCK TABLE usage_records IN ACCESS EXCLUSIVE MODE');
  const stalledAt = Date.now();

  // Everything at once, interleaved over the vehicles, QoS 1 — far more than the protocol's 16 unacked.
  for (let m = 0; m < MESSAGES_PER_VEHICLE; m++) {
    for (const device of devices) {
      device.client.publish(`tbox/${device.vin}/usage`, device.messages[m]!.text, { qos: 1 }, (error) => {
        if (!error) device.pubacks++;
      });
    }
  }
  let peakPending = 0;
  const blocked = async () => {
    peakPending = Math.max(peakPending, gate.pendingBytes);
    const { rows } = await lock.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'usage_records'::regclass");
    return !gate.open && gate.waiting > 0 && rows[0]!.n > 0;
  };
  await waitFor(blocked, 'the gate closed, a message held at the broker edge and a batch waiting on the lock', 120_000);
  peakPending = Math.max(peakPending, gate.pendingBytes);

  t.equal(gate.open, false, 'the gate is closed');
  t.ok(peakPending > BOUND, `pending bytes went above the bound (${peakPending})`);
  t.ok(peakPending <= BOUND + largest, `pending bytes stayed within the bound plus one message (${peakPending} ≤ ${BOUND} + ${largest})`);
  t.ok(gate.pendingBytes < offeredBytes, 'the service did not take everything offered');
  t.equal(await metric(svc, 'ingest_gate_open'), 0, 'ingest_gate_open 0');
  t.ok((await metric(svc, 'ingest_gate_waiting_messages')) >= 1, 'ingest_gate_waiting_messages ≥ 1');
  t.equal(await metric(svc, 'ingest_max_pending_bytes'), BOUND);
  t.ok((await metric(svc, 'ingest_pending_bytes')) <= BOUND + largest, 'ingest_pending_bytes within the bound');
  t.same(devices.map((d) => d.acks.length), devices.map(() => 0), 'nothing acked while the database is stalled');
  if (mode.embedded) t.same(devices.map((d) => d.pubacks), devices.map(() => 0), 'no PUBACK before the commit (embedded broker)');
  if (mode.servicePubacks) {
    const taken = mode.servicePubacks();
    t.ok(taken * smallest <= BOUND + largest, `the service PUBACKed no more messages than the bound plus one holds (${taken})`);
  }

  await lock.query('ROLLBACK');
  t.comment(`database stalled for ${Date.now() - stalledAt} ms`);
  const total = VEHICLES * MESSAGES_PER_VEHICLE;
  await waitFor(() => devices.every((d) => d.acks.length >= MESSAGES_PER_VEHICLE), `acks for all ${total} messages`, 180_000);
  for (const device of devices) {
    const batches = device.acks.map((a) => a.batch).sort((a, b) => a! - b!);
    t.same(batches, device.messages.map((m) => m.batch), `${device.vin}: one ack per message`);
    t.ok(device.acks.every((a) => a.error === undefined && a.accepted === RECORDS_PER_MESSAGE && a.duplicates === 0), `${device.vin}: every record accepted`);
  }
  if (mode.embedded) await waitFor(() => devices.every((d) => d.pubacks === MESSAGES_PER_VEHICLE), 'every PUBACK');

  const { rows } = await svc.service.pool.query<{ vin: string; seq: string }>('SELECT vin, seq FROM usage_records WHERE vin = ANY($1) ORDER BY vin, seq', [devices.map((d) => d.vin)]);
  const sent = devices.flatMap((d) => d.messages.flatMap((m) => m.records.map((r) => `${d.vin}/${r.seq}`))).sort();
  t.equal(rows.length, total * RECORDS_PER_MESSAGE, 'as many ledger records as were sent');
  t.same(rows.map((r) => `${r.vin}/${r.seq}`).sort(), sent, 'every record in the ledger exactly once');

  await waitFor(() => gate.pendingBytes === 0, 'pending bytes back to 0');
  t.equal(gate.open, true, 'the gate is open again');
  t.equal(gate.waiting, 0);
  t.ok((await metric(svc, 'ingest_gate_closed_total')) >= 1, 'ingest_gate_closed_total counted the closing');
}

t.test('embedded broker: a full ingest stops reading device sockets, and loses nothing', async (t) => {
  const databaseUrl = await createTestDatabase(t);
  const svc = await startTestService(t, { DATABASE_URL: databaseUrl, INGEST_MAX_PENDING_BYTES: String(BOUND) });
  await stallAndRecover(t, svc, databaseUrl, (vin, secret) => svc.connectDevice(vin, secret), { embedded: true });
});

t.test('external broker: a full ingest withholds its PUBACK and stops consuming, and loses nothing', async (t) => {
  const external = await startExternalBroker(t);
  let servicePubacks = 0;
  external.broker.on('ack', (_packet, client) => {
    if (client?.id?.startsWith('billing-')) servicePubacks++;
  });
  const databaseUrl = await createTestDatabase(t);
  const svc = await startTestService(t, { DATABASE_URL: databaseUrl, MQTT_URL: external.url, INGEST_MAX_PENDING_BYTES: String(BOUND) });
  t.equal(svc.service.broker, null, 'no embedded broker');
  await stallAndRecover(t, svc, databaseUrl, (vin) => mqtt.connectAsync(external.url, { clientId: vin, protocolVersion: 4, reconnectPeriod: 0 }), { embedded: false, servicePubacks: () => servicePubacks });
});
