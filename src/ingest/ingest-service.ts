import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { OutboxPublisher } from '../controls/outbox-publisher.js';
import { insertDeadLetters } from '../ledger/dead-letters.js';
import { createAllocationPartitions, MissingPartitionsError } from '../ledger/partitions.js';
import type { Clock } from '../shared/clock.js';
import { withWriteTransaction, type Pool } from '../shared/db/pool.js';
import { formatInstant, monthOf, nextMonth } from '../shared/time.js';
import { ackTopic } from '../mqtt/topics.js';
import { messageErrorAck, type Ack } from './ack.js';
import type { IngestMetrics } from './metrics.js';
import { parseUsageMessage } from './parse-usage.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { PreparedMessage } from './admission.js';
import { writeBatch, type BatchTouched } from './write-batch.js';

export interface IncomingUsage {
  vin: string;
  topic: string;
  payload: Buffer;
  /**
   * Called once ingest no longer needs the message: its records committed (or the message dead-lettered)
   * and its ack handed to the broker. Not when the broker confirms the ack: an external broker's
   * confirmation comes through the connection the back-pressure gate may be holding (issue 11).
   */
  onWritten?(): void;
}

export interface IngestOptions {
  /** for dead letters of failed messages and partition DDL */
  pool: Pool;
  /** the lanes' connections: one per lane, pipelined (`createPool(url, lanes, { pipeline: true })`) */
  writerPool: Pool;
  /** concurrent batch writers; a vehicle always writes through the same one */
  lanes: number;
  /** `catalog_versions.id` of the running catalog, which records name */
  catalogVersionId: number;
  runtime: CatalogRuntime;
  clock: Clock;
  logger: Logger;
  outbox: OutboxPublisher;
  metrics: IngestMetrics;
  /** Sends an ack to the device (QoS 1); resolves when the broker took it. */
  publishAck(topic: string, payload: string): Promise<void>;
  maxRecords: number;
  maxMs: number;
  /**
   * Called after a batch that billed bytes committed and its acks were handed to the broker, with what it
   * touched (the usage alerts, issue 14). The lane does not wait for what it starts; it must not throw.
   */
  afterCommit?(touched: BatchTouched): void;
}

interface Pending extends PreparedMessage, Pick<IncomingUsage, 'onWritten'> {
  records: number;
  resolve(): void;
  reject(error: Error): void;
}

interface Lane {
  pending: Pending[];
  records: number;
  timer: NodeJS.Timeout | null;
  writing: Promise<void> | null;
}

/**
 * Group commit (DESIGN 7): messages are gathered into micro-batches, bounded by records and by
 * milliseconds, and each batch is one transaction. Vehicles are hashed to `lanes` writers, each with its
 * own connection: batches of different lanes commit concurrently (and one lane's JavaScript runs while
 * another waits for PostgreSQL), while a lane writes one batch at a time and gathers the next, so a
 * vehicle's messages are allocated in the order they arrived.
 * A batch that fails on its data is bisected; a message that fails alone is dead-lettered and acked
 * INTERNAL_ERROR. A database outage is not a data failure: the batch waits and is retried, never dropped.
 */
export function createIngest(options: IngestOptions) {
  const { pool, clock, logger, metrics } = options;
  const log = logger.child({ component: 'ingest' });
  const partitions = createAllocationPartitions(pool);
  const lanes: Lane[] = Array.from({ length: Math.max(1, options.lanes) }, () => ({ pending: [], records: 0, timer: null, writing: null }));
  let pendingRecords = 0;
  let stopping = false;
  // Acks handed to the broker and not yet confirmed: the lanes do not wait for them (see acknowledge).
  const acking = new Set<Promise<void>>();

  function submit(usage: IncomingUsage): Promise<void> {
    const receivedAtMs = clock.now();
    const parsed = parseUsageMessage(usage.payload, { maxLinkMbps: options.runtime.maxLinkMbps });
    const records = parsed.ok ? parsed.records.length : 1;
    const lane = lanes[laneOf(usage.vin, lanes.length)]!;
    return new Promise<void>((resolve, reject) => {
      lane.pending.push({ ...usage, receivedAtMs, parsed, records, resolve, reject });
      lane.records += records;
      pendingRecords += records;
      metrics.pendingRecords.set(pendingRecords);
      schedule(lane);
    });
  }

  function schedule(lane: Lane): void {
    if (lane.writing) return; // the lane looks again when it finishes
    if (lane.records >= options.maxRecords || stopping) {
      if (lane.timer) clearTimeout(lane.timer);
      lane.timer = null;
      startWrite(lane);
    } else if (!lane.timer && lane.pending.length > 0) {
      lane.timer = setTimeout(() => {
        lane.timer = null;
        if (!lane.writing) startWrite(lane);
      }, options.maxMs);
    }
  }

  function takeBatch(lane: Lane): Pending[] {
    let count = 0;
    let n = 0;
    while (n < lane.pending.length && (n === 0 || count + lane.pending[n]!.records <= options.maxRecords)) count += lane.pending[n++]!.records;
    const batch = lane.pending.slice(0, n);
    lane.pending = lane.pending.slice(n);
    lane.records -= count;
    pendingRecords -= count;
    metrics.pendingRecords.set(pendingRecords);
    return batch;
  }

  function startWrite(lane: Lane): void {
    if (lane.pending.length === 0) return;
    const batch = takeBatch(lane);
    lane.writing = writeOrBisect(batch).finally(() => {
      lane.writing = null;
      schedule(lane);
    });
  }

  /**
   * DESIGN 7: a batch failing on its data is bisected down to the message that fails alone. A transient
   * failure (the database away, see isTransient) is retried where it happened, on the part of the batch
   * being written: halves already committed are never written, acked or dead-lettered again.
   */
  async function writeOrBisect(batch: Pending[]): Promise<void> {
    try {
      await untilNotTransient(() => commit(batch));
    } catch (error) {
      if (batch.length > 1) {
        metrics.bisections.inc();
        const half = Math.ceil(batch.length / 2);
        await writeOrBisect(batch.slice(0, half));
        await writeOrBisect(batch.slice(half));
        return;
      }
      await poison(batch[0]!, error);
    }
  }

  /** Runs `step` until it succeeds or fails with an error that is not transient (which it throws). */
  async function untilNotTransient(step: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await step();
        return;
      } catch (error) {
        if (error instanceof MissingPartitionsError) {
          // Not a failure: the batch needs a month's partition first (created outside its transaction).
          await untilNotTransient(() => partitions.create(error.months));
          continue;
        }
        if (!isTransient(error)) throw error;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
        metrics.retries.inc();
        log.warn({ err: describe(error), attempt, delayMs: delay }, 'database unavailable; ingest paused');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async function commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const nowMs = clock.now();
    const outcome = await withWriteTransaction(options.writerPool, (tx) => writeBatch(tx, { runtime: options.runtime, catalogVersionId: options.catalogVersionId, partitions }, batch, nowMs));
    metrics.commitSeconds.observe((performance.now() - started) / 1000);
    metrics.batchRecords.observe(batch.reduce((n, m) => n + m.records, 0));
    metrics.records.inc({ outcome: 'accepted' }, outcome.counts.accepted);
    metrics.records.inc({ outcome: 'duplicate' }, outcome.counts.duplicates);
    metrics.records.inc({ outcome: 'rejected' }, outcome.counts.rejected);
    metrics.messagesRejected.inc(outcome.counts.messagesRejected);
    const oldest = Math.min(...batch.map((m) => m.receivedAtMs));
    metrics.lagSeconds.set(Math.max(0, clock.now() - oldest) / 1000);
    batch.forEach((message, i) => acknowledge(message, outcome.acks[i]!));
    void options.outbox.send(outcome.outbox);
    if (options.afterCommit && (outcome.touched.sponsorships.length > 0 || outcome.touched.payers.length > 0)) {
      options.afterCommit(outcome.touched);
    }
  }

  /** DESIGN 7: a message that fails alone is dead-lettered and acked INTERNAL_ERROR (retryable). */
  async function poison(message: Pending, error: unknown): Promise<void> {
    metrics.poisonMessages.inc();
    log.error({ err: describe(error), vin: message.vin }, 'message failed alone; dead-lettered as INTERNAL_ERROR');
    const reason = 'the message could not be committed; resend it later';
    const deadLetter = { vin: message.vin, topic: message.topic, code: 'INTERNAL_ERROR', reason, recordIndex: null, seq: null, payload: message.payload, receivedAtMs: message.receivedAtMs };
    // The ack must go out even if the dead letter cannot be stored: the device keeps the message (retryable).
    await untilNotTransient(() => insertDeadLetters(pool, [deadLetter])).catch((failure: unknown) => log.error({ err: describe(failure), vin: message.vin }, 'dead letter could not be stored'));
    const sha = message.parsed.ok ? sha256Prefix(message.payload) : message.parsed.payloadSha256;
    acknowledge(message, messageErrorAck({ code: 'INTERNAL_ERROR', message: reason, retryable: true, batch: message.parsed.batch, payloadSha256: sha }, formatInstant(clock.now(), options.runtime.timezone)));
  }

  /**
   * Hands the ack to the broker; the message's promise settles when the broker confirms it. The lane goes
   * on meanwhile: a slow device (embedded) or a connection held by the back-pressure gate (external: the
   * confirmation is a packet queued behind the held message) must not stop the writing that reopens the
   * gate (issue 11). Only the settle functions are kept until then, not the message and its records.
   */
  function acknowledge(message: Pending, ack: Ack): void {
    const { resolve, reject } = message;
    let published: Promise<void>;
    try {
      published = options.publishAck(ackTopic(message.vin), JSON.stringify(ack));
    } catch (error) {
      published = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    message.onWritten?.();
    const settled = published.then(resolve, (error: unknown) => {
      // The ledger has the records; the device resends and gets duplicates acked.
      reject(error instanceof Error ? error : new Error(String(error)));
    });
    acking.add(settled);
    void settled.finally(() => acking.delete(settled));
  }

  return {
    submit,
    /** Creates this month's and next month's allocation partitions, so that no batch waits for DDL. */
    async prepare(): Promise<void> {
      const nowMs = clock.now();
      const month = monthOf(nowMs, options.runtime.timezone);
      await untilNotTransient(() => partitions.create([month, nextMonth(month)]));
    },
    /** Writes what is pending and waits for its acks, then resolves. New messages are still taken while it runs. */
    async stop(): Promise<void> {
      stopping = true;
      for (;;) {
        const busy = lanes.filter((lane) => lane.writing || lane.pending.length > 0);
        if (busy.length === 0) {
          if (acking.size === 0) return;
          await Promise.all(acking);
          continue;
        }
        for (const lane of busy) {
          if (lane.timer) clearTimeout(lane.timer);
          lane.timer = null;
          if (!lane.writing) startWrite(lane);
        }
        await Promise.all(busy.map((lane) => lane.writing));
      }
    },
  };
}

/** The lane of a vehicle: FNV-1a of its VIN, so that every worker agrees and lanes fill evenly. */
export function laneOf(vin: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < vin.length; i++) hash = Math.imul(hash ^ vin.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}

export type Ingest = ReturnType<typeof createIngest>;

/** SQLSTATE classes and codes worth waiting out: 08 connection exception, 53 insufficient resources, 57P
 * operator intervention (shutdown, crash recovery), 58 system error, 40001 serialization failure, 40P01
 * deadlock, 55P03 lock not available. */
const TRANSIENT_SQLSTATE = /^(08|53|57P|58|40001$|40P01$|55P03$)/;
/** Socket errors of node:net and DNS. */
const TRANSIENT_SYSCALL = /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ENETDOWN)$/;
/** What pg and pg-pool throw, without a code, when the connection is gone or cannot be had. */
const TRANSIENT_MESSAGE = /^(Connection terminated|Connection ended unexpectedly|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Cannot use a pool after calling end)/;

/**
 * Is this the database being away (wait and retry the same work) rather than something about the data
 * (bisect to the failing message)? Only connection-class failures are transient: an error this list does
 * not know — a programming error, a constraint, a value PostgreSQL refuses — is not, so one bad message
 * can never pause ingest for everyone (issue 10).
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return TRANSIENT_SQLSTATE.test(code) || TRANSIENT_SYSCALL.test(code);
  return TRANSIENT_MESSAGE.test(error.message);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
}

function sha256Prefix(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 16);
}
