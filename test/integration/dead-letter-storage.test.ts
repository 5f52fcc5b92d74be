import t from 'tap';
import type { MqttClient } from 'mqtt';
import { manualClock, startTestService } from '../helpers/service.js';
import { waitFor } from '../helpers/fleet.js';

/**
 * A rejected record does not copy its whole message into the dead letters: the payload is stored once
 * per distinct message (a resend stores nothing new), and dead letters older than
 * DEAD_LETTER_RETENTION_DAYS go, with the payloads no letter points at any more.
 */
const DAY = 86_400_000;
const clock = manualClock(Date.parse('2026-11-03T00:20:00Z'));
const svc = await startTestService(t, { DEAD_LETTER_RETENTION_DAYS: '30' }, clock);
const car = await svc.registerVehicle();

let client: MqttClient;
const acks: Array<Record<string, any>> = [];
t.before(async () => {
  client = await svc.connectDevice(car.vin, car.deviceSecret);
  await client.subscribeAsync(`tbox/${car.vin}/ack`, { qos: 1 });
  client.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()) as Record<string, any>));
});
t.teardown(() => client.endAsync());

async function publish(payload: string, batch: number): Promise<Record<string, any>> {
  await client.publishAsync(`tbox/${car.vin}/usage`, payload, { qos: 1 });
  await waitFor(() => acks.some((ack) => ack.batch === batch), `the ack of batch ${batch}`);
  return acks.filter((ack) => ack.batch === batch).at(-1)!;
}

async function stored(): Promise<{ letters: number; payloads: number; payloadBytes: number }> {
  const { rows } = await svc.service.pool.query<{ letters: number; payloads: number; bytes: number }>(
    `SELECT (SELECT count(*)::int FROM dead_letters) AS letters, (SELECT count(*)::int FROM dead_letter_payloads) AS payloads,
            (SELECT coalesce(sum(octet_length(payload)), 0)::int FROM dead_letter_payloads) AS bytes`,
  );
  return { letters: rows[0]!.letters, payloads: rows[0]!.payloads, payloadBytes: rows[0]!.bytes };
}

/** A message of 1,000 invalid records, padded towards the 256 KiB limit. */
function badMessage(batch: number): string {
  const records = Array.from({ length: 1000 }, (_, i) => ({ seq: i, start: '2026-11-03T08:15:00+08:00', end: '2026-11-03T08:16:00+08:00', up: -1, down: 0, pkg: 'p'.repeat(130) }));
  return JSON.stringify({ v: 1, batch, records });
}

t.test('1,000 rejected records of one message store its payload once; a resend stores no new payload', async (t) => {
  const payload = badMessage(1);
  t.ok(payload.length > 200_000 && payload.length <= 262_144, `a ${payload.length}-byte message`);
  const ack = await publish(payload, 1);
  t.equal(ack.rejected.length, 1000);
  t.same(await stored(), { letters: 1000, payloads: 1, payloadBytes: 65_536 }, 'one payload (its first 64 KiB), 1,000 letters');
  await publish(payload, 1);
  t.same(await stored(), { letters: 2000, payloads: 1, payloadBytes: 65_536 }, 'the resend adds letters, not payload');

  const page = await svc.request('GET', '/v1/dead-letters?limit=2');
  t.equal(page.status, 200);
  t.equal(page.body.deadLetters.length, 2);
  t.match(page.body.deadLetters[0], { vin: car.vin, code: 'INVALID_RECORD', index: 999, seq: 999, payloadEncoding: 'utf8', payloadBytes: 65_536 });
  t.equal(page.body.deadLetters[0].payload, payload.slice(0, 65_536), 'every letter still shows its message');
});

t.test('dead letters older than the retention go, with their payloads; newer ones stay', async (t) => {
  clock.advance(20 * DAY);
  const ack = await publish(JSON.stringify({ v: 1, batch: 2, records: [{ seq: 1, start: 'yesterday', end: 'today', up: 1, down: 1 }] }), 2);
  t.equal(ack.rejected[0].code, 'INVALID_RECORD');
  t.same(await stored(), { letters: 2001, payloads: 2, payloadBytes: 65_536 + Buffer.byteLength(JSON.stringify({ v: 1, batch: 2, records: [{ seq: 1, start: 'yesterday', end: 'today', up: 1, down: 1 }] })) });
  t.equal(await svc.service.jobs.expireDeadLetters(), 0, 'nothing is 30 days old yet');
  clock.advance(11 * DAY); // the first letters are 31 days old, the last one 11
  t.equal(await svc.service.jobs.expireDeadLetters(), 2000);
  const left = await stored();
  t.equal(left.letters, 1);
  t.equal(left.payloads, 1, 'the payload no letter points at is gone');
  const page = await svc.request('GET', '/v1/dead-letters');
  t.match(page.body.deadLetters, [{ index: 0, code: 'INVALID_RECORD' }]);
  t.equal(page.body.deadLetters.length, 1);
});
