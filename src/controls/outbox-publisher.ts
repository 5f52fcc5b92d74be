import type { Logger } from 'pino';
import type { Pool } from '../shared/db/pool.js';
import type { OutboxEntry } from './repository.js';
import type { Clock } from '../shared/clock.js';
import { controlTopic, parseControlTopic } from '../mqtt/topics.js';
import { controlMessage, type ControlReason } from './reasons.js';

export interface Publisher {
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<void>;
}

/**
 * Delivers outbox rows to the broker after the transaction that wrote them commits, and deletes each row
 * once the broker took it (DESIGN 3.3: retried until PUBACK). Rows left by a crash are sent at start.
 * Delivery is per row in id order; a failure leaves the row for the next attempt.
 */
export function createOutboxPublisher(deps: { pool: Pool; publisher: Publisher; logger: Logger; clock: Clock; formatAt(ms: number): string; retryMs?: number }) {
  const retryMs = deps.retryMs ?? 5_000;
  let timer: NodeJS.Timeout | null = null;
  let draining: Promise<void> | null = null;
  let stopped = false;

  /**
   * Rows of several workers (or a sweep of a dead worker's rows) may reach the broker out of commit order;
   * a retained control must never fall back to an older rev. So a control row publishes the state as it is
   * now in `control_states` (the highest rev), whatever rev the row was written with.
   */
  async function currentPayloads(entries: readonly OutboxEntry[]): Promise<Map<string, string>> {
    const keys = entries.map((e) => parseControlTopic(e.topic)).filter((k): k is { vin: string; app: string } => k !== null);
    if (keys.length === 0) return new Map();
    const { rows } = await deps.pool.query<{ vin: string; app: string; reasons: ControlReason[]; rev: number; changed_at: Date }>(
      `SELECT c.vin, c.app, c.reasons, c.rev, c.changed_at FROM control_states c
         JOIN unnest($1::text[], $2::text[]) AS k(vin, app) ON c.vin = k.vin AND c.app = k.app`,
      [keys.map((k) => k.vin), keys.map((k) => k.app)],
    );
    return new Map(rows.map((r) => [controlTopic(r.vin, r.app), JSON.stringify(controlMessage(r.app, r.reasons, r.rev, deps.formatAt(r.changed_at.getTime())))]));
  }

  async function deliver(entries: readonly OutboxEntry[]): Promise<void> {
    const done: string[] = [];
    try {
      const current = await currentPayloads(entries);
      for (const entry of entries) {
        await deps.publisher.publish(entry.topic, current.get(entry.topic) ?? entry.payload, { qos: entry.qos, retain: entry.retain });
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
    /**
     * Rows older than `olderThanMs` whose writer did not deliver them (it was killed between its commit and
     * its publish): any instance sends them, so they do not wait for that writer's restart.
     */
    async sweepStale(olderThanMs: number): Promise<void> {
      const { rows } = await deps.pool.query<OutboxEntry>('SELECT id, topic, payload, qos, retain FROM outbox WHERE created_at < $1 ORDER BY id LIMIT 1000', [
        new Date(deps.clock.now() - olderThanMs),
      ]);
      await deliver(rows);
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
  return publisher;
}

export type OutboxPublisher = ReturnType<typeof createOutboxPublisher>;
