import type { Logger } from 'pino';
import type { Pool } from '../shared/db/pool.js';
import type { OutboxEntry } from './repository.js';

export interface Publisher {
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

/**
 * Delivers outbox rows to the broker after the transaction that wrote them commits, and deletes each row
 * once the broker took it (DESIGN 3.3: retried until PUBACK). Rows left by a crash are sent at start.
 * Delivery is per row in id order; a failure leaves the row for the next attempt.
 */
export function createOutboxPublisher(deps: { pool: Pool; publisher: Publisher; logger: Logger; retryMs?: number }) {
  const retryMs = deps.retryMs ?? 5_000;
  let timer: NodeJS.Timeout | null = null;
  let draining: Promise<void> | null = null;
  let stopped = false;

  async function deliver(entries: readonly OutboxEntry[]): Promise<void> {
    const done: string[] = [];
    try {
      for (const entry of entries) {
        await deps.publisher.publish(entry.topic, entry.payload, { qos: entry.qos, retain: entry.retain });
        done.push(entry.id);
      }
    } finally {
      if (done.length > 0) await deps.pool.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [done]);
    }
  }

  async function drainAll(): Promise<void> {
    for (;;) {
      const { rows } = await deps.pool.query<OutboxEntry>('SELECT id, topic, payload, qos, retain FROM outbox ORDER BY id LIMIT 1000');
      if (rows.length === 0) return;
      await deliver(rows);
    }
  }

  function scheduleRetry(): void {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void publisher.drain();
    }, retryMs);
    timer.unref();
  }

  const publisher = {
    /** Sends entries just committed; on failure they stay in the outbox for the retry. */
    async send(entries: readonly OutboxEntry[]): Promise<void> {
      if (entries.length === 0) return;
      try {
        await deliver(entries);
      } catch (error) {
        deps.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'outbox delivery failed; will retry');
        scheduleRetry();
      }
    },
    /** Sends everything still in the outbox (startup, broker reconnect, retry). */
    drain(): Promise<void> {
      draining ??= drainAll()
        .catch((error: unknown) => {
          deps.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'outbox drain failed; will retry');
          scheduleRetry();
        })
        .finally(() => {
          draining = null;
        });
      return draining;
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
  return publisher;
}

export type OutboxPublisher = ReturnType<typeof createOutboxPublisher>;
