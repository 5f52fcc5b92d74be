import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { loadCatalog } from '../../src/catalog/index.js';
import { createPool } from '../../src/shared/db/pool.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { exportCredentials, listVins, signalReload, writeFileAtomic, type ServiceUser } from '../../src/tools/credentials.js';
import { DynsecVehicleSync, SYNC_USER } from '../../src/tools/dynsec.js';
import { createTestDatabase } from '../helpers/database.js';
import { makeIccid, makeVin } from '../helpers/fixtures.js';
import { buildUsageMessages, createFleet, registerOverHttp, seededRandom, sentTotals, shanghai, waitFor, type FleetMessage } from '../helpers/fleet.js';
import { MOSQUITTO_SERVICE_USER, startMosquitto } from '../helpers/mosquitto.js';
import { spawnService, type ServiceProcess } from '../helpers/process.js';

/**
 * Issue 7, external broker mode against a real Mosquitto (Debian's package, the repository's
 * deploy/mosquitto config): two billing workers (the built service, `npm run build` first) share one
 * `$share/billing/tbox/+/usage` subscription; the broker authenticates devices from the password file that
 * export-credentials' code writes; a fleet publishes as DESIGN 3.2 asks; one worker is SIGKILLed mid-run.
 * Afterwards the ledger holds exactly what the fleet sent, no cap is overspent, every message was acked
 * and every control state is retained on the broker. Then a second environment (another database, share
 * group `staging`) on the same broker must receive every message too. The records/s through Mosquitto
 * are printed, not asserted.
 *
 * Issue 10: the topic ACL is the dynamic-security plugin's (deploy/mosquitto), which checks SUBSCRIBE. A
 * registered device is refused the workers' `$share/billing/tbox/+/usage` (SUBACK 0x80 / 0x87) and another
 * vehicle's 100 messages are all acked within 10 s beside it; other VINs' topics, wildcards and `$SYS/#` are
 * refused, a Will on another VIN's topic is dropped, and the `--watch --dynsec-url` sidecar (the built CLI)
 * lets a vehicle registered while the broker runs in with exactly its own ACL.
 */

const SEED = Number(process.env.INTEROP_SEED ?? 20_261_124);
const VEHICLES = 40;
const MESSAGES_PER_VEHICLE = 30;
const RECORDS_PER_MESSAGE = 50;
/** the share of the stream acked before one worker is killed */
const KILL_AFTER = 0.4;
/** a T-Box resends after 60 s without an ack (DESIGN 3.2); the test has no time for that */
const RESEND_AFTER_MS = 3_000;
const MiB = 1_048_576n;
t.comment(`INTEROP_SEED=${SEED}`);

const random = seededRandom(SEED);
const randomInt = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

interface Registered {
  vin: string;
  iccid: string;
  deviceSecret: string;
}

function registerVehicle(service: ServiceProcess, adminToken: string, serial: number, activatedAt: string): Promise<Registered> {
  return registerOverHttp(service.httpUrl, adminToken, { vin: makeVin(serial), iccid: makeIccid(serial), model: serial % 2 ? 'A7' : 'S1', activatedAt });
}

/** A CONNECT that must be refused; resolves with the CONNACK return code / reason code. */
async function refusedCode(url: string, options: mqtt.IClientOptions): Promise<number | string> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
    await client.endAsync();
    return 'connected';
  } catch (error) {
    return (error as { code?: number | string }).code ?? String(error);
  }
}

/** The SUBACK codes for `filters` (mqtt.js rejects a SUBACK holding a failure; the packet is on the error). */
async function subackCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (error) {
    const granted = (error as { packet?: { granted?: (number | { qos: number })[] } }).packet?.granted;
    if (!granted) throw error;
    return granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}

/** Retained messages on the given filters, collected until `expected` topics have arrived (or 5 s passed). */
async function retained(url: string, vehicle: Registered, filters: string[], expected: number): Promise<Map<string, string>> {
  const client = await mqtt.connectAsync(url, { clientId: vehicle.vin, username: vehicle.vin, password: vehicle.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 });
  const seen = new Map<string, string>();
  client.on('message', (topic, payload, packet) => packet.retain && seen.set(topic, payload.toString()));
  try {
    await client.subscribeAsync(filters, { qos: 1 });
    await waitFor(() => seen.size >= expected, `${expected} retained messages for ${vehicle.vin}`, 5_000).catch(() => undefined);
    return seen;
  } finally {
    await client.endAsync();
  }
}

t.test('two workers on one Mosquitto shared subscription bill exactly, through a SIGKILL of one', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tbox-mosquitto-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const databaseUrl = await createTestDatabase(t);
  const db = createPool(databaseUrl, 4);
  db.on('error', () => undefined); // the test database is dropped WITH (FORCE) at teardown
  t.teardown(() => db.end());

  // The broker's password file and dynamic-security ACL, written by export-credentials' own code: first
  // the service user and the sync user only (as credentials-init does on an empty database).
  const passwordFile = path.join(dir, 'passwd');
  const dynsecFile = path.join(dir, 'dynamic-security.json');
  const serviceUser: ServiceUser = { username: MOSQUITTO_SERVICE_USER, password: randomBytes(24).toString('base64url') };
  const syncUser: ServiceUser = { username: SYNC_USER, password: randomBytes(24).toString('base64url') };
  const exportPasswords = () => writeFileAtomic(passwordFile, (sink) => exportCredentials(db, { format: 'mosquitto', serviceUser, extraUsers: [syncUser] }, sink));
  await exportPasswords();
  await writeFileAtomic(dynsecFile, (sink) => exportCredentials(db, { format: 'mosquitto-dynsec', serviceUser: { username: serviceUser.username, password: '' } }, sink));
  const broker = await startMosquitto(t, { dir, passwordFile, dynsecFile });
  // What `export-credentials --watch --dynsec-url` runs: vehicles reach the running plugin through $CONTROL.
  const dynsec = new DynsecVehicleSync(broker.serviceUrl, serviceUser.username, syncUser.password);
  t.teardown(() => dynsec.close());

  const adminToken = `interop-admin-${randomBytes(16).toString('hex')}`;
  const piiKey = randomBytes(32).toString('base64');
  const workerEnv = (name: string, databaseUrl: string, shareGroup = 'billing') => ({
    DATABASE_URL: databaseUrl,
    MQTT_URL: broker.serviceUrl,
    MQTT_USERNAME: serviceUser.username,
    MQTT_PASSWORD: serviceUser.password,
    MQTT_SHARE_GROUP: shareGroup,
    ADMIN_TOKEN: adminToken,
    PII_KEY: piiKey,
    DATA_DIR: path.join(dir, name),
    LOG_LEVEL: 'warn',
  });
  const processes: ServiceProcess[] = [];
  t.teardown(() => Promise.all(processes.map((p) => p.stop('SIGKILL'))));
  const worker1 = await spawnService(workerEnv('worker-1', databaseUrl));
  const worker2 = await spawnService(workerEnv('worker-2', databaseUrl));
  processes.push(worker1, worker2);
  await Promise.all([worker1.waitReady(), worker2.waitReady()]);

  // Vehicles registered through worker 1's admin API; then, as the export-credentials --watch sidecar
  // does, they are added to the plugin's ACL, the password file is regenerated and the broker told to reload it.
  const startedAt = Date.now();
  const activatedAt = shanghai(startedAt - 30 * 86_400_000);
  const vehicles: Registered[] = [];
  for (let v = 0; v < VEHICLES; v++) vehicles.push(await registerVehicle(worker1, adminToken, 7100 + v, activatedAt));
  const spy = await registerVehicle(worker1, adminToken, 7099, activatedAt);
  // Issue 10: a registered device that tries to join the workers' share group, and a vehicle that publishes beside it.
  const rogue = await registerVehicle(worker1, adminToken, 7098, activatedAt);
  const honest = await registerVehicle(worker1, adminToken, 7097, activatedAt);
  t.equal(await dynsec.sync(await listVins(db)), VEHICLES + 3, 'every vehicle added to the running broker\'s dynamic-security ACL ($CONTROL)');
  t.equal(await dynsec.sync(await listVins(db)), 0, 'a second sync adds nothing');
  const exported = await exportPasswords();
  t.equal(exported.vehicles, VEHICLES + 3, 'every registered vehicle is in the password file (a salt Mosquitto cannot read is left out: see deploy/mosquitto/README.md)');
  t.equal(exported.skipped, 0, 'no vehicle left out of the password file');
  t.equal(await signalReload(broker.pidFile, (file) => readFile(file, 'utf8')), broker.pid, 'SIGHUP sent to the pid in Mosquitto\'s pid_file');
  await waitFor(async () => (await refusedCode(broker.deviceUrl, { clientId: spy.vin, username: spy.vin, password: spy.deviceSecret, protocolVersion: 4 })) === 'connected', 'the reloaded password file', 10_000);

  await t.test('device authentication and topic isolation through Mosquitto', async (t) => {
    const victim = vehicles[0]!;
    const wrong = randomBytes(32).toString('base64url');
    t.match(await refusedCode(broker.deviceUrl, { clientId: victim.vin, username: victim.vin, password: wrong, protocolVersion: 4 }), /^(4|5)$/, 'a wrong secret is refused (3.1.1 CONNACK 4/5)');
    t.match(await refusedCode(broker.deviceUrl, { clientId: victim.vin, username: victim.vin, password: wrong, protocolVersion: 5 }), /^(134|135)$/, 'a wrong secret is refused (MQTT 5 CONNACK 0x86/0x87)');
    t.match(await refusedCode(broker.deviceUrl, { clientId: makeVin(7999), username: makeVin(7999), password: spy.deviceSecret, protocolVersion: 4 }), /^(4|5)$/, 'an unknown VIN is refused');
    t.match(await refusedCode(broker.serviceUrl, { clientId: 'x', username: spy.vin, password: wrong, protocolVersion: 4 }), /^(4|5)$/, 'the workers\' listener refuses wrong credentials too');

    // MQTT 5: a publish to another VIN's usage topic is refused with PUBACK 0x87 (DESIGN 3.0).
    const v5 = await mqtt.connectAsync(broker.deviceUrl, { clientId: spy.vin, username: spy.vin, password: spy.deviceSecret, reconnectPeriod: 0, protocolVersion: 5 });
    const forged = JSON.stringify({ v: 1, batch: 1, epoch: 'forged', records: [{ seq: 1, start: shanghai(startedAt - 60_000), end: shanghai(startedAt), up: 1, down: 1 }] });
    const pubackError = await v5.publishAsync(`tbox/${victim.vin}/usage`, forged, { qos: 1 }).then(() => null, (error: { code?: number }) => error.code ?? -1);
    t.equal(pubackError, 0x87, 'MQTT 5: a publish to another VIN\'s topic gets PUBACK 0x87');
    t.same(await subackCodes(v5, [`tbox/${victim.vin}/ack`]), [0x87], 'MQTT 5: a subscription to another VIN\'s ack topic gets SUBACK 0x87');
    const own = await subackCodes(v5, [`tbox/${spy.vin}/ack`, `tbox/${spy.vin}/control/+`, `tbox/${spy.vin}/control/#`, `tbox/${spy.vin}/control/nav`, `tbox/${spy.vin}/rules`]);
    t.same(own, [1, 1, 1, 1, 1], 'its own ack, control (+, #, one app) and rules topics are granted');
    await v5.endAsync();

    // A Will is not refused at CONNECT by Mosquitto 2.0 (deploy/mosquitto/README.md), but it is published
    // only if the device's own ACL allows it: a forged retained block on another VIN never lands.
    const willer = await mqtt.connectAsync(broker.deviceUrl, {
      clientId: rogue.vin,
      username: rogue.vin,
      password: rogue.deviceSecret,
      reconnectPeriod: 0,
      protocolVersion: 4,
      will: { topic: `tbox/${victim.vin}/control/navigation`, payload: Buffer.from(JSON.stringify({ v: 1, app: 'navigation', action: 'block', reasons: ['FORGED'], rev: 999 })), qos: 1, retain: true },
    });
    willer.on('error', () => undefined);
    willer.stream.destroy(); // no DISCONNECT: the broker sends the will
    const victimClient = await mqtt.connectAsync(broker.deviceUrl, { clientId: victim.vin, username: victim.vin, password: victim.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 });
    const retainedTopics: string[] = [];
    victimClient.on('message', (topic, _payload, packet) => packet.retain && retainedTopics.push(topic));
    // Retained messages come in the order of the filters: the rules (retained at registration) come after any control.
    await victimClient.subscribeAsync([`tbox/${victim.vin}/control/+`, `tbox/${victim.vin}/rules`], { qos: 1 });
    await waitFor(() => retainedTopics.includes(`tbox/${victim.vin}/rules`), 'the victim\'s retained rules', 10_000);
    t.same(retainedTopics, [`tbox/${victim.vin}/rules`], 'a will on another VIN\'s control topic was not published (nothing retained there)');
    await victimClient.endAsync();
  });

  // The other vehicle's 100 messages; counted in what the ledger must hold below.
  const honestMessages = buildUsageMessages({
    count: 100,
    recordsPerMessage: 5,
    firstSeq: 0,
    firstBatch: 20_001,
    epoch: 'rogue-share',
    random,
    record: (seq) => ({ start: shanghai(startedAt - 7_200_000 + seq * 1000), end: shanghai(startedAt - 7_200_000 + seq * 1000 + 500), up: randomInt(0, 9_999), down: randomInt(0, 99_999), host: 'u.y.qq.com' }),
  });
  await t.test('a device cannot join the workers\' shared subscription and starve billing (issue 10)', async (t) => {
    // Mosquitto hands each member of `$share/billing/…` its turn; a device in the group would get a share of
    // the usage stream, the read ACL would withhold it, and that share would be dropped: never billed, never acked.
    const rogue5 = await mqtt.connectAsync(broker.deviceUrl, { clientId: rogue.vin, username: rogue.vin, password: rogue.deviceSecret, reconnectPeriod: 0, protocolVersion: 5 });
    rogue5.on('error', () => undefined);
    t.same(await subackCodes(rogue5, [`$share/${MOSQUITTO_SERVICE_USER}/tbox/+/usage`]), [0x87], 'MQTT 5: SUBACK 0x87 (not authorized) for the workers\' share group');
    await rogue5.endAsync();
    // The rogue stays connected (3.1.1) while another vehicle publishes.
    const rogueClient = await mqtt.connectAsync(broker.deviceUrl, { clientId: rogue.vin, username: rogue.vin, password: rogue.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 });
    rogueClient.on('error', () => undefined);
    t.teardown(() => rogueClient.end(true));
    const received: string[] = [];
    rogueClient.on('message', (topic) => !topic.startsWith(`tbox/${rogue.vin}/`) && received.push(topic));
    const granted = await subackCodes(rogueClient, [`$share/${MOSQUITTO_SERVICE_USER}/tbox/+/usage`, `$share/${MOSQUITTO_SERVICE_USER}/#`, 'tbox/+/usage']);
    t.same(granted, [0x80, 0x80, 0x80], '3.1.1: SUBACK 0x80, the device may not join the workers\' share group nor read usage');

    const acked = new Set<number>();
    const honestClient = await mqtt.connectAsync(broker.deviceUrl, { clientId: honest.vin, username: honest.vin, password: honest.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 });
    t.teardown(() => honestClient.end(true));
    honestClient.on('message', (_topic, payload) => {
      const ack = JSON.parse(payload.toString()) as { batch?: number; accepted?: number; duplicates?: number; error?: unknown };
      if (ack.batch !== undefined && ack.error === undefined && (ack.accepted ?? 0) + (ack.duplicates ?? 0) === 5) acked.add(ack.batch);
    });
    await honestClient.subscribeAsync(`tbox/${honest.vin}/ack`, { qos: 1 });
    for (const message of honestMessages) await honestClient.publishAsync(`tbox/${honest.vin}/usage`, message.text, { qos: 1 });
    // The bound: every one of the 100 messages acked within 10 s (a lost share would never be acked).
    await waitFor(() => acked.size === honestMessages.length, `acks for all ${honestMessages.length} messages`, 10_000).catch((error: Error) => t.fail(error.message));
    t.equal(acked.size, honestMessages.length, 'all 100 messages of the other vehicle acked');
    t.same(received, [], 'the rogue device received nothing of another vehicle');
  });

  await t.test('the export-credentials --watch --dynsec-url sidecar lets a new vehicle in with its own ACL', async (t) => {
    // docker-compose's `credentials` service, as a process: the built CLI, polling every second.
    const sidecar = spawn(
      process.execPath,
      [path.join(PROJECT_ROOT, 'dist/src/tools/export-credentials.js'), '--format', 'mosquitto', '--out', passwordFile, '--service-user', serviceUser.username, '--service-password-env', 'MQTT_PASSWORD',
        '--watch', '1', '--reload-pid', broker.pidFile, '--dynsec-url', broker.serviceUrl],
      { env: { ...process.env, DATABASE_URL: databaseUrl, MQTT_PASSWORD: serviceUser.password, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    sidecar.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise((resolve) => sidecar.once('exit', resolve));
    t.teardown(async () => {
      if (sidecar.exitCode === null) sidecar.kill('SIGTERM');
      await exited;
    });
    await waitFor(() => log.includes("connected to the broker's dynamic-security API"), 'the sidecar on the dynamic-security API', 20_000).catch((error: Error) => t.fail(`${error.message}\n${log}`));
    const late = await registerVehicle(worker1, adminToken, 7096, activatedAt);
    let codes: number[] | string = 'not connected';
    await waitFor(async () => {
      const client = await mqtt.connectAsync(broker.deviceUrl, { clientId: late.vin, username: late.vin, password: late.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 }).catch(() => null);
      if (!client) return false;
      codes = await subackCodes(client, [`tbox/${late.vin}/ack`, `$share/${MOSQUITTO_SERVICE_USER}/tbox/+/usage`]);
      await client.endAsync();
      return codes[0] === 1;
    }, 'the new vehicle connected with its ACL', 20_000).catch((error: Error) => t.fail(`${error.message}\n${log}`));
    t.same(codes, [1, 0x80], 'a vehicle registered while the broker runs connects, may subscribe to its own ack, never to the share group');
    t.notMatch(log, new RegExp(`${serviceUser.password}|${late.deviceSecret}`), 'no secret in the sidecar\'s log');
  });

  // The spy stays connected through the run, subscribed to everything it should not see.
  const spyClient: MqttClient = await mqtt.connectAsync(broker.deviceUrl, { clientId: spy.vin, username: spy.vin, password: spy.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 });
  spyClient.on('error', () => undefined);
  t.teardown(() => spyClient.end(true));
  const foreign: string[] = [];
  spyClient.on('message', (topic) => !topic.startsWith(`tbox/${spy.vin}/`) && foreign.push(topic));
  const victim = vehicles[0]!;
  const forbidden = [`tbox/${victim.vin}/ack`, `tbox/${victim.vin}/control/+`, 'tbox/+/ack', 'tbox/+/usage', `tbox/${spy.vin}/#`, '#', '$SYS/#', '$share/spy/tbox/+/usage', `$share/spy/tbox/${spy.vin}/ack`];
  t.same(await subackCodes(spyClient, forbidden), forbidden.map(() => 0x80), '3.1.1: SUBACK 0x80 for other VINs\' topics, tbox/{vin}/#, #, $SYS/# and $share/… (DESIGN 3.0)');
  // 3.1.1: Mosquitto drops a forbidden publish silently (PUBACK, connection kept); it must never be billed.
  const forged = JSON.stringify({ v: 1, batch: 1, epoch: 'forged', records: [{ seq: 1, start: shanghai(startedAt - 60_000), end: shanghai(startedAt), up: 1, down: 1 }] });
  await spyClient.publishAsync(`tbox/${victim.vin}/usage`, forged, { qos: 1 });

  // The fleet: navigation records large enough to exhaust the 3 GiB map cap within the run, so both
  // workers allocate against the same caps at once; hotspot and unrecognised traffic with no pack
  // (FUNDS_EXHAUSTED controls).
  const specs = vehicles.map((vehicle) => ({
    vin: vehicle.vin,
    secret: vehicle.deviceSecret,
    messages: buildUsageMessages({
      count: MESSAGES_PER_VEHICLE,
      recordsPerMessage: RECORDS_PER_MESSAGE,
      firstSeq: randomInt(0, 1000),
      random,
      record: (seq) => {
        const start = startedAt - 3 * 3_600_000 + seq * 1000;
        const flow = [
          { host: 'tile.amap.com', port: 443, up: randomInt(0, 200_000), down: randomInt(0, 20_000_000) },
          { host: 'u.y.qq.com', port: 443, up: randomInt(0, 40_000), down: randomInt(0, 400_000) },
          { iface: 'hotspot', up: randomInt(0, 40_000), down: randomInt(0, 400_000) },
          { ip: '100.64.0.7', port: 8080, up: randomInt(0, 40_000), down: randomInt(0, 400_000) },
        ][randomInt(0, 3)]!;
        return { start: shanghai(start), end: shanghai(start + 900), proto: 'tcp', ...flow };
      },
    }),
  }));
  const sent = sentTotals([...specs, { vin: honest.vin, secret: honest.deviceSecret, messages: honestMessages }]);
  const totalMessages = VEHICLES * MESSAGES_PER_VEHICLE;
  const ackLoss = seededRandom(SEED ^ 0x5eed);
  // 2 % of acks lost on the way (DESIGN 3.2), so committed messages are resent and acked as duplicates.
  const fleet = createFleet(specs, { resendAfterMs: RESEND_AFTER_MS, dropAck: () => ackLoss() < 0.02 });
  t.teardown(() => fleet.close());

  const runStarted = performance.now();
  await fleet.connect(broker.deviceUrl);
  await waitFor(() => fleet.stats.ackedMessages >= Math.floor(totalMessages * KILL_AFTER), 'the first share of the stream acked');
  const twoWorkers = { ms: performance.now() - runStarted, records: fleet.stats.ackedRecords };
  t.ok(fleet.unackedCount() > 0, `worker 2 killed after ${fleet.stats.ackedMessages} acked messages, with ${fleet.unackedCount()} unacked in flight`);
  t.equal(await worker2.stop('SIGKILL'), null, 'worker 2 died of SIGKILL');
  await waitFor(() => fleet.done(), 'every message acked by the surviving worker', 60_000);
  const runMs = performance.now() - runStarted;
  fleet.close();

  t.same(fleet.problems, [], 'every ack covered its message with no rejection');
  t.equal(fleet.stats.ackedMessages, totalMessages, 'every message acked (acks delivered to the devices through Mosquitto)');
  t.ok(fleet.stats.duplicateRecords > 0, `resent records that were already committed were acked as duplicates (${fleet.stats.duplicateRecords})`);
  t.same(foreign, [], 'the spy received nothing of another vehicle (acks, controls, usage, $SYS)');
  t.ok(spyClient.connected, 'Mosquitto keeps a 3.1.1 connection after a forbidden publish (the embedded broker closes it)');

  const rate = (records: number, ms: number) => Math.round((records * 1000) / ms);
  t.comment(
    `through Mosquitto: ${rate(twoWorkers.records, twoWorkers.ms)} records/s with 2 workers (${twoWorkers.records} records in ${Math.round(twoWorkers.ms)} ms); ` +
      `whole run incl. the kill and ${RESEND_AFTER_MS / 1000} s resend timeouts: ${rate(sent.records, runMs)} records/s (${sent.records} records, ${Math.round(runMs)} ms)`,
  );

  await t.test('the ledger equals what the fleet sent', async (t) => {
    const records = await db.query<{ vin: string; seq: string; epoch: string }>('SELECT vin, seq, epoch FROM usage_records');
    t.equal(records.rows.filter((r) => r.epoch === 'forged').length, 0, 'the forged publish was never billed');
    t.equal(records.rows.length, sent.records, 'as many usage records as the fleet sent');
    const stored = new Set(records.rows.map((r) => `${r.vin}/${r.seq}`));
    t.ok([...sent.keys].every((key) => stored.has(key)), 'every acked record is in the ledger, exactly once');
    const totals = await db.query<{ records: string; allocations: string }>(
      'SELECT (SELECT sum(up + down) FROM usage_records)::text AS records, (SELECT sum(bytes) FROM allocations)::text AS allocations',
    );
    t.same(totals.rows[0], { records: sent.bytes.toString(), allocations: sent.bytes.toString() }, 'Σ(up + down) and Σ allocations equal what the fleet sent, byte for byte');
    const unbalanced = await db.query(
      `SELECT u.vin, u.seq FROM usage_records u
         LEFT JOIN (SELECT vin, epoch, seq, sum(bytes) AS allocated FROM allocations GROUP BY vin, epoch, seq) a USING (vin, epoch, seq)
        WHERE u.up + u.down > 0 AND a.allocated IS DISTINCT FROM u.up + u.down`,
    );
    t.same(unbalanced.rows, [], 'each record\'s allocations sum to its bytes');
  });

  await t.test('no cap overspent although two workers allocated against the same caps', async (t) => {
    const { catalog } = await loadCatalog(path.join(PROJECT_ROOT, 'sponsors'));
    const capBytes = new Map(catalog.sponsorships.filter((s) => s.capMiBPerVehicleMonth !== undefined).map((s) => [s.id, BigInt(s.capMiBPerVehicleMonth!) * MiB]));
    const counters = await db.query<{ vin: string; sponsorship_id: string; month: string; bytes: string; allocated: string | null }>(
      `SELECT c.vin, c.sponsorship_id, c.month::text, c.bytes::text, a.bytes::text AS allocated FROM cap_usage c
         LEFT JOIN (SELECT vin, sponsorship_id, usage_month, sum(bytes) AS bytes FROM allocations WHERE kind = 'sponsored' GROUP BY 1, 2, 3) a
           ON a.vin = c.vin AND a.sponsorship_id = c.sponsorship_id AND a.usage_month = c.month`,
    );
    t.same(counters.rows.filter((r) => r.bytes !== r.allocated), [], 'cap counters equal the sponsored allocations');
    const over = counters.rows.filter((r) => capBytes.has(r.sponsorship_id) && BigInt(r.bytes) > capBytes.get(r.sponsorship_id)!);
    t.same(over, [], 'no (vehicle, sponsorship, month) above its cap');
    const navigationCap = capBytes.get('amap-nav-acme')!;
    const filled = counters.rows.filter((r) => r.sponsorship_id === 'amap-nav-acme' && BigInt(r.bytes) === navigationCap);
    // A guard, not a speed claim: the fleet sends ~5 GiB of navigation per vehicle, beyond the 3 GiB cap.
    t.ok(filled.length > 0, `navigation caps filled to the byte, not beyond (${filled.length} vehicle-months)`);
  });

  await t.test('controls and rules are retained on the broker as PostgreSQL holds them', async (t) => {
    // DESIGN 3.3: retried until PUBACK — also the rows of the killed worker, committed but never published.
    await waitFor(async () => (await db.query('SELECT 1 FROM outbox LIMIT 1')).rows.length === 0, 'an empty outbox', 60_000).catch(() => undefined);
    t.equal((await db.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n, 0, 'the outbox is empty: every control was published, the killed worker\'s too');
    const states = await db.query<{ vin: string; app: string; reasons: string[]; rev: number }>('SELECT vin, app, reasons, rev FROM control_states');
    const hotspot = states.rows.filter((s) => s.app === 'wifi-hotspot' && s.reasons.includes('FUNDS_EXHAUSTED'));
    t.ok(hotspot.length > 0, `hotspot traffic with no pack blocked wifi-hotspot (FUNDS_EXHAUSTED) for ${hotspot.length} vehicles`);
    const mismatches: string[] = [];
    let checked = 0;
    for (const vehicle of vehicles) {
      const expected = states.rows.filter((s) => s.vin === vehicle.vin && s.reasons.length > 0);
      const seen = await retained(broker.deviceUrl, vehicle, [`tbox/${vehicle.vin}/control/+`, `tbox/${vehicle.vin}/rules`], expected.length + 1);
      if (!seen.has(`tbox/${vehicle.vin}/rules`)) mismatches.push(`${vehicle.vin}: no retained rules`);
      for (const state of expected) {
        const text = seen.get(`tbox/${vehicle.vin}/control/${state.app}`);
        const control = text ? (JSON.parse(text) as { app: string; action: string; reasons: string[]; rev: number }) : null;
        if (control?.action !== 'block' || control.rev !== state.rev || JSON.stringify(control.reasons) !== JSON.stringify(state.reasons)) {
          mismatches.push(`${vehicle.vin}/${state.app}: broker ${text ?? 'nothing'}, database rev ${state.rev} ${state.reasons.join(',')}`);
        }
        checked++;
      }
    }
    t.same(mismatches, [], `${checked} block controls and every vehicle's rules delivered retained through Mosquitto`);
  });

  await t.test('two environments with different MQTT_SHARE_GROUP on one broker both get every message', async (t) => {
    const stagingUrl = await createTestDatabase(t);
    const staging = await spawnService(workerEnv('worker-staging', stagingUrl, 'staging'));
    processes.push(staging);
    await staging.waitReady();
    const sample = vehicles.slice(0, 10);
    // The same VINs in the staging database (its own secrets: the broker authenticates against the export).
    for (let i = 0; i < sample.length; i++) await registerVehicle(staging, adminToken, 7100 + i, activatedAt);
    const messages = new Map<string, FleetMessage[]>();
    let expectedRecords = 0;
    for (const vehicle of sample) {
      const built = buildUsageMessages({
        count: 5,
        recordsPerMessage: 20,
        firstSeq: 0,
        firstBatch: 10_001,
        epoch: 'shared-groups',
        random,
        record: (seq) => ({ start: shanghai(startedAt - 3_600_000 + seq * 1000), end: shanghai(startedAt - 3_600_000 + seq * 1000 + 500), up: randomInt(0, 9_999), down: randomInt(0, 99_999), host: 'u.y.qq.com' }),
      });
      messages.set(vehicle.vin, built);
      expectedRecords += built.reduce((n, m) => n + m.records.length, 0);
    }
    const acks = new Map<string, number>();
    const clients = await Promise.all(
      sample.map(async (vehicle) => {
        const client = await mqtt.connectAsync(broker.deviceUrl, { clientId: vehicle.vin, username: vehicle.vin, password: vehicle.deviceSecret, reconnectPeriod: 0, protocolVersion: 4 });
        client.on('message', (_topic, payload) => {
          const batch = (JSON.parse(payload.toString()) as { batch?: number }).batch;
          acks.set(`${vehicle.vin}/${batch}`, (acks.get(`${vehicle.vin}/${batch}`) ?? 0) + 1);
        });
        await client.subscribeAsync(`tbox/${vehicle.vin}/ack`, { qos: 1 });
        for (const message of messages.get(vehicle.vin)!) await client.publishAsync(`tbox/${vehicle.vin}/usage`, message.text, { qos: 1 });
        return client;
      }),
    );
    t.teardown(() => Promise.all(clients.map((c) => c.endAsync())));
    const batches = sample.length * 5;
    await waitFor(() => [...acks.values()].filter((n) => n >= 2).length === batches, 'two acks (one per environment) for every message', 30_000);
    t.ok([...acks.values()].every((n) => n === 2), 'every message acked once by each environment, never stolen by the other group');
    for (const [name, url] of [['billing (prod)', databaseUrl], ['staging', stagingUrl]] as const) {
      const pool = createPool(url, 1);
      pool.on('error', () => undefined);
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM usage_records WHERE epoch = 'shared-groups'");
      await pool.end();
      t.equal(rows[0]!.n, expectedRecords, `the ${name} environment holds every record`);
    }
  });
});
