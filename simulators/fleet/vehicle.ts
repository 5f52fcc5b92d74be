import { ackTopic, controlTopic, parseControlTopic, rulesTopic, usageTopic } from '../../src/mqtt/topics.js';
import type { CatalogTraffic } from './catalog-traffic.js';
import { DevicePolicy, type AppliedControl } from './device-policy.js';
import { LatencyHistogram } from './latency-histogram.js';
import { createRng, type Rng } from './prng.js';
import { SEQ_LEASE_BLOCK, type PendingMessage, type StateStore, type VehicleState } from './state-store.js';
import { realTimers, type Timers } from './timers.js';
import { TrafficModel, type Flow } from './traffic-model.js';
import type { DeviceConnection, DeviceIdentity, Transport } from './transport.js';
import { PROTOCOL_WINDOW, UnackedWindow, type InFlight } from './unacked-window.js';
import { buildUsagePayload, DEFAULT_OFFSET_MINUTES, parseAck, recordBytes, splitIntoMessages, type SimRecord, type UsageMessage } from './usage-message.js';

const MINUTE_MS = 60_000;

/**
 * Simulated time: `startMs` at real instant `realStartMs`, running `speed` times faster than the real clock.
 * The fleet picks `startMs` so the whole window ends no later than the real clock (see `simulatedStart`):
 * the service refuses records ending more than 5 minutes in its future (DESIGN 3.1, CLOCK_AHEAD).
 */
export interface SimulatedTime {
  startMs: number;
  realStartMs: number;
  speed: number;
}

export const simNow = (t: SimulatedTime, realMs: number) => t.startMs + (realMs - t.realStartMs) * t.speed;
export const realAt = (t: SimulatedTime, simMs: number) => t.realStartMs + (simMs - t.startMs) / t.speed;

/** The latest simulated start for which `minutes` at `speed` never run ahead of the real clock. */
export function simulatedStart(realStartMs: number, minutes: number, speed: number): number {
  return Math.floor(realStartMs - minutes * MINUTE_MS * Math.max(0, 1 - 1 / speed));
}

export interface VehicleOptions {
  identity: DeviceIdentity;
  traffic: CatalogTraffic;
  /** the fleet's seed: with the VIN and the simulated start it fixes every record this vehicle makes */
  seed: string;
  store: StateStore;
  transport: Transport;
  time: SimulatedTime;
  /** simulated minutes to generate; each is one report (DESIGN: T-Boxes report about once a minute) */
  minutes: number;
  /** records per message, at most (default 50) */
  recordsPerMessage?: number;
  qos?: 0 | 1;
  /** DESIGN 3.2 defaults: 16 unacked, 60 s, backoff to 10 min, ±20 % */
  window?: Partial<typeof PROTOCOL_WINDOW>;
  /** losses of coverage per simulated hour (default 0) and their mean length in simulated minutes (default 3) */
  offline?: { perHour: number; meanMinutes: number };
  /** unit swaps per simulated day (default 0): a new unit boots with a new random epoch and seq 0 */
  unitSwapsPerDay?: number;
  /** subscribe to the retained rules and controls too, like a real T-Box (default true) */
  subscribeControls?: boolean;
  /**
   * refuse new flows of an app whose control is `block`, classifying them with the rules received
   * (DESIGN 3.3, 3.4), and count what was held back (default true; needs `subscribeControls`)
   */
  obeyControls?: boolean;
  /** where the minute's flows come from (default: the catalog traffic model for this vehicle's seed) */
  trafficSource?: TrafficSource;
  /** ack latencies of the whole fleet go here */
  latency?: LatencyHistogram;
  timers?: Timers;
  /** UTC offset of the timestamps the unit writes (default +08:00) */
  offsetMinutes?: number;
}

/** The flows metered in one simulated minute (`TrafficModel` is one). */
export interface TrafficSource {
  nextMinute(windowStartMs: number): Flow[];
}

export interface VehicleStats {
  /** records formed and numbered (held-back flows are not: they never existed on the network) */
  recordsGenerated: number;
  messagesSent: number;
  messagesResent: number;
  messagesAcked: number;
  recordsSent: number;
  recordsResent: number;
  /** records the service acked as stored: accepted or duplicate (DESIGN 3.2), each counted once */
  recordsAcked: number;
  recordsAccepted: number;
  recordsDuplicate: number;
  /** non-retryable rejections: dropped, as the T-Box must */
  recordsRejected: number;
  /** retryable rejections (CLOCK_AHEAD, INTERNAL_ERROR): kept and sent again */
  recordsRetried: number;
  /** acks of a batch no longer unacked (the first ack already cleared it) */
  lateAcks: number;
  connects: number;
  connectFailures: number;
  offlinePeriods: number;
  unitSwaps: number;
  controlsReceived: number;
  /** controls whose rev was higher than the last applied for their app (or an empty payload clearing one) */
  controlsApplied: number;
  /** controls ignored: rev not higher than the last applied (retained copies, republishes), or unreadable */
  controlsIgnored: number;
  rulesReceived: number;
  /** flows refused because their app was blocked when they would have started (DESIGN 3.3) */
  recordsHeldBack: number;
  /** Σ (up + down) the refused flows would have moved */
  bytesHeldBack: bigint;
  /** the same per app, as the rules classify them */
  bytesHeldBackByApp: Map<string, bigint>;
  recordsHeldBackByApp: Map<string, number>;
  /** Σ (up + down) of the acked records: what the ledger must hold for this VIN, to the byte */
  bytesAcked: bigint;
  /** the same per app the catalog gives the records */
  bytesAckedByApp: Map<string, bigint>;
  recordsAckedByApp: Map<string, number>;
  /** every epoch this vehicle used, oldest first */
  epochs: string[];
}

/**
 * One simulated T-Box (DESIGN 3): its traffic (deterministic for the seed), its seq counter and epoch
 * (kept in the state store), a window of at most 16 unacknowledged messages resent on a timer with
 * backoff and after every reconnect, coverage losses, unit swaps. It runs on injected timers and an
 * injected transport, so a test can drive it in-process with neither MQTT nor waiting.
 */
export class Vehicle {
  readonly vin: string;
  readonly stats: VehicleStats;
  private readonly traffic: TrafficSource;
  private readonly policy = new DevicePolicy();
  private readonly obeying: boolean;
  private readonly timers: Timers;
  private readonly window: UnackedWindow;
  private readonly jitterRng: Rng;
  private readonly offlineRng: Rng;
  private readonly swapRng: Rng;
  private readonly epochRng: Rng;
  private readonly latency: LatencyHistogram;
  private readonly recordsPerMessage: number;
  private readonly qos: 0 | 1;
  private readonly offsetMinutes: number;
  private readonly phaseMs: number;
  private readonly state: VehicleState;
  /** formed, not yet sent: kept in order, sent as the window frees up */
  private readonly backlog: UsageMessage[] = [];
  /** records rejected as retryable, waiting before they are sent again */
  private readonly retrying = new Set<UsageMessage>();
  private connection: DeviceConnection | null = null;
  private generation = 0;
  private connecting = false;
  private reconnectFailures = 0;
  private step = 0;
  private offlineUntilSimMs = -Infinity;
  private started = false;
  private stopped = false;
  private pumping = false;
  /** seqs below this are leased on disk for the current epoch: only those may be sent */
  private leaseOnDisk: number;
  private leaseWrite: Promise<void> | null = null;
  private stepTimer: unknown = null;
  private resendTimer: unknown = null;
  private reconnectTimer: unknown = null;
  private readonly otherTimers = new Set<unknown>();
  private readonly drainWaiters: Array<() => void> = [];

  constructor(private readonly options: VehicleOptions) {
    this.vin = options.identity.vin;
    this.timers = options.timers ?? realTimers;
    const root = createRng(`${options.seed}/${this.vin}`);
    // Forked either way, so every other stream stays the same whichever source is used.
    const trafficRng = root.fork('traffic');
    this.traffic = options.trafficSource ?? new TrafficModel(options.traffic, trafficRng);
    this.obeying = options.obeyControls !== false && options.subscribeControls !== false;
    this.jitterRng = root.fork('jitter');
    this.offlineRng = root.fork('offline');
    this.swapRng = root.fork('swap');
    this.epochRng = root.fork(`epoch/${options.time.startMs}`);
    this.phaseMs = root.fork('phase').int(0, MINUTE_MS - 1);
    this.window = new UnackedWindow({ ...PROTOCOL_WINDOW, ...options.window, rng: this.jitterRng });
    this.latency = options.latency ?? new LatencyHistogram();
    this.recordsPerMessage = options.recordsPerMessage ?? 50;
    this.qos = options.qos ?? 1;
    this.offsetMinutes = options.offsetMinutes ?? DEFAULT_OFFSET_MINUTES;
    this.state = options.store.resume(this.vin, this.newEpoch());
    // A resumed state's lease was read from disk; a fresh one has none yet.
    this.leaseOnDisk = this.state.nextSeq;
    // A restart resends what the last run left unacknowledged, before anything new.
    this.backlog.push(...this.state.pending);
    this.state.pending = [];
    this.stats = {
      recordsGenerated: 0,
      messagesSent: 0,
      messagesResent: 0,
      messagesAcked: 0,
      recordsSent: 0,
      recordsResent: 0,
      recordsAcked: 0,
      recordsAccepted: 0,
      recordsDuplicate: 0,
      recordsRejected: 0,
      recordsRetried: 0,
      lateAcks: 0,
      connects: 0,
      connectFailures: 0,
      offlinePeriods: 0,
      unitSwaps: 0,
      controlsReceived: 0,
      controlsApplied: 0,
      controlsIgnored: 0,
      rulesReceived: 0,
      recordsHeldBack: 0,
      bytesHeldBack: 0n,
      bytesHeldBackByApp: new Map(),
      recordsHeldBackByApp: new Map(),
      bytesAcked: 0n,
      bytesAckedByApp: new Map(),
      recordsAckedByApp: new Map(),
      epochs: [this.state.epoch],
    };
  }

  get epoch(): string {
    return this.state.epoch;
  }

  get unacked(): number {
    return this.window.size;
  }

  get queued(): number {
    return this.backlog.length;
  }

  get connected(): boolean {
    return this.connection !== null;
  }

  /** The last control applied for `app` (DESIGN 3.3), undefined when none arrived: allowed. */
  control(app: string): AppliedControl | undefined {
    return this.policy.control(app);
  }

  /** The catalog version of the rules received, null before any (DESIGN 3.4). */
  get rulesVersion(): string | null {
    return this.policy.catalogVersion;
  }

  /** simulated minutes generated so far */
  get minutesDone(): number {
    return this.step;
  }

  /** All simulated minutes generated. */
  get finished(): boolean {
    return this.step >= this.options.minutes;
  }

  /** Nothing left to send or to be acknowledged. */
  get drained(): boolean {
    return this.backlog.length === 0 && this.window.size === 0 && this.retrying.size === 0;
  }

  /** Connects and starts the minute clock. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.scheduleStep();
    void this.connect();
  }

  /** Resolves true once finished and drained, false when `timeoutMs` (real) passes first. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.finished && this.drained) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.otherTimers.delete(timer);
        resolve(false);
      }, timeoutMs);
      this.otherTimers.add(timer);
      this.drainWaiters.push(() => {
        this.timers.clearTimeout(timer);
        this.otherTimers.delete(timer);
        resolve(true);
      });
    });
  }

  /** Stops everything, closes the link and leaves what is unacknowledged in the state for the next run. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of [this.stepTimer, this.resendTimer, this.reconnectTimer, ...this.otherTimers]) if (timer !== null) this.timers.clearTimeout(timer);
    this.otherTimers.clear();
    const connection = this.connection;
    this.connection = null;
    this.generation++;
    await connection?.close().catch(() => undefined);
    // A clean stop: every seq below nextSeq is acked or pending, so the next run continues without a gap.
    this.options.store.set(this.vin, { ...this.state, seqLease: this.state.nextSeq, pending: this.pendingMessages() });
  }

  /** Messages formed and not yet acknowledged, oldest first. */
  pendingMessages(): PendingMessage[] {
    return [...this.window.entries().map((e) => e.message), ...this.retrying, ...this.backlog].map((m) => ({ batch: m.batch, epoch: m.epoch, records: [...m.records] }));
  }

  // ---- the minute clock ------------------------------------------------------------------------

  private windowEnd(step: number): number {
    // Window k ends at start − phase + k minutes: never after the simulated end, so never in the future.
    return this.options.time.startMs - this.phaseMs + step * MINUTE_MS;
  }

  private scheduleStep(): void {
    if (this.stopped) return;
    if (this.finished) return this.checkDrained();
    const dueReal = realAt(this.options.time, this.windowEnd(this.step + 1));
    this.stepTimer = this.timers.setTimeout(() => {
      this.stepTimer = null;
      while (!this.finished && this.windowEnd(this.step + 1) <= simNow(this.options.time, this.timers.now())) this.generateStep();
      this.scheduleStep();
    }, Math.max(1, Math.ceil(dueReal - this.timers.now())));
  }

  /** One simulated minute: coverage and unit-swap draws, that minute's flows, then its messages. */
  private generateStep(): void {
    this.step++;
    const end = this.windowEnd(this.step);
    // Each draw is made every minute whatever the state, so the streams stay aligned with simulated time.
    const losesCoverage = this.offlineRng.chance((this.options.offline?.perHour ?? 0) / 60);
    const offlineMinutes = Math.max(0.5, this.offlineRng.exponential(this.options.offline?.meanMinutes ?? 3));
    const swaps = this.swapRng.chance((this.options.unitSwapsPerDay ?? 0) / 1440);
    if (swaps) this.swapUnit();
    const flows = this.traffic.nextMinute(end - MINUTE_MS).filter((flow) => this.admit(flow));
    const records: SimRecord[] = flows.map((flow) => ({ ...flow, seq: this.state.nextSeq++ }));
    this.stats.recordsGenerated += records.length;
    this.backlog.push(...splitIntoMessages(this.state.epoch, records, this.recordsPerMessage, () => this.state.nextBatch++));
    if (losesCoverage && end >= this.offlineUntilSimMs) this.goOffline(end, offlineMinutes);
    this.pump();
  }

  /**
   * DESIGN 3.3/3.4: a flow of an app blocked now is never opened, so it is neither numbered nor sent; what
   * it would have moved is counted. Flows metered before the block are usage that happened: they are sent.
   */
  private admit(flow: Flow): boolean {
    if (!this.obeying) return true;
    const { app, allowed } = this.policy.admit(flow);
    if (allowed) return true;
    const bytes = recordBytes(flow);
    this.stats.recordsHeldBack++;
    this.stats.bytesHeldBack += bytes;
    this.stats.bytesHeldBackByApp.set(app, (this.stats.bytesHeldBackByApp.get(app) ?? 0n) + bytes);
    this.stats.recordsHeldBackByApp.set(app, (this.stats.recordsHeldBackByApp.get(app) ?? 0) + 1);
    return false;
  }

  /** DESIGN 3.1: a new unit re-initialises its seq counter, so it picks a new random epoch. */
  private swapUnit(): void {
    this.state.epoch = this.newEpoch();
    this.state.nextSeq = 0;
    this.state.seqLease = 0;
    this.leaseOnDisk = 0;
    this.stats.unitSwaps++;
    this.stats.epochs.push(this.state.epoch);
    this.saveState();
  }

  private newEpoch(): string {
    // 1–36 of [A-Za-z0-9-] (DESIGN 3.1): 64 random bits as two base-36 words.
    const word = () => Math.floor(this.epochRng.float() * 2 ** 32).toString(36).padStart(7, '0');
    return `${word()}-${word()}`;
  }

  private goOffline(fromSimMs: number, minutes: number): void {
    this.offlineUntilSimMs = fromSimMs + minutes * MINUTE_MS;
    this.stats.offlinePeriods++;
    const connection = this.connection;
    this.connection = null;
    this.generation++;
    connection?.drop();
    this.reconnectWhenBack();
  }

  /** Coverage comes back at a simulated instant; real timers may fire a little early, so this re-arms. */
  private reconnectWhenBack(): void {
    if (this.stopped || this.reconnectTimer !== null) return;
    const back = realAt(this.options.time, this.offlineUntilSimMs) - this.timers.now();
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, Math.max(1, Math.ceil(back)));
  }

  private get offline(): boolean {
    return simNow(this.options.time, this.timers.now()) < this.offlineUntilSimMs;
  }

  // ---- the link --------------------------------------------------------------------------------

  private topics(): string[] {
    const topics = [ackTopic(this.vin)];
    if (this.options.subscribeControls !== false) topics.push(controlTopic(this.vin, '+'), rulesTopic(this.vin));
    return topics;
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting || this.connection !== null) return;
    if (this.offline) return this.reconnectWhenBack();
    this.connecting = true;
    const generation = ++this.generation;
    let lost = false;
    let connection: DeviceConnection;
    try {
      connection = await this.options.transport.connect(this.options.identity, this.topics(), {
        message: (topic, payload) => {
          if (generation === this.generation) this.onMessage(topic, payload);
        },
        closed: () => {
          lost = true;
          if (generation === this.generation && this.connection !== null) this.onLinkLost();
        },
      });
    } catch {
      this.connecting = false;
      this.stats.connectFailures++;
      this.scheduleReconnect();
      return;
    }
    this.connecting = false;
    if (generation !== this.generation || this.stopped || this.offline) {
      // stopped, or out of coverage while connecting: this link is not used; try again when it makes sense
      await connection.close().catch(() => undefined);
      if (!this.stopped && this.connection === null) {
        if (this.offline) this.reconnectWhenBack();
        else this.scheduleReconnect();
      }
      return;
    }
    if (lost) return this.scheduleReconnect();
    this.connection = connection;
    this.reconnectFailures = 0;
    this.stats.connects++;
    // DESIGN 3.2: everything unacknowledged is resent on the new connection.
    for (const entry of this.window.resendAll(this.timers.now())) this.transmit(entry, true);
    this.armResendTimer();
    this.pump();
  }

  private onLinkLost(): void {
    this.connection = null;
    this.generation++;
    this.scheduleReconnect();
  }

  /** 1 s, doubling to 30 s while connecting fails, ±20 %. */
  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== null) return;
    const delay = Math.min(30_000, 1_000 * 2 ** this.reconnectFailures++) * (0.8 + 0.4 * this.jitterRng.float());
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, Math.round(delay));
  }

  // ---- sending and acks ------------------------------------------------------------------------

  /** Sends from the backlog while connected and the window has room (DESIGN 3.2: at most 16 unacked). */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.connection !== null && this.window.hasRoom() && this.backlog.length > 0) {
        const message = this.backlog[0]!;
        const last = message.records[message.records.length - 1]!.seq;
        if (this.options.store.durable && message.epoch === this.state.epoch && last >= this.leaseOnDisk) {
          // The lease must be on disk before a seq of it leaves the unit (see StateStore).
          this.writeLease(last);
          return;
        }
        this.backlog.shift();
        const entry = this.window.sent(message, buildUsagePayload(message, this.offsetMinutes), this.timers.now());
        this.transmit(entry, false);
      }
    } finally {
      this.pumping = false;
    }
    this.armResendTimer();
  }

  /** Leases seqs beyond `last` and writes the state; sending resumes once it is on disk. */
  private writeLease(last: number): void {
    if (this.leaseWrite) return;
    if (last >= this.state.seqLease) this.state.seqLease = last + 1 + SEQ_LEASE_BLOCK;
    const { epoch, seqLease } = this.state;
    this.saveState();
    this.leaseWrite = this.options.store.flush().then(
      () => {
        this.leaseWrite = null;
        if (this.state.epoch === epoch) this.leaseOnDisk = Math.max(this.leaseOnDisk, seqLease);
        this.pump();
      },
      () => {
        // The disk refused: keep the records and try again in a second.
        const timer = this.timers.setTimeout(() => {
          this.otherTimers.delete(timer);
          this.leaseWrite = null;
          this.pump();
        }, 1_000);
        this.otherTimers.add(timer);
      },
    );
  }

  private transmit(entry: InFlight, resend: boolean): void {
    if (this.connection === null) return;
    this.connection.publish(usageTopic(this.vin), entry.payload, this.qos);
    if (resend) {
      this.stats.messagesResent++;
      this.stats.recordsResent += entry.message.records.length;
    } else {
      this.stats.messagesSent++;
      this.stats.recordsSent += entry.message.records.length;
    }
  }

  private armResendTimer(): void {
    if (this.resendTimer !== null) this.timers.clearTimeout(this.resendTimer);
    this.resendTimer = null;
    const next = this.window.nextDueMs();
    if (next === null || this.stopped) return;
    this.resendTimer = this.timers.setTimeout(() => {
      this.resendTimer = null;
      // DESIGN 3.2: not acked in time → resent on the live connection (when there is one; else at reconnect).
      for (const entry of this.window.due(this.timers.now())) this.transmit(entry, true);
      this.armResendTimer();
    }, Math.max(0, next - this.timers.now()));
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === ackTopic(this.vin)) return this.onAck(payload);
    if (topic === rulesTopic(this.vin)) {
      this.stats.rulesReceived++;
      this.policy.applyRules(payload);
      return;
    }
    const control = parseControlTopic(topic);
    if (control === null || control.vin !== this.vin) return;
    this.stats.controlsReceived++;
    const outcome = this.policy.applyControl(control.app, payload);
    if (outcome === 'applied' || outcome === 'cleared') this.stats.controlsApplied++;
    else this.stats.controlsIgnored++;
  }

  private onAck(payload: Buffer): void {
    const ack = parseAck(payload);
    if (ack === null || typeof ack.batch !== 'number') return; // unreadable: the timer resends
    const entry = this.window.get(ack.batch);
    if (!entry) {
      this.stats.lateAcks++;
      return;
    }
    const records = entry.message.records;
    if (ack.error) {
      // DESIGN 3.1: a retryable whole-message rejection is kept and resent later (the backoff timer does it).
      if (ack.error.retryable) return;
      this.window.acked(ack.batch);
      this.stats.recordsRejected += records.length;
      this.afterAck();
      return;
    }
    this.window.acked(ack.batch);
    this.latency.record(this.timers.now() - entry.firstSentMs);
    this.stats.messagesAcked++;
    this.stats.recordsAccepted += ack.accepted ?? 0;
    this.stats.recordsDuplicate += ack.duplicates ?? 0;
    const rejected = new Map((ack.rejected ?? []).map((r) => [r.index, r]));
    const retry: SimRecord[] = [];
    records.forEach((record, index) => {
      const rejection = rejected.get(index);
      if (rejection?.retryable) return void retry.push(record);
      if (rejection) return void this.stats.recordsRejected++;
      this.stats.recordsAcked++;
      this.stats.bytesAcked += recordBytes(record);
      this.stats.bytesAckedByApp.set(record.app, (this.stats.bytesAckedByApp.get(record.app) ?? 0n) + recordBytes(record));
      this.stats.recordsAckedByApp.set(record.app, (this.stats.recordsAckedByApp.get(record.app) ?? 0) + 1);
    });
    if (retry.length > 0) this.retryLater(entry.message.epoch, retry);
    this.afterAck();
  }

  /** DESIGN 3.1: a retryable record rejection (CLOCK_AHEAD) is kept and sent again after a wait. */
  private retryLater(epoch: string, records: SimRecord[]): void {
    this.stats.recordsRetried += records.length;
    const message: UsageMessage = { batch: this.state.nextBatch++, epoch, records };
    this.retrying.add(message);
    const timer = this.timers.setTimeout(() => {
      this.otherTimers.delete(timer);
      this.retrying.delete(message);
      this.backlog.push(message);
      this.pump();
    }, this.options.window?.ackTimeoutMs ?? PROTOCOL_WINDOW.ackTimeoutMs);
    this.otherTimers.add(timer);
  }

  private afterAck(): void {
    this.pump();
    this.checkDrained();
  }

  private checkDrained(): void {
    if (!this.finished || !this.drained) return;
    for (const waiter of this.drainWaiters.splice(0)) waiter();
  }

  /**
   * Mid-run writes carry the seq lease and epoch only: a pending list written now would be stale (acked)
   * by the next crash. Pending messages are written by a clean `stop()`; a crash loses them, as a unit
   * losing power before its flush would, but never lets a seq be reused.
   */
  private saveState(): void {
    this.options.store.set(this.vin, { ...this.state, pending: [] });
  }
}
