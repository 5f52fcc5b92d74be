import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { freePort } from '../../src/shared/db/embedded.js';
import { makeVin } from '../helpers/fixtures.js';
import { manualClock, startTestService, type TestService } from '../helpers/service.js';

/**
 * Issue 10 at the broker edge, with real mqtt clients: the production shape (TLS only, no plaintext
 * listener), keepalive bounds, failed CONNECTs limited per VIN and per source address without reading the
 * database, and the connection limit. The service's clock is a manual one: blocks end when the test says.
 */
const clock = manualClock(Date.now());
const dir = await mkdtemp(path.join(tmpdir(), 'tbox-mqtt-edge-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const certFile = path.join(dir, 'cert.pem');
const keyFile = path.join(dir, 'key.pem');
await promisify(execFile)('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
  '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
]);
const ca = await readFile(certFile);
const plaintextPort = await freePort();
// MQTT_PLAINTEXT '' unsets the helper's default: the production shape, devices over TLS only.
const svc = await startTestService(t, { MQTT_PLAINTEXT: '', MQTT_PORT: String(plaintextPort), MQTT_TLS_CERT: certFile, MQTT_TLS_KEY: keyFile, MQTT_TLS_PORT: '0', LOG_LEVEL: 'info' }, clock);
const tlsUrl = `mqtts://127.0.0.1:${svc.service.broker!.tlsPort}`;

function connectTls(vin: string, password: string, options: IClientOptions = {}): Promise<MqttClient> {
  // allowRetries false: a socket closed without a CONNACK rejects instead of waiting for ever
  return mqtt.connectAsync(tlsUrl, { clientId: vin, username: vin, password, ca, reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...options }, false);
}

/** 0 when the CONNECT was accepted, else the CONNACK return code (-1: the socket closed without one). */
async function attempt(vin: string, password: string, options: IClientOptions = {}): Promise<number> {
  try {
    const client = await connectTls(vin, password, options);
    await client.endAsync();
    return 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'number' ? code : -1;
  }
}

/** The sum of a metric's samples whose labels contain `labels`, from GET /metrics. */
async function metric(service: TestService, name: string, labels = ''): Promise<number> {
  const text = (await service.request('GET', '/metrics', { token: null })).body as string;
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

const refusedAuths = async () => ({
  bad: await metric(svc, 'mqtt_auth_refused_total', 'reason="bad_credentials"'),
  vin: await metric(svc, 'mqtt_auth_refused_total', 'reason="vin_limited"'),
  address: await metric(svc, 'mqtt_auth_refused_total', 'reason="address_limited"'),
});

/** Runs `count` attempts, `concurrency` at a time; returns each return code. */
async function storm(count: number, concurrency: number, next: (i: number) => [string, string]): Promise<number[]> {
  const codes: number[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count) {
        const [vin, password] = next(started++);
        codes.push(await attempt(vin, password));
      }
    }),
  );
  return codes;
}

/** A live T-Box: publishes one record per message and waits for each message's ack. */
async function liveDevice(vin: string, secret: string) {
  const client = await connectTls(vin, secret);
  await client.subscribeAsync(`tbox/${vin}/ack`, { qos: 1 });
  const waiting = new Map<number, (ack: Record<string, unknown>) => void>();
  client.on('message', (_topic, payload) => {
    const ack = JSON.parse(payload.toString()) as { batch: number };
    waiting.get(ack.batch)?.(ack);
  });
  let seq = 0;
  return {
    client,
    async send(): Promise<Record<string, unknown>> {
      seq += 1;
      const at = new Date(clock.now() - 60_000).toISOString();
      const acked = new Promise<Record<string, unknown>>((resolve) => waiting.set(seq, resolve));
      await client.publishAsync(`tbox/${vin}/usage`, JSON.stringify({ v: 1, batch: seq, records: [{ seq, start: at, end: at, up: 100, down: 200, host: 'tile.amap.com', port: 443 }] }), { qos: 1 });
      return acked;
    },
  };
}

/** Forgets every failure (an hour without one) so each test starts clean. */
const quietHours = () => clock.advance(2 * 3_600_000);

t.test('production: no plaintext listener; devices connect over TLS', async (t) => {
  t.equal(svc.service.broker!.port, null, 'no plaintext port');
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect(plaintextPort, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
  t.ok(refused, 'nothing listens on MQTT_PORT');
  const car = await svc.registerVehicle();
  const client = await connectTls(car.vin, car.deviceSecret);
  t.ok(client.connected, 'TLS with the certificate from MQTT_TLS_CERT');
  await client.endAsync();
});

t.test('keepalive 0 or above MQTT_MAX_KEEPALIVE (1200 s) is refused with 2', async (t) => {
  const car = await svc.registerVehicle();
  const before = await metric(svc, 'mqtt_auth_refused_total', 'reason="keepalive"');
  t.equal(await attempt(car.vin, car.deviceSecret, { keepalive: 0 }), 2, 'keepalive 0 (never checked)');
  t.equal(await attempt(car.vin, car.deviceSecret, { keepalive: 1201 }), 2, 'keepalive 1201 s');
  t.equal(await attempt(car.vin, car.deviceSecret, { keepalive: 1200 }), 0, 'keepalive 1200 s');
  t.equal((await metric(svc, 'mqtt_auth_refused_total', 'reason="keepalive"')) - before, 2);
});

t.test('wrong passwords on one VIN: 3 checks, then refused unchecked; a car verified before still gets in', async (t) => {
  quietHours();
  const known = await svc.registerVehicle();
  const fresh = await svc.registerVehicle();
  t.equal(await attempt(known.vin, known.deviceSecret), 0, 'the known car connected once');
  const checks = await metric(svc, 'mqtt_auth_checks_total');
  const before = await refusedAuths();
  for (const car of [known, fresh]) {
    const codes = await storm(40, 1, () => [car.vin, 'wrong-password']);
    t.same(codes.slice(0, 3), [4, 4, 4], 'three checked refusals: bad username or password');
    t.same(new Set(codes.slice(3)), new Set([3]), 'then 3 (server unavailable) without a check');
  }
  t.equal((await metric(svc, 'mqtt_auth_checks_total')) - checks, 6, 'the database was read for 6 of 80 attempts');
  t.equal(await attempt(known.vin, known.deviceSecret), 0, 'the known car passes the block on its VIN');
  t.equal(await attempt(fresh.vin, fresh.deviceSecret), 3, 'a car never verified here waits for the block to end');
  clock.advance(1_000);
  t.equal(await attempt(fresh.vin, fresh.deviceSecret), 0, 'and gets in after 1 s');
  const after = await refusedAuths();
  t.same({ bad: after.bad - before.bad, vin: after.vin - before.vin, address: after.address - before.address }, { bad: 6, vin: 75, address: 0 });
});

t.test('a reconnect storm beside a live car whose acks keep flowing; a new car behind the same address gets in', async (t) => {
  quietHours();
  const live = await svc.registerVehicle();
  const registered = await Promise.all(Array.from({ length: 5 }, () => svc.registerVehicle()));
  // 30 VINs: more than the address's 30 failures allow at 3 per VIN, so the address limit shows.
  const stormVins = [...registered.map((car) => car.vin), ...Array.from({ length: 25 }, (_, i) => makeVin(900_000 + i))];
  const device = await liveDevice(live.vin, live.deviceSecret);
  t.teardown(() => device.client.endAsync(true));

  const checks = await metric(svc, 'mqtt_auth_checks_total');
  const before = await refusedAuths();
  const concurrency = 8;
  const storming = storm(200, concurrency, (i) => [stormVins[i % stormVins.length]!, `wrong-${i}`]);
  const acks: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 20; i++) acks.push(await device.send());
  const codes = await storming;
  t.equal(acks.length, 20, 'every message of the live car was acked during the storm');
  t.ok(acks.every((ack) => ack.accepted === 1), 'and accepted');
  t.ok(device.client.connected, 'its connection never dropped');
  t.same(new Set(codes), new Set([3, 4]), 'the storm got only refusals');

  const checked = (await metric(svc, 'mqtt_auth_checks_total')) - checks;
  // The address is blocked at its 30th checked failure; at most concurrency − 1 other checks were in flight then.
  t.ok(checked <= 30 + concurrency - 1, `${checked} of 200 attempts read the database`);
  const after = await refusedAuths();
  t.equal(after.bad - before.bad, checked, 'every checked attempt was a bad credential');
  t.equal(after.bad - before.bad + (after.vin - before.vin) + (after.address - before.address), 200, 'every attempt counted once');
  t.ok(after.address - before.address > 0, 'the source address was limited');

  // A car new to this instance, behind the same address, while the storm goes on (with time passing):
  // one unknown credential per second is still checked and the storm's VINs fall behind ever longer blocks.
  const newcomer = await svc.registerVehicle();
  t.equal(await attempt(newcomer.vin, newcomer.deviceSecret), 3, 'refused while the address is blocked');
  let stop = false;
  let stormAttempts = 0;
  const background = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stop) await attempt(stormVins[stormAttempts++ % stormVins.length]!, `wrong-again-${stormAttempts}`);
    }),
  );
  let tries = 0;
  let admitted = false;
  while (!admitted && tries < 500) {
    clock.advance(1_000);
    tries += 1;
    admitted = (await attempt(newcomer.vin, newcomer.deviceSecret)) === 0;
  }
  stop = true;
  await background;
  t.ok(admitted, `the new car got in after ${tries} simulated seconds, beside ${stormAttempts} more storm attempts`);
  t.equal((await device.send()).accepted, 1, 'the live car is still acked');
});

t.test('MQTT_MAX_CONNECTIONS: one socket more is closed on arrival', async (t) => {
  const small = await startTestService(t, { MQTT_MAX_CONNECTIONS: '2' });
  const [a, b, c] = [await small.registerVehicle(), await small.registerVehicle(), await small.registerVehicle()];
  const connect = (car: { vin: string; deviceSecret: string }) =>
    mqtt.connectAsync(small.mqttUrl, { clientId: car.vin, username: car.vin, password: car.deviceSecret, reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4 }, false);
  const first = await connect(a);
  const second = await connect(b);
  await t.rejects(connect(c), 'the third is refused');
  t.equal(await metric(small, 'mqtt_connections_refused_total'), 1);
  t.equal(await metric(small, 'mqtt_connections'), 2);
  await first.endAsync();
  let third: MqttClient | null = null;
  // The freed slot is released when the server sees the socket close, right after endAsync.
  while (!third) {
    third = await connect(c).catch(() => null);
    if (!third) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.ok(third.connected, 'a freed slot is taken');
  await Promise.all([second.endAsync(), third.endAsync()]);
});
