import path from 'node:path';
import { PROJECT_ROOT } from '../../src/shared/paths.js';
import { adminClient, mapLimit } from './admin-client.js';
import { loadCatalogTraffic, type CatalogTraffic } from './catalog-traffic.js';
import { fleetIccid, fleetVin } from './identity.js';
import { LatencyHistogram, type LatencySummary } from './latency-histogram.js';
import { createRng } from './prng.js';
import { StateStore } from './state-store.js';
import { realTimers, type Timers } from './timers.js';
import { mqttTransport, type Transport } from './transport.js';
import type { PROTOCOL_WINDOW } from './unacked-window.js';
import { formatTimestamp } from './usage-message.js';
import { simulatedStart, Vehicle, type SimulatedTime } from './vehicle.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export interface FleetOptions {
  vehicles: number;
  /** simulated minutes */
  minutes: number;
  seed: string | number;
  /** the service's HTTP API, e.g. http://127.0.0.1:3000 */
  apiUrl: string;
  /** the broker, e.g. mqtt://127.0.0.1:1883 */
  mqttUrl: string;
  /** admin bearer token */
  token: string;
  /** records per message, at most (default 50) */
  recordsPerMessage?: number;
  /** simulated time runs this many times faster than the real clock (default 1) */
  speed?: number;
  /** simulated start (default: the latest that keeps every record in the real past) */
  startMs?: number;
  /** the state file (seqs, epochs, unacked messages); null keeps it in memory (default null) */
  statePath?: string | null;
  /** default `<project>/sponsors` */
  catalogDir?: string;
  /** one VIN character naming the fleet, so fleets never share vehicles (default 'A') */
  fleetId?: string;
  qos?: 0 | 1;
  /** DESIGN 3.2 window; tests shorten the timeouts */
  window?: Partial<typeof PROTOCOL_WINDOW>;
  /** coverage losses per simulated hour and their mean length in simulated minutes (default none) */
  offline?: { perHour: number; meanMinutes: number };
  /** unit swaps per vehicle per simulated day (default 0) */
  unitSwapsPerDay?: number;
  /** subscribe to retained rules and controls, as a T-Box does (default true) */
  subscribeControls?: boolean;
  /** refuse new flows of blocked apps and count them (DESIGN 3.3; default true); false: send everything, as before */
  obeyControls?: boolean;
  /** how long to wait for the last acks after the simulated end, in real ms (default 120,000) */
  drainTimeoutMs?: number;
  /** vehicles starting (connecting) per real second (default 500) */
  connectRatePerSecond?: number;
  /** parallel admin API calls while enrolling (default 16) */
  enrolConcurrency?: number;
  transport?: Transport;
  timers?: Timers;
  onProgress?(progress: FleetProgress): void;
  /** default 1,000 ms */
  progressIntervalMs?: number;
  /** stops the run early; the summary covers what happened until then */
  signal?: AbortSignal;
}

export interface FleetProgress {
  phase: 'enrolling' | 'running' | 'draining' | 'done';
  vehicles: number;
  enrolled: number;
  connected: number;
  minutesDone: number;
  minutesTotal: number;
  recordsSent: number;
  recordsAcked: number;
  messagesResent: number;
  unacked: number;
  queued: number;
  elapsedMs: number;
}

export interface VehicleTotals {
  vin: string;
  epochs: string[];
  recordsAcked: number;
  /** Σ (up + down) of acked records: the ledger must hold exactly this for the VIN */
  bytesAcked: bigint;
  bytesAckedByApp: Record<string, bigint>;
  recordsAckedByApp: Record<string, number>;
  /** flows refused because their app was blocked (never sent, never in the ledger) */
  bytesHeldBackByApp: Record<string, bigint>;
  recordsHeldBackByApp: Record<string, number>;
}

export interface FleetSummary {
  vehicles: number;
  seed: string;
  minutes: number;
  speed: number;
  simulatedStart: string;
  elapsedMs: number;
  recordsGenerated: number;
  recordsSent: number;
  recordsAcked: number;
  recordsAccepted: number;
  recordsDuplicate: number;
  recordsRejected: number;
  recordsRetried: number;
  recordsResent: number;
  /** records formed but not acknowledged when the run ended (kept in the state file) */
  recordsPending: number;
  messagesSent: number;
  messagesResent: number;
  messagesAcked: number;
  lateAcks: number;
  acksPerSecond: number;
  recordsAckedPerSecond: number;
  ackLatencyMs: LatencySummary;
  connects: number;
  connectFailures: number;
  offlinePeriods: number;
  unitSwaps: number;
  controlsReceived: number;
  controlsApplied: number;
  rulesReceived: number;
  /** flows of blocked apps the vehicles refused, and the bytes they would have moved */
  recordsHeldBack: number;
  bytesHeldBack: bigint;
  /** vehicles whose messages were all acknowledged */
  drained: number;
  bytesAcked: bigint;
  perVehicle: VehicleTotals[];
}

/**
 * Runs a simulated fleet against a running service: enrols the vehicles through the admin API, starts
 * them (connection ramp), runs `minutes` of simulated time, waits for the last acks, stops, writes the
 * state file, and returns the totals — per vehicle to the byte, for exactly-once checks against the ledger.
 */
export async function runFleet(options: FleetOptions): Promise<FleetSummary> {
  const timers = options.timers ?? realTimers;
  const speed = options.speed ?? 1;
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number, got ${speed}`);
  if (!Number.isInteger(options.vehicles) || options.vehicles < 1) throw new RangeError(`vehicles must be a positive integer, got ${options.vehicles}`);
  if (!Number.isInteger(options.minutes) || options.minutes < 1) throw new RangeError(`minutes must be a positive integer, got ${options.minutes}`);
  const seed = String(options.seed);
  const fleetId = options.fleetId ?? 'A';
  const traffic: CatalogTraffic = await loadCatalogTraffic(options.catalogDir ?? path.join(PROJECT_ROOT, 'sponsors'));
  const store = await StateStore.open(options.statePath ?? null);
  const transport = options.transport ?? mqttTransport({ url: options.mqttUrl });
  const admin = adminClient(options.apiUrl, options.token);
  const began = timers.now();
  const progress = createProgressReporter(options, timers, began);

  // Activation a month before anything this run can send (records start at most a minute before the window).
  const earliest = options.startMs ?? began - options.minutes * MINUTE_MS;
  const activatedAt = formatTimestamp(Math.floor((earliest - 30 * DAY_MS) / DAY_MS) * DAY_MS);
  let enrolled = 0;
  progress.set({ phase: 'enrolling', enrolled: () => enrolled });
  const identities = await mapLimit(
    Array.from({ length: options.vehicles }, (_, i) => i),
    options.enrolConcurrency ?? 16,
    async (index) => {
      const vin = fleetVin(fleetId, index);
      const rng = createRng(`${seed}/${vin}/identity`);
      const { secret } = await admin.enrol({ vin, iccid: fleetIccid(fleetId, index), automaker: rng.pick(traffic.automakers), model: rng.pick(traffic.models), activatedAt });
      enrolled++;
      return { vin, secret };
    },
  );

  const realStartMs = timers.now();
  const startMs = options.startMs ?? simulatedStart(realStartMs, options.minutes, speed);
  const time: SimulatedTime = { startMs, realStartMs, speed };
  if (startMs + options.minutes * MINUTE_MS > realStartMs + (options.minutes * MINUTE_MS) / speed) {
    throw new RangeError('the simulated window would end after the real clock: records would be in the future (use an earlier start or a lower speed)');
  }
  const latency = new LatencyHistogram();
  const vehicles = identities.map(
    (identity) =>
      new Vehicle({
        identity,
        traffic,
        seed,
        store,
        transport,
        time,
        minutes: options.minutes,
        ...(options.recordsPerMessage !== undefined ? { recordsPerMessage: options.recordsPerMessage } : {}),
        ...(options.qos !== undefined ? { qos: options.qos } : {}),
        ...(options.window !== undefined ? { window: options.window } : {}),
        ...(options.offline !== undefined ? { offline: options.offline } : {}),
        ...(options.unitSwapsPerDay !== undefined ? { unitSwapsPerDay: options.unitSwapsPerDay } : {}),
        ...(options.subscribeControls !== undefined ? { subscribeControls: options.subscribeControls } : {}),
        ...(options.obeyControls !== undefined ? { obeyControls: options.obeyControls } : {}),
        latency,
        timers,
      }),
  );
  progress.set({ phase: 'running', vehicles });

  // Connection ramp: a fleet does not connect in one instant, and a broker should not be asked to.
  const rate = options.connectRatePerSecond ?? 500;
  const startTimers = vehicles.map((vehicle, i) => timers.setTimeout(() => vehicle.start(), Math.floor((i * 1000) / rate)));

  const simulatedRealMs = (options.minutes * MINUTE_MS) / speed;
  const drainTimeoutMs = options.drainTimeoutMs ?? 120_000;
  let aborted: () => void = () => undefined;
  const abortedPromise = new Promise<void>((resolve) => (aborted = resolve));
  options.signal?.addEventListener('abort', () => aborted(), { once: true });
  if (options.signal?.aborted) aborted();
  const draining = timers.setTimeout(() => progress.set({ phase: 'draining' }), simulatedRealMs);
  await Promise.race([Promise.all(vehicles.map((v, i) => v.drain(Math.floor((i * 1000) / rate) + simulatedRealMs + drainTimeoutMs))), abortedPromise]);
  timers.clearTimeout(draining);
  for (const timer of startTimers) timers.clearTimeout(timer);
  const endedMs = timers.now();
  const drainedCount = vehicles.filter((v) => v.finished && v.drained).length;
  const pendingRecords = vehicles.reduce((n, v) => n + v.pendingMessages().reduce((m, p) => m + p.records.length, 0), 0);
  await Promise.all(vehicles.map((v) => v.stop()));
  await store.flush();
  progress.set({ phase: 'done' });
  progress.stop();
  return summarise({ vehicles, seed, options, speed, startMs, elapsedMs: endedMs - realStartMs, latency, drained: drainedCount, pendingRecords });
}

function summarise(input: {
  vehicles: Vehicle[];
  seed: string;
  options: FleetOptions;
  speed: number;
  startMs: number;
  elapsedMs: number;
  latency: LatencyHistogram;
  drained: number;
  pendingRecords: number;
}): FleetSummary {
  const { vehicles } = input;
  const sum = (key: keyof Vehicle['stats']) => vehicles.reduce((n, v) => n + (v.stats[key] as number), 0);
  const seconds = Math.max(0.001, input.elapsedMs / 1000);
  const perVehicle: VehicleTotals[] = vehicles.map((v) => ({
    vin: v.vin,
    epochs: [...v.stats.epochs],
    recordsAcked: v.stats.recordsAcked,
    bytesAcked: v.stats.bytesAcked,
    bytesAckedByApp: Object.fromEntries([...v.stats.bytesAckedByApp].sort(([a], [b]) => a.localeCompare(b))),
    recordsAckedByApp: Object.fromEntries([...v.stats.recordsAckedByApp].sort(([a], [b]) => a.localeCompare(b))),
    bytesHeldBackByApp: Object.fromEntries([...v.stats.bytesHeldBackByApp].sort(([a], [b]) => a.localeCompare(b))),
    recordsHeldBackByApp: Object.fromEntries([...v.stats.recordsHeldBackByApp].sort(([a], [b]) => a.localeCompare(b))),
  }));
  return {
    vehicles: vehicles.length,
    seed: input.seed,
    minutes: input.options.minutes,
    speed: input.speed,
    simulatedStart: new Date(input.startMs).toISOString(),
    elapsedMs: input.elapsedMs,
    recordsGenerated: sum('recordsGenerated'),
    recordsSent: sum('recordsSent'),
    recordsAcked: sum('recordsAcked'),
    recordsAccepted: sum('recordsAccepted'),
    recordsDuplicate: sum('recordsDuplicate'),
    recordsRejected: sum('recordsRejected'),
    recordsRetried: sum('recordsRetried'),
    recordsResent: sum('recordsResent'),
    recordsPending: input.pendingRecords,
    messagesSent: sum('messagesSent'),
    messagesResent: sum('messagesResent'),
    messagesAcked: sum('messagesAcked'),
    lateAcks: sum('lateAcks'),
    acksPerSecond: Math.round((sum('messagesAcked') / seconds) * 10) / 10,
    recordsAckedPerSecond: Math.round((sum('recordsAcked') / seconds) * 10) / 10,
    ackLatencyMs: input.latency.summary(),
    connects: sum('connects'),
    connectFailures: sum('connectFailures'),
    offlinePeriods: sum('offlinePeriods'),
    unitSwaps: sum('unitSwaps'),
    controlsReceived: sum('controlsReceived'),
    controlsApplied: sum('controlsApplied'),
    rulesReceived: sum('rulesReceived'),
    recordsHeldBack: sum('recordsHeldBack'),
    bytesHeldBack: vehicles.reduce((n, v) => n + v.stats.bytesHeldBack, 0n),
    drained: input.drained,
    bytesAcked: perVehicle.reduce((n, v) => n + v.bytesAcked, 0n),
    perVehicle,
  };
}

/** Calls `onProgress` every interval with a fresh snapshot, and once more at the end. */
function createProgressReporter(options: FleetOptions, timers: Timers, began: number) {
  let phase: FleetProgress['phase'] = 'enrolling';
  let vehicles: Vehicle[] = [];
  let enrolled: () => number = () => 0;
  const snapshot = (): FleetProgress => ({
    phase,
    vehicles: options.vehicles,
    enrolled: phase === 'enrolling' ? enrolled() : options.vehicles,
    connected: vehicles.filter((v) => v.connected).length,
    minutesDone: vehicles.reduce((n, v) => n + v.minutesDone, 0),
    minutesTotal: options.vehicles * options.minutes,
    recordsSent: vehicles.reduce((n, v) => n + v.stats.recordsSent, 0),
    recordsAcked: vehicles.reduce((n, v) => n + v.stats.recordsAcked, 0),
    messagesResent: vehicles.reduce((n, v) => n + v.stats.messagesResent, 0),
    unacked: vehicles.reduce((n, v) => n + v.unacked, 0),
    queued: vehicles.reduce((n, v) => n + v.queued, 0),
    elapsedMs: timers.now() - began,
  });
  let timer: unknown = null;
  const tick = () => {
    options.onProgress?.(snapshot());
    timer = timers.setTimeout(tick, options.progressIntervalMs ?? 1_000);
  };
  if (options.onProgress) timer = timers.setTimeout(tick, options.progressIntervalMs ?? 1_000);
  return {
    set(update: { phase?: FleetProgress['phase']; vehicles?: Vehicle[]; enrolled?: () => number }) {
      if (update.phase) phase = update.phase;
      if (update.vehicles) vehicles = update.vehicles;
      if (update.enrolled) enrolled = update.enrolled;
    },
    stop() {
      if (timer !== null) timers.clearTimeout(timer);
      options.onProgress?.(snapshot());
    },
  };
}
