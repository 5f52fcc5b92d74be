import { randomBytes } from 'node:crypto';
import t from 'tap';
import { checkLedgerAgainstFleet } from '../helpers/ledger-checks.js';
import pg from 'pg';
import { createTestDatabase } from '../helpers/database.js';
import { createFleet, registerMixedFleet, seededRandom, sentTotals, waitFor } from '../helpers/fleet.js';
import { spawnService, type ServiceProcess } from '../helpers/process.js';

/**
 * DESIGN 7 "exactly once": the built service (`npm run build` first) as a process on its own database,
 * and a simulated fleet that behaves as DESIGN 3.2 asks of a T-Box: messages of 20 records with rising
 * seqs, each kept until its ack, at most 16 unacked, everything unacked resent after a reconnect (and
 * after a few seconds without an ack; ~5 % of acks are lost on the way). The service is SIGKILLed 3
 * times at random points of the stream (seeded: CRASH_SEED) and restarted on the same database; the
 * vehicles reconnect to the new process.
 * At the end the ledger must hold exactly what the fleet sent, byte for byte.
 */

const SEED = Number(process.env.CRASH_SEED ?? 20_261_115);
const VEHICLES = 20;
const MESSAGES_PER_VEHICLE = 40;
const RECORDS_PER_MESSAGE = 20;
const RESEND_AFTER_MS = 3_000; // a T-Box waits 60 s; the test has no time for that
const KILLS = 3;

const random = seededRandom(SEED);
/** DESIGN 3.2 "acks may be lost": the fleet drops this share of acks, so committed messages are resent. */
const ACK_LOSS = 0.05;
const ackLoss = seededRandom(SEED ^ 0x5eed);
const randomInt = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
t.comment(`CRASH_SEED=${SEED}`);

t.test('SIGKILL mid-stream, restart, resend everything unacked: the ledger equals what the fleet sent', async (t) => {
  const databaseUrl = await createTestDatabase(t);
  const adminToken = `crash-test-admin-${randomBytes(16).toString('hex')}`;
  const env = { DATABASE_URL: databaseUrl, ADMIN_TOKEN: adminToken, PII_KEY: randomBytes(32).toString('base64'), MQTT_HOST: '127.0.0.1', MQTT_PLAINTEXT: 'behind-tls-proxy', LOG_LEVEL: 'warn' };
  let service: ServiceProcess = await spawnService(env);
  const processes = [service];
  t.teardown(() => Promise.all(processes.map((p) => p.stop('SIGKILL'))));
  await service.waitReady();

  // The fleet and everything it will send, generated up front from the seed.
  const startedAt = Date.now();
  const specs = await registerMixedFleet({ httpUrl: service.httpUrl, adminToken, firstNumber: 900, vehicles: VEHICLES, messages: MESSAGES_PER_VEHICLE, recordsPerMessage: RECORDS_PER_MESSAGE, baseMs: startedAt, hoursBefore: 2, random });
  const expected = sentTotals(specs);
  const totalMessages = VEHICLES * MESSAGES_PER_VEHICLE;
  const fleet = createFleet(specs, { resendAfterMs: RESEND_AFTER_MS, dropAck: () => ackLoss() < ACK_LOSS });
  t.teardown(() => fleet.close());

  await fleet.connect(`mqtt://127.0.0.1:${service.mqttPort}`);
  for (let kill = 1; kill <= KILLS; kill++) {
    // a random point while the fleet publishes, in the kill's share of the stream (5–28 %, 38–62 %, 72–95 %)
    const threshold = Math.floor(totalMessages * ((kill - 1 + 0.15 + 0.7 * random()) / KILLS));
    await waitFor(() => fleet.stats.ackedMessages >= threshold, `${threshold} acked messages`);
    // and a random offset, so the kill lands anywhere in a batch's commit-then-ack cycle
    await new Promise((resolve) => setTimeout(resolve, randomInt(0, 40)));
    const inFlight = fleet.unackedCount();
    t.ok(inFlight > 0, `kill ${kill} after ${fleet.stats.ackedMessages} acked messages, with ${inFlight} unacked in flight`);
    t.equal(await service.stop('SIGKILL'), null, `kill ${kill}: the service died of SIGKILL`);
    fleet.disconnect();
    service = await spawnService(env);
    processes.push(service);
    await service.waitReady();
    await fleet.connect(`mqtt://127.0.0.1:${service.mqttPort}`);
  }
  // should the fleet never finish, the ledger checks below still say what went wrong
  await waitFor(() => fleet.done(), 'every message acked', 30_000).catch((error: Error) => t.fail(error.message));
  fleet.close();
  t.same(fleet.problems.slice(0, 5), [], `every ack covered its message with no rejection (${fleet.problems.length} problems)`);
  t.same(fleet.retryableErrors.slice(0, 5), [], `no INTERNAL_ERROR: a valid message is never refused, even across crashes (${fleet.retryableErrors.length})`);
  t.ok(fleet.stats.duplicateRecords > 0, `resent records that were already committed were acked as duplicates (${fleet.stats.duplicateRecords})`);
  t.equal(fleet.stats.ackedMessages, totalMessages, 'every message acked');
  t.equal(await service.stop('SIGTERM'), 0, 'the last process stops cleanly');

  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  t.teardown(() => db.end());
  await checkLedgerAgainstFleet(t, db, expected);
  t.comment(`fleet of ${VEHICLES}: ${expected.records} records, ${expected.bytes} bytes, ${KILLS} kills, ${fleet.stats.duplicateRecords} records acked as duplicates after resends, ${Date.now() - startedAt} ms`);
});
