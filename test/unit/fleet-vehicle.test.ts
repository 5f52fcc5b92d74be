import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { loadCatalog } from '../../src/catalog/index.js';
import { ackTopic, usageTopic } from '../../src/mqtt/topics.js';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import {
  deriveCatalogTraffic,
  manualTimers,
  StateStore,
  Vehicle,
  type ConnectionEvents,
  type ManualTimers,
  type Transport,
  type VehicleOptions,
} from '../../simulators/fleet/index.js';

const { catalog } = await loadCatalog(path.join(PROJECT_ROOT, 'sponsors'));
const traffic = deriveCatalogTraffic(catalog);
const T0 = Date.parse('2026-11-03T00:00:00Z');
const VIN = 'LFVFLTA10RS000001';
const MINUTE = 60_000;

interface Sent {
  at: number;
  batch: number;
  epoch: string;
  seqs: number[];
  payload: string;
}

/** A link that records what the vehicle publishes and lets the test ack, cut or refuse. */
function fakeLink(timers: ManualTimers) {
  const sent: Sent[] = [];
  let events: ConnectionEvents | null = null;
  let refuse = false;
  const transport: Transport = {
    async connect(identity, subscriptions, handlers) {
      if (refuse) throw new Error('refused');
      events = handlers;
      return {
        publish(topic, payload) {
          if (topic !== usageTopic(identity.vin)) throw new Error(`unexpected topic ${topic}`);
          const body = JSON.parse(payload) as { batch: number; epoch: string; records: Array<{ seq: number }> };
          sent.push({ at: timers.now(), batch: body.batch, epoch: body.epoch, seqs: body.records.map((r) => r.seq), payload });
        },
        close: async () => undefined,
        drop: () => {
          events = null;
        },
      };
    },
  };
  return {
    transport,
    sent,
    /** acks `batch` as the service would after a commit (everything accepted) */
    ack(batch: number, extra: Record<string, unknown> = {}) {
      const message = [...sent].reverse().find((s) => s.batch === batch)!;
      events?.message(ackTopic(VIN), Buffer.from(JSON.stringify({ v: 1, batch, serverTime: 'x', accepted: message.seqs.length, duplicates: 0, rejected: [], ...extra })));
    },
    cut() {
      const e = events;
      events = null;
      e?.closed('cut');
    },
    set refuse(value: boolean) {
      refuse = value;
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
/** Lets a state-file write in flight finish (real disk I/O under manual time), then the vehicle react. */
const settleStore = async (store: StateStore) => {
  await store.flush();
  await settle();
};

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fleet-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function makeVehicle(t: Test, overrides: Partial<VehicleOptions> & { timers: ManualTimers; transport: Transport; store?: StateStore }) {
  const store = overrides.store ?? (await StateStore.open(null));
  const vehicle = new Vehicle({
    identity: { vin: VIN, secret: 's' },
    traffic,
    // A seed whose vehicle starts on a trip: about 190 records in its first hour.
    seed: 'unit-0',
    store,
    time: { startMs: T0, realStartMs: T0, speed: 1 },
    minutes: 180,
    ...overrides,
  });
  t.teardown(() => vehicle.stop());
  return vehicle;
}

t.test('never more than 16 messages unacknowledged; acks let the rest go, in order', async (t) => {
  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const vehicle = await makeVehicle(t, { timers, transport: link.transport, recordsPerMessage: 1 });
  vehicle.start();
  await settle();
  timers.advance(60 * MINUTE); // no acks for an hour: resends happen, but only of the first 16
  t.ok(vehicle.stats.recordsGenerated > 16, `enough traffic to fill the window (${vehicle.stats.recordsGenerated} records)`);
  t.equal(new Set(link.sent.map((s) => s.batch)).size, 16, '16 distinct messages on the wire');
  t.equal(vehicle.unacked, 16);
  t.equal(vehicle.queued, vehicle.stats.recordsGenerated - 16);
  for (const batch of [...new Set(link.sent.map((s) => s.batch))]) link.ack(batch);
  t.equal(vehicle.unacked, Math.min(16, vehicle.stats.recordsGenerated - 16), 'the next ones went out at once');
  const firstSends = link.sent.filter((s, i) => link.sent.findIndex((o) => o.batch === s.batch) === i);
  t.same(firstSends.map((s) => s.batch), [...firstSends.map((s) => s.batch)].sort((a, b) => a - b), 'first sends in batch order');
  t.same(firstSends.flatMap((s) => s.seqs), [...firstSends.flatMap((s) => s.seqs)].sort((a, b) => a - b), 'seqs rise');
});

t.test('an unacked message is resent after 60 s, then 120 s, 240 s …, and the ack stops it', async (t) => {
  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const vehicle = await makeVehicle(t, { timers, transport: link.transport, minutes: 30 });
  vehicle.start();
  await settle();
  timers.advance(30 * MINUTE);
  const first = link.sent[0]!;
  // Ack everything but the first message.
  for (const s of link.sent) if (s.batch !== first.batch) link.ack(s.batch);
  timers.advance(20 * MINUTE);
  const sends = link.sent.filter((s) => s.batch === first.batch);
  const gaps = sends.slice(1).map((s, i) => s.at - sends[i]!.at);
  t.ok(gaps.length >= 4, `resent ${gaps.length} times in 50 minutes`);
  const nominal = [60_000, 120_000, 240_000, 480_000, ...Array<number>(20).fill(600_000)];
  gaps.forEach((gap, i) => t.ok(gap >= nominal[i]! * 0.8 && gap <= nominal[i]! * 1.2, `wait ${i + 1}: ${gap} ms ≈ ${nominal[i]} ms ±20 %`));
  t.ok(sends.every((s) => s.payload === first.payload), 'a resend is the same message, byte for byte');
  link.ack(first.batch);
  const count = link.sent.length;
  timers.advance(30 * MINUTE);
  t.equal(link.sent.length, count, 'nothing more once acked');
  t.ok(vehicle.finished && vehicle.drained);
  t.ok(vehicle.stats.messagesResent >= gaps.length);
  t.equal(vehicle.stats.recordsAcked, vehicle.stats.recordsGenerated);
});

t.test('after a lost link every unacked message is resent on the new connection', async (t) => {
  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const vehicle = await makeVehicle(t, { timers, transport: link.transport, minutes: 10, recordsPerMessage: 2 });
  vehicle.start();
  await settle();
  timers.advance(10 * MINUTE);
  const unacked = new Set(link.sent.map((s) => s.batch));
  t.ok(unacked.size > 0);
  link.refuse = true;
  link.cut();
  timers.advance(2_000);
  await settle();
  t.ok(vehicle.stats.connectFailures >= 1, 'a refused reconnect is retried');
  link.refuse = false;
  const before = link.sent.length;
  for (let i = 0; i < 10 && !vehicle.connected; i++) {
    timers.advance(5_000);
    await settle();
  }
  t.ok(vehicle.connected);
  const resent = link.sent.slice(before);
  t.same(resent.map((s) => s.batch), [...unacked].sort((a, b) => a - b), 'all unacked, in batch order, at once');
  t.ok(resent.every((s) => s.at === resent[0]!.at));
});

t.test('seqs keep rising across a restart (state file), and a clean stop hands its unacked messages over', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');

  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const store = await StateStore.open(file);
  const first = await makeVehicle(t, { timers, transport: link.transport, minutes: 20, store });
  first.start();
  for (let m = 0; m < 20; m++) {
    timers.advance(MINUTE);
    await settleStore(store); // the seq lease is written before its first seq is sent
  }
  const sentBatches = [...new Set(link.sent.map((s) => s.batch))];
  for (const batch of sentBatches.slice(0, -2)) link.ack(batch);
  const unacked = first.pendingMessages().map((m) => m.batch);
  t.ok(unacked.length >= 2, `${unacked.length} messages unacknowledged at the stop`);
  const epoch = first.epoch;
  const lastSeq = Math.max(...first.pendingMessages().flatMap((m) => m.records.map((r) => r.seq)));
  await first.stop(); // records the state in the store; the fleet (here the test) writes it
  await store.flush();
  const stored = (await StateStore.open(file)).get(VIN)!;
  t.equal(stored.epoch, epoch);
  t.equal(stored.nextSeq, lastSeq + 1, 'no gap after a clean stop');
  t.same(stored.pending.map((p) => p.batch), unacked);

  const later = manualTimers(T0 + 30 * MINUTE);
  const link2 = fakeLink(later);
  const store2 = await StateStore.open(file);
  const second = await makeVehicle(t, { timers: later, transport: link2.transport, minutes: 20, store: store2, time: { startMs: T0 + 30 * MINUTE, realStartMs: T0 + 30 * MINUTE, speed: 1 } });
  second.start();
  for (let m = 0; m < 20; m++) {
    later.advance(MINUTE);
    await settleStore(store2);
    for (const sent of link2.sent) link2.ack(sent.batch);
  }
  t.equal(second.epoch, epoch, 'same unit, same epoch');
  const firstSends = link2.sent.filter((s, i) => link2.sent.findIndex((o) => o.batch === s.batch) === i);
  t.same(firstSends.slice(0, unacked.length).map((s) => s.batch), unacked, 'the pending messages go first');
  const newSeqs = firstSends.slice(unacked.length).flatMap((s) => s.seqs);
  t.ok(newSeqs.length > 0 && newSeqs[0]! > lastSeq, 'new records continue after the last seq');
  t.ok(newSeqs.every((s, i) => i === 0 || s > newSeqs[i - 1]!), 'strictly rising');
  t.ok(Math.min(...firstSends.slice(unacked.length).map((s) => s.batch)) > Math.max(...unacked), 'batch numbers keep rising');
});

t.test('a crash (no clean stop) never reuses a seq: the next run starts after the lease', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'state.json');
  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const store = await StateStore.open(file);
  const crashed = await makeVehicle(t, { timers, transport: link.transport, minutes: 20, store });
  crashed.start();
  for (let m = 0; m < 20; m++) {
    timers.advance(MINUTE);
    await settleStore(store);
  }
  const used = Math.max(...link.sent.flatMap((s) => s.seqs));
  // no stop(): what is on disk is what the leases wrote
  const resumed = (await StateStore.open(file)).resume(VIN, 'unused');
  t.equal(resumed.epoch, crashed.epoch);
  t.ok(resumed.nextSeq > used, `restart at ${resumed.nextSeq} > last used ${used}`);
});

t.test('the same seed and start give the same messages, byte for byte', async (t) => {
  const run = async () => {
    const timers = manualTimers(T0);
    const link = fakeLink(timers);
    const vehicle = await makeVehicle(t, { timers, transport: link.transport, minutes: 60, offline: { perHour: 4, meanMinutes: 2 }, unitSwapsPerDay: 200 });
    vehicle.start();
    await settle();
    for (let m = 0; m < 70; m++) {
      timers.advance(MINUTE);
      await settle();
      for (const s of link.sent) link.ack(s.batch);
    }
    const firstSends = link.sent.filter((s, i) => link.sent.findIndex((o) => o.batch === s.batch) === i);
    return { payloads: firstSends.map((s) => s.payload), stats: vehicle.stats };
  };
  const a = await run();
  const b = await run();
  t.ok(a.payloads.length > 20);
  t.same(a.payloads, b.payloads);
  t.ok(a.stats.unitSwaps > 0 && a.stats.offlinePeriods > 0, 'swaps and coverage losses happened');
  t.same(a.stats.epochs, b.stats.epochs);
  t.equal(a.stats.bytesAcked, b.stats.bytesAcked);
});

t.test('a unit swap starts a new random epoch at seq 0', async (t) => {
  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const vehicle = await makeVehicle(t, { timers, transport: link.transport, minutes: 120, unitSwapsPerDay: 100 });
  vehicle.start();
  for (let m = 0; m < 120; m++) {
    timers.advance(MINUTE);
    await settle();
    for (const s of link.sent) link.ack(s.batch);
  }
  t.ok(vehicle.stats.epochs.length > 2);
  t.equal(new Set(vehicle.stats.epochs).size, vehicle.stats.epochs.length, 'epochs never repeat');
  t.ok(vehicle.stats.epochs.every((e) => /^[A-Za-z0-9-]{1,36}$/.test(e)), 'DESIGN 3.1 epoch syntax');
  const byEpoch = new Map<string, number[]>();
  for (const s of link.sent) byEpoch.set(s.epoch, [...(byEpoch.get(s.epoch) ?? []), ...s.seqs]);
  for (const [epoch, seqs] of byEpoch) {
    const unique = [...new Set(seqs)];
    t.ok(unique.every((s, i) => i === 0 || s > unique[i - 1]!), `seqs rise within ${epoch}`);
    if (epoch !== vehicle.stats.epochs[0]) t.equal(unique[0], 0, `epoch ${epoch} starts at seq 0`);
  }
});

t.test('rejections: non-retryable records are dropped, retryable ones sent again later', async (t) => {
  const timers = manualTimers(T0);
  const link = fakeLink(timers);
  const vehicle = await makeVehicle(t, { timers, transport: link.transport, minutes: 30 });
  vehicle.start();
  await settle();
  timers.advance(30 * MINUTE);
  const [a, b] = [...new Set(link.sent.map((s) => s.batch))];
  const sa = link.sent.find((s) => s.batch === a)!;
  const sb = link.sent.find((s) => s.batch === b)!;
  t.ok(sa.seqs.length >= 1 && sb.seqs.length >= 1);
  link.ack(a!, { accepted: sa.seqs.length - 1, rejected: [{ index: 0, seq: sa.seqs[0], code: 'INVALID_RECORD', message: 'x', retryable: false }] });
  link.ack(b!, { accepted: sb.seqs.length - 1, rejected: [{ index: 0, seq: sb.seqs[0], code: 'CLOCK_AHEAD', message: 'x', retryable: true }] });
  for (const s of link.sent) if (s.batch !== a && s.batch !== b) link.ack(s.batch);
  t.equal(vehicle.stats.recordsRejected, 1);
  t.equal(vehicle.stats.recordsRetried, 1);
  t.notOk(vehicle.drained, 'the retryable record is kept');
  timers.advance(2 * MINUTE);
  const retry = link.sent.find((s) => s.seqs.length === 1 && s.seqs[0] === sb.seqs[0] && s.batch !== b);
  t.ok(retry, 'sent again in a new message with the same seq');
  link.ack(retry!.batch);
  t.ok(vehicle.drained);
  t.equal(vehicle.stats.recordsAcked, vehicle.stats.recordsGenerated - 1);
});
