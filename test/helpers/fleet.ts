import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createApiClient } from '../../simulators/shared/api/client.js';
import { makeIccid, makeVin } from './fixtures.js';

/**
 * A simulated T-Box fleet that behaves as DESIGN 3.2 asks, for tests that check exactly-once billing end to
 * end (createFleet), with its messages built up front from a seed (buildUsageMessages), so a test knows
 * exactly what was sent (sentTotals) and a failing run can be replayed.
 */

/** mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** An instant as RFC 3339 with the +08:00 offset (the demo catalog's billing timezone, Asia/Shanghai). */
export function shanghai(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().replace('Z', '+08:00');
}

export interface UsageRecordBody {
  start: string;
  end: string;
  up: number;
  down: number;
  [field: string]: unknown;
}

export interface FleetMessage {
  batch: number;
  text: string;
  records: readonly (UsageRecordBody & { seq: number })[];
  bytes: bigint;
}

/**
 * `count` messages of `recordsPerMessage` records each, seqs rising from `firstSeq` with gaps of 1–3
 * (gaps are allowed, DESIGN 3.1); `record(seq)` gives each record's body.
 */
export function buildUsageMessages(options: {
  count: number;
  recordsPerMessage: number;
  firstSeq: number;
  firstBatch?: number;
  epoch?: string;
  random: () => number;
  record(seq: number): UsageRecordBody;
}): FleetMessage[] {
  let seq = options.firstSeq;
  const messages: FleetMessage[] = [];
  for (let m = 0; m < options.count; m++) {
    const batch = (options.firstBatch ?? 1) + m;
    let bytes = 0n;
    const records = Array.from({ length: options.recordsPerMessage }, () => {
      seq += 1 + Math.floor(options.random() * 3);
      const body = options.record(seq);
      bytes += BigInt(body.up) + BigInt(body.down);
      return { seq, ...body };
    });
    const message = { v: 1, batch, ...(options.epoch ? { epoch: options.epoch } : {}), records };
    messages.push({ batch, text: JSON.stringify(message), records, bytes });
  }
  return messages;
}

export interface FleetVehicle {
  vin: string;
  secret: string;
  client: MqttClient | null;
  /** not yet sent */
  queue: FleetMessage[];
  /** sent, no ack yet: batch → message and when it was last sent */
  unacked: Map<number, { message: FleetMessage; sentAt: number }>;
  /** acked, in the order of their acks */
  acked: FleetMessage[];
}

export interface FleetSpec {
  vin: string;
  secret: string;
  messages: readonly FleetMessage[];
}

export interface FleetOptions {
  /** DESIGN 3.2: 16 */
  maxUnacked?: number;
  /** a T-Box waits 60 s; tests have no time for that (the resend is a duplicate, never a failure) */
  resendAfterMs?: number;
  /** true = drop this ack (DESIGN 3.2: acks may be lost; the message is resent and acked as duplicates) */
  dropAck?: () => boolean;
  /**
   * mqtt.js options of every vehicle. With `reconnectPeriod` above 0 a vehicle reconnects by itself after
   * the service drops it, and resends everything unacked then, as after `connect`.
   */
  clientOptions?: IClientOptions;
}

export interface FleetStats {
  /** messages acked (the first ack of each) */
  ackedMessages: number;
  /** records in those messages (accepted + duplicates) */
  ackedRecords: number;
  /** records acked as duplicates: resends of messages already committed */
  duplicateRecords: number;
  /** every ack that reached the fleet, second acks of resent messages too */
  acksReceived: number;
  /** every publish, resends too */
  publishes: number;
  /** reconnects mqtt.js made by itself (clientOptions.reconnectPeriod) */
  reconnects: number;
}

export interface Fleet {
  vehicles: readonly FleetVehicle[];
  stats: FleetStats;
  /** acks that did not cover their message as expected, non-JSON acks and non-retryable errors */
  problems: string[];
  /** retryable error acks (INTERNAL_ERROR): the message stays unacked and is resent; valid messages should never get one */
  retryableErrors: string[];
  /** connects every vehicle (username = clientId = VIN), subscribes to its ack topic, sends what is due */
  connect(url: string): Promise<void>;
  /** drops every connection (a crash of the fleet's side, or before a broker restart) */
  disconnect(): void;
  unackedCount(): number;
  done(): boolean;
  close(): void;
}

/**
 * The one simulated T-Box fleet of the tests (crash-safety and postgres-restart in test/e2e, the Mosquitto
 * interop test): each vehicle publishes its messages (QoS 1) on `tbox/{vin}/usage`, keeps each until its ack
 * on `tbox/{vin}/ack`, has at most `maxUnacked` unacked, resends what stays unacked after `resendAfterMs`,
 * and everything unacked (oldest first) after each (re)connect. (simulators/fleet is the product's simulator,
 * with its own traffic model and state file; test/integration/fleet-exactly-once runs that one.)
 */
export function createFleet(specs: readonly FleetSpec[], options: FleetOptions = {}): Fleet {
  const maxUnacked = options.maxUnacked ?? 16;
  const resendAfterMs = options.resendAfterMs ?? 3_000;
  const vehicles: FleetVehicle[] = specs.map((spec) => ({ vin: spec.vin, secret: spec.secret, client: null, queue: [...spec.messages], unacked: new Map(), acked: [] }));
  const stats: FleetStats = { ackedMessages: 0, ackedRecords: 0, duplicateRecords: 0, acksReceived: 0, publishes: 0, reconnects: 0 };
  const problems: string[] = [];
  const retryableErrors: string[] = [];

  function publish(vehicle: FleetVehicle, message: FleetMessage): void {
    vehicle.unacked.set(message.batch, { message, sentAt: Date.now() });
    stats.publishes++;
    // A publish lost with its connection is resent after the reconnect (or by the timer): not news.
    vehicle.client?.publish(`tbox/${vehicle.vin}/usage`, message.text, { qos: 1 }, () => undefined);
  }
  function pump(vehicle: FleetVehicle): void {
    while (vehicle.client?.connected && vehicle.unacked.size < maxUnacked && vehicle.queue.length > 0) publish(vehicle, vehicle.queue.shift()!);
  }
  /** After a (re)connect: everything unacked again, oldest first, then new messages. */
  function resendAll(vehicle: FleetVehicle): void {
    for (const { message } of [...vehicle.unacked.values()].sort((a, b) => a.message.batch - b.message.batch)) publish(vehicle, message);
    pump(vehicle);
  }
  function onAck(vehicle: FleetVehicle, payload: Buffer): void {
    stats.acksReceived++;
    let ack: { batch?: number; accepted?: number; duplicates?: number; rejected?: unknown[]; error?: { code: string; retryable: boolean } };
    try {
      ack = JSON.parse(payload.toString());
    } catch {
      problems.push(`${vehicle.vin}: an ack that is not JSON`);
      return;
    }
    if (ack.error) {
      // retryable (INTERNAL_ERROR): the message stays unacked and the resend timer sends it again
      (ack.error.retryable ? retryableErrors : problems).push(`${vehicle.vin} batch ${ack.batch}: ${JSON.stringify(ack)}`);
      return;
    }
    const pending = ack.batch === undefined ? undefined : vehicle.unacked.get(ack.batch);
    if (!pending) return; // a second ack of a message resent meanwhile
    if (options.dropAck?.()) return; // lost: the message stays unacked and is resent
    // DESIGN 3.2: the ack covers every record; the fleet's records are all valid, so none is rejected.
    if (ack.accepted === undefined || ack.duplicates === undefined || ack.accepted + ack.duplicates !== pending.message.records.length || ack.rejected?.length !== 0) {
      problems.push(`${vehicle.vin} batch ${ack.batch}: ${JSON.stringify(ack)}`);
    }
    stats.duplicateRecords += ack.duplicates ?? 0;
    stats.ackedRecords += pending.message.records.length;
    stats.ackedMessages++;
    vehicle.unacked.delete(pending.message.batch);
    vehicle.acked.push(pending.message);
    pump(vehicle);
  }

  const resender = setInterval(() => {
    const now = Date.now();
    for (const vehicle of vehicles) {
      if (!vehicle.client?.connected) continue;
      for (const { message, sentAt } of [...vehicle.unacked.values()]) if (now - sentAt > resendAfterMs) publish(vehicle, message);
    }
  }, Math.max(100, Math.floor(resendAfterMs / 6)));

  const fleet: Fleet = {
    vehicles,
    stats,
    problems,
    retryableErrors,
    async connect(url) {
      await Promise.all(
        vehicles.map(async (vehicle) => {
          const client = await mqtt.connectAsync(url, {
            clientId: vehicle.vin,
            username: vehicle.vin,
            password: vehicle.secret,
            reconnectPeriod: 0,
            connectTimeout: 10_000,
            protocolVersion: 4,
            ...options.clientOptions,
          });
          client.on('error', () => undefined); // brokers, services and databases are killed under it on purpose
          client.on('message', (topic, payload) => topic === `tbox/${vehicle.vin}/ack` && onAck(vehicle, payload));
          await client.subscribeAsync(`tbox/${vehicle.vin}/ack`, { qos: 1 });
          // mqtt.js's own reconnects (reconnectPeriod > 0) restore the subscription; the vehicle resends.
          client.on('connect', () => {
            stats.reconnects++;
            resendAll(vehicle);
          });
          vehicle.client = client;
          resendAll(vehicle);
        }),
      );
    },
    disconnect() {
      for (const vehicle of vehicles) {
        vehicle.client?.end(true);
        vehicle.client = null;
      }
    },
    unackedCount: () => vehicles.reduce((n, v) => n + v.unacked.size, 0),
    done: () => vehicles.every((v) => v.queue.length === 0 && v.unacked.size === 0),
    close() {
      clearInterval(resender);
      fleet.disconnect();
    },
  };
  return fleet;
}

/** What a fleet will send, for test/helpers/ledger-checks: records, `${vin}/${seq}` keys and Σ(up + down). */
export function sentTotals(specs: readonly FleetSpec[]): { records: number; bytes: bigint; keys: Set<string> } {
  const totals = { records: 0, bytes: 0n, keys: new Set<string>() };
  for (const spec of specs) {
    for (const message of spec.messages) {
      totals.records += message.records.length;
      totals.bytes += message.bytes;
      for (const record of message.records) totals.keys.add(`${spec.vin}/${record.seq}`);
    }
  }
  return totals;
}

/** Registers a vehicle through a service process's admin API (POST /v1/vehicles, the generated client); returns its device secret. */
export async function registerOverHttp(httpUrl: string, adminToken: string, vehicle: { vin: string; iccid: string; model: string; activatedAt: string }): Promise<{ vin: string; iccid: string; deviceSecret: string }> {
  const { data, error, response } = await createApiClient(httpUrl, { token: adminToken }).POST('/v1/vehicles', { body: { automaker: 'oem-acme', ...vehicle } });
  if (!data) throw new Error(`register ${vehicle.vin}: ${response.status} ${JSON.stringify(error)}`);
  return { vin: vehicle.vin, iccid: vehicle.iccid, deviceSecret: data.deviceSecret };
}

/**
 * The e2e tests' fleet: `vehicles` cars registered through the admin API (VINs and ICCIDs from `firstNumber`,
 * models S1 and A7 alternating, activated 30 days before `baseMs`), each with `messages` messages of
 * `recordsPerMessage` records drawn from `random` — navigation (capped), music (sponsored on A7), hotspot and
 * unrecognised traffic (overage) — starting `hoursBefore` hours before `baseMs`, so always in the past.
 */
export async function registerMixedFleet(options: {
  httpUrl: string;
  adminToken: string;
  firstNumber: number;
  vehicles: number;
  messages: number;
  recordsPerMessage: number;
  baseMs: number;
  hoursBefore: number;
  random: () => number;
}): Promise<FleetSpec[]> {
  const { random, baseMs } = options;
  const randomInt = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const flows: Array<Partial<UsageRecordBody>> = [{ host: 'tile.amap.com', port: 443 }, { host: 'u.y.qq.com', port: 443 }, { iface: 'hotspot' }, { ip: '192.0.2.200' }];
  const specs: FleetSpec[] = [];
  for (let v = 0; v < options.vehicles; v++) {
    const n = options.firstNumber + v;
    const vehicle = { vin: makeVin(n), iccid: makeIccid(n), model: v % 2 ? 'A7' : 'S1', activatedAt: shanghai(baseMs - 30 * 86_400_000) };
    const { deviceSecret } = await registerOverHttp(options.httpUrl, options.adminToken, vehicle);
    const messages = buildUsageMessages({
      count: options.messages,
      recordsPerMessage: options.recordsPerMessage,
      firstSeq: randomInt(0, 1000),
      random,
      record: (seq) => {
        const start = baseMs - options.hoursBefore * 3_600_000 + seq * 1000;
        const flow = flows[randomInt(0, 3)];
        return { start: shanghai(start), end: shanghai(start + 900), up: randomInt(0, 40_000), down: randomInt(0, 400_000), proto: 'tcp', ...flow };
      },
    });
    specs.push({ vin: vehicle.vin, secret: deviceSecret, messages });
  }
  return specs;
}

/** Polls `probe` every 10 ms; a bound that turns a hang into a message — it asserts nothing about speed. */
export async function waitFor(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
