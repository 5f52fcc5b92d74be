import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { OutboxPublisher } from '../controls/outbox-publisher.js';
import { ensureAllocationPartitions, insertDeadLetters } from '../ledger/repository.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { formatInstant, monthOf } from '../shared/time.js';
import { ackTopic } from '../mqtt/topics.js';
import { messageErrorAck, type Ack } from './ack.js';
import type { IngestMetrics } from './metrics.js';
import { parseUsageMessage } from './parse-usage.js';
import type { CatalogRuntime } from './runtime.js';
import { writeBatch, type PreparedMessage } from './write-batch.js';

export interface IncomingUsage {
  vin: string;
  topic: string;
  payload: Buffer;
}

export interface IngestOptions {
  pool: Pool;
  runtime: CatalogRuntime;
  clock: Clock;
  logger: Logger;
  outbox: OutboxPublisher;
  metrics: IngestMetrics;
  /** Sends an ack to the device (QoS 1); resolves when the broker took it. */
  publishAck(topic: string, payload: string): Promise<void>;
  maxRecords: number;
  maxMs: number;
}

interface Pending extends PreparedMessage {
  records: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Group commit (DESIGN 7): messages from many vehicles are gathered into micro-batches, bounded by
 * records and by milliseconds, and each batch is one transaction. One batch is written at a time while
 * the next one gathers, so a vehicle's messages are allocated in the order they arrived.
 * A batch that fails on its data is bisected; a message that fails alone is dead-lettered and acked
 * INTERNAL_ERROR. A database outage is not a data failure: the batch waits and is retried, never dropped.
 */
export function createIngest(options: IngestOptions) {
  const { pool, clock, logger, metrics } = options;
  const log = logger.child({ component: 'ingest' });
  let pending: Pending[] = [];
  let pendingRecords = 0;
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> | null = null;
  let stopping = false;

  function submit(usage: IncomingUsage): Promise<void> {
    const receivedAtMs = clock.now();
    const parsed = parseUsageMessage(usage.payload);
    const records = parsed.ok ? parsed.records.length : 1;
    return new Promise<void>((resolve, reject) => {
      pending.push({ ...usage, receivedAtMs, parsed, records, resolve, reject });
      pendingRecords += records;
      metrics.pendingRecords.set(pendingRecords);
      schedule();
    });
  }

  function schedule(): void {
    if (writing) return; // the writer looks again when it finishes
    if (pendingRecords >= options.maxRecords || stopping) {
      if (timer) clearTimeout(timer);
      timer = null;
      startWrite();
    } else if (!timer && pending.length > 0) {
      timer = setTimeout(() => {
        timer = null;
        if (!writing) startWrite();
      }, options.maxMs);
    }
  }

  function takeBatch(): Pending[] {
    let count = 0;
    let n = 0;
    while (n < pending.length && (n === 0 || count + pending[n]!.records <= options.maxRecords)) count += pending[n++]!.records;
    const batch = pending.slice(0, n);
    pending = pending.slice(n);
    pendingRecords -= count;
    metrics.pendingRecords.set(pendingRecords);
    return batch;
  }

  function startWrite(): void {
    if (pending.length === 0) return;
    const batch = takeBatch();
    writing = writeWithRetry(batch).finally(() => {
      writing = null;
      schedule();
    });
  }

  async function writeWithRetry(batch: Pending[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await writeOrBisect(batch);
        return;
      } catch (error) {
        // Only transient failures reach here (see writeOrBisect): pause, then retry the same batch.
        const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
        metrics.retries.inc();
        log.warn({ err: describe(error), attempt, delayMs: delay }, 'database unavailable; ingest paused');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async function writeOrBisect(batch: Pending[]): Promise<void> {
    try {
      await commit(batch);
    } catch (error) {
      if (isTransient(error)) throw error;
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

  async function commit(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const months = new Set<string>();
    for (const message of batch) {
      if (message.parsed.ok) for (const r of message.parsed.records) if (r.ok) months.add(monthOf(r.record.startMs, options.runtime.timezone));
    }
    await ensureAllocationPartitions(pool, [...months]);
    const nowMs = clock.now();
    const outcome = await withTransaction(pool, (client) => writeBatch(client, options.runtime, batch, nowMs));
    metrics.commitSeconds.observe((performance.now() - started) / 1000);
    metrics.batchRecords.observe(batch.reduce((n, m) => n + m.records, 0));
    metrics.records.inc({ outcome: 'accepted' }, outcome.counts.accepted);
    metrics.records.inc({ outcome: 'duplicate' }, outcome.counts.duplicates);
    metrics.records.inc({ outcome: 'rejected' }, outcome.counts.rejected);
    metrics.messagesRejected.inc(outcome.counts.messagesRejected);
    const oldest = Math.min(...batch.map((m) => m.receivedAtMs));
    metrics.lagSeconds.set(Math.max(0, clock.now() - oldest) / 1000);
    await Promise.all(batch.map((message, i) => acknowledge(message, outcome.acks[i]!)));
    void options.outbox.send(outcome.outbox);
  }

  /** DESIGN 7: a message that fails alone is dead-lettered and acked INTERNAL_ERROR (retryable). */
  async function poison(message: Pending, error: unknown): Promise<void> {
    metrics.poisonMessages.inc();
    log.error({ err: describe(error), vin: message.vin }, 'message failed alone; dead-lettered as INTERNAL_ERROR');
    const reason = 'the message could not be committed; resend it later';
    await insertDeadLetters(pool, [{ vin: message.vin, topic: message.topic, code: 'INTERNAL_ERROR', reason, recordIndex: null, seq: null, payload: message.payload, receivedAtMs: message.receivedAtMs }]);
    const sha = message.parsed.ok ? sha256Prefix(message.payload) : message.parsed.payloadSha256;
    await acknowledge(message, messageErrorAck({ code: 'INTERNAL_ERROR', message: reason, retryable: true, batch: message.parsed.batch, payloadSha256: sha }, formatInstant(clock.now(), options.runtime.timezone)));
  }

  async function acknowledge(message: Pending, ack: Ack): Promise<void> {
    try {
      await options.publishAck(ackTopic(message.vin), JSON.stringify(ack));
      message.resolve();
    } catch (error) {
      // The ledger has the records; the device resends and gets duplicates acked.
      message.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  return {
    submit,
    /** Writes what is pending, then resolves. New messages are still taken while it runs. */
    async stop(): Promise<void> {
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      while (writing || pending.length > 0) {
        if (!writing) startWrite();
        await writing;
      }
    },
  };
}

export type Ingest = ReturnType<typeof createIngest>;

/** Connection loss, shutdown, overload, serialization failures: retry the batch as it is. */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return true; // socket errors, "Connection terminated", pool timeouts
  return /^(08|53|57P|58|40001|40P01|55P03|ECONN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)/.test(code);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
}

function sha256Prefix(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 16);
}
