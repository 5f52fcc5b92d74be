import mqtt from 'mqtt';
import path from 'node:path';
import { ackTopic, controlTopic, parseControlTopic, rulesTopic } from '../src/mqtt/topics.js';
import { PROJECT_ROOT } from '../src/shared/paths.js';
import {
  buildUsagePayload,
  createRng,
  DevicePolicy,
  LatencyHistogram,
  loadCatalogTraffic,
  mapLimit,
  mqttTransport,
  parseAck,
  TrafficModel,
  type DeviceConnection,
  type Flow,
  type SimRecord,
} from '../simulators/fleet/index.js';
import { usageTopic } from '../src/mqtt/topics.js';

/**
 * The benchmark's load generator, a child process of bench/run.ts (IPC commands in, results out), so the
 * service, PostgreSQL and the load each run in their own process. It publishes the fleet simulator's
 * messages (its traffic mix and message builder) with fresh seqs, 50 records each, one MQTT connection per
 * vehicle, at most 16 unacked per vehicle (DESIGN 3.2), and times publish → ack.
 */

interface LoadVehicle {
  vin: string;
  epoch: string;
  nextSeq: number;
  nextBatch: number;
  conn: DeviceConnection;
  /** batch → publish time (performance.now) and record count; `flood` for the outage phase's messages */
  inflight: Map<number, { sentAt: number; records: number; flood?: boolean }>;
  templateOffset: number;
  /** the vehicle's rules and controls (DESIGN 3.3, 3.4): flows of a blocked app are skipped, and counted */
  policy: DevicePolicy;
}

interface Phase {
  latency: LatencyHistogram;
  /** acks of messages sent at or after this instant count */
  measureFrom: number;
  measureUntil: number;
  ackedRecords: number;
  ackedMessages: number;
  onAck?(vehicle: LoadVehicle): void;
}

const RECORDS_PER_MESSAGE = 50;
let mqttUrl = '';
let templates: Flow[] = [];
const vehicles: LoadVehicle[] = [];
const totals = { accepted: 0, duplicates: 0, rejected: 0, messageErrors: 0, recordsHeldBack: 0, bytesHeldBack: 0 };
/** Vehicles obey their controls (the fleet simulator's default); `init` with `obeyControls: false` sends everything, as before. */
let obeyControls = true;
let phase: Phase | null = null;
/** The outage phase (bench/outage.ts): messages built before the database stalls, published at once. */
const flood = { prepared: [] as Array<{ vehicle: LoadVehicle; batch: number; payload: string; records: number }>, offered: 0, acked: 0, accepted: 0, messageErrors: 0 };

/** Flows from the simulator's traffic model, kept relative to their minute, to stamp with the current time. */
async function buildTemplates(seed: string): Promise<void> {
  const traffic = await loadCatalogTraffic(path.join(PROJECT_ROOT, 'sponsors'));
  const out: Flow[] = [];
  for (let v = 0; out.length < 5_000; v++) {
    const model = new TrafficModel(traffic, createRng(`${seed}/bench-${v}`).fork('traffic'));
    for (let m = 0; m < 180 && out.length < 5_000; m++) {
      for (const flow of model.nextMinute(m * 60_000)) {
        const windowStart = m * 60_000;
        out.push({ ...flow, startMs: Math.max(flow.startMs, flow.endMs - 60_000) - windowStart, endMs: flow.endMs - windowStart });
      }
    }
  }
  templates = out;
}

function nextPayload(vehicle: LoadVehicle, recordsPerMessage = RECORDS_PER_MESSAGE): { batch: number; payload: string; records: number } {
  // Records of the last two minutes: never in the future, always after the activation a month ago.
  const base = Date.now() - 60_000;
  const records: SimRecord[] = [];
  // A blocked app's flows are skipped (counted as held back) and the message is filled from the next
  // templates, so every message still has `recordsPerMessage` records; bounded in case all were blocked.
  for (let tries = 0; records.length < recordsPerMessage && tries < recordsPerMessage + templates.length; tries++) {
    const t = templates[vehicle.templateOffset++ % templates.length]!;
    if (obeyControls && !vehicle.policy.admit(t).allowed) {
      totals.recordsHeldBack++;
      totals.bytesHeldBack += t.up + t.down;
      continue;
    }
    records.push({ ...t, seq: vehicle.nextSeq++, startMs: base + t.startMs, endMs: base + t.endMs });
  }
  const batch = vehicle.nextBatch++;
  return { batch, payload: buildUsagePayload({ batch, epoch: vehicle.epoch, records }), records: records.length };
}

function send(vehicle: LoadVehicle): void {
  const { batch, payload, records } = nextPayload(vehicle);
  vehicle.inflight.set(batch, { sentAt: performance.now(), records });
  vehicle.conn.publish(usageTopic(vehicle.vin), payload, 1);
}

function onMessage(vehicle: LoadVehicle, topic: string, payload: Buffer): void {
  if (topic === ackTopic(vehicle.vin)) return onAck(vehicle, payload);
  if (topic === rulesTopic(vehicle.vin)) return void vehicle.policy.applyRules(payload);
  const control = parseControlTopic(topic);
  if (control !== null) vehicle.policy.applyControl(control.app, payload);
}

function onAck(vehicle: LoadVehicle, payload: Buffer): void {
  const ack = parseAck(payload);
  if (!ack || typeof ack.batch !== 'number') return;
  const sent = vehicle.inflight.get(ack.batch);
  if (!sent) return;
  vehicle.inflight.delete(ack.batch);
  if (sent.flood) {
    flood.acked++;
    flood.accepted += ack.accepted ?? 0;
    if (ack.error) flood.messageErrors++;
  }
  if (ack.error) totals.messageErrors++;
  totals.accepted += ack.accepted ?? 0;
  totals.duplicates += ack.duplicates ?? 0;
  totals.rejected += ack.rejected?.length ?? 0;
  const now = performance.now();
  if (phase && sent.sentAt >= phase.measureFrom && now <= phase.measureUntil) {
    phase.latency.record(now - sent.sentAt);
    phase.ackedRecords += ack.accepted ?? 0;
    phase.ackedMessages++;
  }
  phase?.onAck?.(vehicle);
}

async function connect(list: Array<{ vin: string; secret: string }>, concurrency: number, keepaliveSeconds?: number) {
  const transport = mqttTransport({ url: mqttUrl, connectTimeoutMs: 30_000, ...(keepaliveSeconds ? { keepaliveSeconds } : {}) });
  const started = performance.now();
  let failed = 0;
  const seedRng = createRng(`bench-epochs/${Date.now()}`);
  await mapLimit(list, concurrency, async ({ vin, secret }) => {
    const vehicle: LoadVehicle = {
      vin,
      epoch: `b${Math.floor(seedRng.float() * 2 ** 32).toString(36)}`,
      nextSeq: 0,
      nextBatch: 1,
      conn: null as unknown as DeviceConnection,
      inflight: new Map(),
      templateOffset: Math.floor(seedRng.float() * templates.length),
      policy: new DevicePolicy(),
    };
    const topics = obeyControls ? [ackTopic(vin), controlTopic(vin, '+'), rulesTopic(vin)] : [ackTopic(vin)];
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        vehicle.conn = await transport.connect({ vin, secret }, topics, {
          message: (topic, payload) => onMessage(vehicle, topic, payload),
          closed: () => undefined,
        });
        vehicles.push(vehicle);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
    failed++;
  });
  return { connected: vehicles.length, failed, seconds: (performance.now() - started) / 1000 };
}

/** Waits until nothing is in flight (or the timeout), so phases do not overlap. */
async function quiesce(timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const inflight = vehicles.reduce((n, v) => n + v.inflight.size, 0);
    if (inflight === 0) return 0;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return vehicles.reduce((n, v) => n + v.inflight.size, 0);
}

/** Closed loop: every vehicle keeps `window` messages unacked, refilling on each ack. */
async function maxLoad(args: { vehicles: number; window: number; warmupMs: number; durationMs: number }) {
  const fleet = vehicles.slice(0, args.vehicles);
  const start = performance.now();
  const p: Phase = { latency: new LatencyHistogram(), measureFrom: start + args.warmupMs, measureUntil: start + args.warmupMs + args.durationMs, ackedRecords: 0, ackedMessages: 0 };
  let sending = true;
  p.onAck = (vehicle) => {
    if (sending && vehicle.inflight.size < args.window && fleet.includes(vehicle)) send(vehicle);
  };
  phase = p;
  const cpu0 = process.cpuUsage();
  for (const v of fleet) while (v.inflight.size < args.window) send(v);
  await new Promise((resolve) => setTimeout(resolve, args.warmupMs + args.durationMs));
  sending = false;
  const cpu = process.cpuUsage(cpu0);
  const left = await quiesce(60_000);
  phase = null;
  return { recordsPerSecond: p.ackedRecords / (args.durationMs / 1000), records: p.ackedRecords, messages: p.ackedMessages, latency: p.latency.summary(), generatorCpuSeconds: (cpu.user + cpu.system) / 1e6, leftInFlight: left };
}

/** Open loop: messages at a fixed rate, round-robin over vehicles with room in their window. */
async function fixedRate(args: { vehicles: number; recordsPerSecond: number; warmupMs: number; durationMs: number; window: number }) {
  const fleet = vehicles.slice(0, args.vehicles);
  const start = performance.now();
  const p: Phase = { latency: new LatencyHistogram(), measureFrom: start + args.warmupMs, measureUntil: Infinity, ackedRecords: 0, ackedMessages: 0 };
  phase = p;
  const messagesPerMs = args.recordsPerSecond / RECORDS_PER_MESSAGE / 1000;
  let sent = 0;
  let sentMeasured = 0;
  let blocked = 0;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const end = start + args.warmupMs + args.durationMs;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor((Math.min(now, end) - start) * messagesPerMs) - sent;
      for (let i = 0; i < due; i++) {
        let vehicle: LoadVehicle | null = null;
        for (let tries = 0; tries < fleet.length; tries++) {
          const candidate = fleet[next++ % fleet.length]!;
          if (candidate.inflight.size < args.window) {
            vehicle = candidate;
            break;
          }
        }
        sent++;
        if (!vehicle) {
          blocked++; // every vehicle at 16 unacked: the offered load is not being absorbed
          continue;
        }
        send(vehicle);
        if (now >= p.measureFrom) sentMeasured++;
      }
      if (now >= end) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const cpu = process.cpuUsage(cpu0);
  const left = await quiesce(60_000);
  phase = null;
  return {
    offeredRecordsPerSecond: args.recordsPerSecond,
    sentRecordsPerSecond: (sentMeasured * RECORDS_PER_MESSAGE) / (args.durationMs / 1000),
    ackedRecordsPerSecond: p.ackedRecords / (args.durationMs / 1000),
    blockedMessages: blocked,
    latency: p.latency.summary(),
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    leftInFlight: left,
  };
}

/** The scaling step: each of the first `vehicles` publishes one message, spread over `spreadMs`. */
async function onceEach(args: { vehicles: number; spreadMs: number; timeoutMs: number }) {
  const fleet = vehicles.slice(0, args.vehicles);
  const p: Phase = { latency: new LatencyHistogram(), measureFrom: 0, measureUntil: Infinity, ackedRecords: 0, ackedMessages: 0 };
  phase = p;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await new Promise<void>((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      const due = Math.min(fleet.length, Math.ceil(((performance.now() - started) / args.spreadMs) * fleet.length));
      while (i < due) send(fleet[i++]!);
      if (i >= fleet.length) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  const left = await quiesce(args.timeoutMs);
  const cpu = process.cpuUsage(cpu0);
  phase = null;
  return { seconds: (performance.now() - started) / 1000, acked: p.ackedMessages, latency: p.latency.summary(), leftInFlight: left, generatorCpuSeconds: (cpu.user + cpu.system) / 1e6, generatorRssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) };
}

/** The outage phase, before the stall: `messagesPerVehicle` messages for each of the first `vehicles`, built now. */
function prepareFlood(args: { vehicles: number; messagesPerVehicle: number; recordsPerMessage: number }) {
  const fleet = vehicles.slice(0, args.vehicles);
  flood.prepared = [];
  Object.assign(flood, { offered: 0, acked: 0, accepted: 0, messageErrors: 0 });
  let bytes = 0;
  // Round-robin, so that every vehicle has its first messages in flight before any has its last.
  for (let m = 0; m < args.messagesPerVehicle; m++) {
    for (const vehicle of fleet) {
      const { batch, payload, records } = nextPayload(vehicle, args.recordsPerMessage);
      flood.prepared.push({ vehicle, batch, payload, records });
      bytes += Buffer.byteLength(payload);
    }
  }
  return { vehicles: fleet.length, messages: flood.prepared.length, records: flood.prepared.reduce((n, m) => n + m.records, 0), bytes };
}

/** Publishes every prepared message at once (QoS 1), whatever the window: what the broker edge must hold back. */
async function floodPublish() {
  const started = performance.now();
  const list = flood.prepared;
  flood.prepared = [];
  for (let i = 0; i < list.length; i++) {
    const { vehicle, batch, payload, records } = list[i]!;
    vehicle.inflight.set(batch, { sentAt: performance.now(), records, flood: true });
    vehicle.conn.publish(usageTopic(vehicle.vin), payload, 1);
    flood.offered++;
    if (i % 1_000 === 999) await new Promise((resolve) => setImmediate(resolve)); // acks and socket writes meanwhile
  }
  return { offered: flood.offered, seconds: (performance.now() - started) / 1000, generatorRssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) };
}

/** Waits until every flood message is acked (or the timeout). */
async function floodAcked(args: { timeoutMs: number }) {
  const started = performance.now();
  while (flood.acked < flood.offered && performance.now() - started < args.timeoutMs) await new Promise((resolve) => setTimeout(resolve, 100));
  return { offered: flood.offered, acked: flood.acked, accepted: flood.accepted, messageErrors: flood.messageErrors, seconds: (performance.now() - started) / 1000 };
}

/** The broker alone: one publisher, one subscriber, QoS 1 both ways, the same 50-record messages. */
async function brokerRaw(args: { url: string; warmupMs: number; durationMs: number; window: number }) {
  const sub = await mqtt.connectAsync(args.url, { clientId: 'bench-sub', protocolVersion: 4, reconnectPeriod: 0 });
  const pub = await mqtt.connectAsync(args.url, { clientId: 'bench-pub', protocolVersion: 4, reconnectPeriod: 0 });
  await sub.subscribeAsync('bench/+/usage', { qos: 1 });
  // Real payloads, built beforehand: this measures the broker, not the builder.
  const fake: LoadVehicle = { vin: 'BENCH', epoch: 'raw', nextSeq: 0, nextBatch: 1, conn: null as unknown as DeviceConnection, inflight: new Map(), templateOffset: 0, policy: new DevicePolicy() };
  const payloads = Array.from({ length: 256 }, () => Buffer.from(nextPayload(fake).payload));
  let received = 0;
  let measuring = false;
  sub.on('message', () => {
    if (measuring) received++;
  });
  let stop = false;
  let inflight = 0;
  let k = 0;
  const pump = () => {
    while (!stop && inflight < args.window) {
      inflight++;
      pub.publish(`bench/${k % 64}/usage`, payloads[k++ % payloads.length]!, { qos: 1 }, () => {
        inflight--;
        pump();
      });
    }
  };
  pump();
  await new Promise((resolve) => setTimeout(resolve, args.warmupMs));
  measuring = true;
  const cpu0 = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, args.durationMs));
  measuring = false;
  stop = true;
  const cpu = process.cpuUsage(cpu0);
  await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
  return { messagesPerSecond: received / (args.durationMs / 1000), recordsPerSecond: (received * RECORDS_PER_MESSAGE) / (args.durationMs / 1000), payloadBytes: payloads[0]!.length, generatorCpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

type Command =
  | { cmd: 'init'; mqttUrl: string; seed: string; obeyControls?: boolean }
  | { cmd: 'connect'; vehicles: Array<{ vin: string; secret: string }>; concurrency: number; keepaliveSeconds?: number }
  | ({ cmd: 'maxLoad' } & Parameters<typeof maxLoad>[0])
  | ({ cmd: 'fixedRate' } & Parameters<typeof fixedRate>[0])
  | ({ cmd: 'onceEach' } & Parameters<typeof onceEach>[0])
  | ({ cmd: 'brokerRaw' } & Parameters<typeof brokerRaw>[0])
  | ({ cmd: 'prepareFlood' } & Parameters<typeof prepareFlood>[0])
  | { cmd: 'flood' }
  | ({ cmd: 'floodAcked' } & Parameters<typeof floodAcked>[0])
  | { cmd: 'totals' }
  | { cmd: 'disconnectAll' }
  | { cmd: 'close' };

async function handle(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'init':
      mqttUrl = command.mqttUrl;
      obeyControls = command.obeyControls ?? true;
      await buildTemplates(command.seed);
      return { templates: templates.length };
    case 'connect':
      return connect(command.vehicles, command.concurrency, command.keepaliveSeconds);
    case 'maxLoad':
      return maxLoad(command);
    case 'fixedRate':
      return fixedRate(command);
    case 'onceEach':
      return onceEach(command);
    case 'brokerRaw':
      return brokerRaw(command);
    case 'prepareFlood':
      return prepareFlood(command);
    case 'flood':
      return floodPublish();
    case 'floodAcked':
      return floodAcked(command);
    case 'totals':
      return { ...totals, vehicles: vehicles.length, seqs: vehicles.reduce((n, v) => n + v.nextSeq, 0) };
    case 'disconnectAll': {
      const closed = vehicles.splice(0);
      await Promise.all(closed.map((v) => v.conn.close().catch(() => undefined)));
      return { closed: closed.length };
    }
    case 'close':
      await Promise.all(vehicles.map((v) => v.conn.close().catch(() => undefined)));
      setImmediate(() => process.exit(0));
      return { closed: vehicles.length };
  }
}

if (!process.send) throw new Error('bench/load-generator.ts runs as a child of bench/run.ts (IPC)');
process.on('message', (message: { id: number; command: Command }) => {
  handle(message.command).then(
    (result) => process.send!({ id: message.id, ok: true, result }),
    (error: unknown) => process.send!({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
