import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import type { PiiVault } from '../shared/pii.js';
import { nextAttemptAt } from './events.js';
import { claimDueDeliveries, recordAttempt, type AttemptOutcome, type ClaimedDelivery } from './repository.js';
import { signWebhook } from './signature.js';
import { checkResolvedTarget } from './target.js';

export interface WebhookDelivererOptions {
  pool: Pool;
  vault: PiiVault;
  clock: Clock;
  logger: Logger;
  /** Refuse loopback and private targets unless true (dev mode): see target.ts. */
  allowPrivateTargets: boolean;
  /** Per request (connect, send, answer): 10 s. */
  timeoutMs?: number;
  /** Deliveries claimed per run (one per endpoint). */
  batchSize?: number;
}

/** What a receiver gets: the same bytes on every attempt, so the signature and the event id are stable. */
export function webhookBody(event: ClaimedDelivery['event']): string {
  return JSON.stringify({ id: event.id, type: event.type, createdAt: new Date(event.createdAtMs).toISOString(), data: event.data });
}

/**
 * Delivers due webhook deliveries (src/webhooks/README.md): claims them (a lease of the timeout plus a
 * minute), POSTs each signed event, and records the outcome: any 2xx is delivered; anything else (another
 * status, a timeout, a refused target) is retried with backoff until the deadline, then failed. Endpoints
 * are served concurrently, each endpoint's events one at a time and in order. Secrets are never logged.
 */
export function createWebhookDeliverer(options: WebhookDelivererOptions) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const batchSize = options.batchSize ?? 50;
  const log = options.logger.child({ component: 'webhooks' });

  async function attempt(delivery: ClaimedDelivery): Promise<AttemptOutcome> {
    const body = webhookBody(delivery.event);
    // Read the clock when the request goes out: this is the timestamp receivers check (±5 min).
    const atMs = options.clock.now();
    const failed = (status: number | null, error: string): AttemptOutcome => ({ delivered: false, status, error, atMs, nextAttemptMs: nextAttemptAt(delivery.attempt, options.clock.now(), delivery.deadlineMs) });
    try {
      const target = await checkResolvedTarget(delivery.url, options.allowPrivateTargets);
      if (!target.ok) return failed(null, target.reason);
      const secret = options.vault.decrypt(delivery.secretEncrypted, 'webhookSecret');
      const timestamp = Math.floor(atMs / 1000);
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'tbox-billing-webhooks/1',
          'webhook-id': delivery.event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(secret, delivery.event.id, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      // The answer's body is not needed: drop it (the receiver's status is the whole answer).
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { delivered: true, status: response.status, atMs: options.clock.now() };
      return failed(response.status, `HTTP ${response.status}`);
    } catch (error) {
      const message = error instanceof Error ? (error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (error.cause instanceof Error ? error.cause.message : error.message)) : String(error);
      return failed(null, message);
    }
  }

  return {
    /** One pass: every delivery due now (one per endpoint), attempted and recorded. Returns how many were attempted. */
    async runOnce(): Promise<number> {
      const nowMs = options.clock.now();
      const claimed = await claimDueDeliveries(options.pool, { nowMs, leaseUntilMs: nowMs + timeoutMs + 60_000, limit: batchSize });
      await Promise.all(
        claimed.map(async (delivery) => {
          const outcome = await attempt(delivery);
          await recordAttempt(options.pool, delivery.id, outcome);
          if (!outcome.delivered) {
            log.info({ delivery: delivery.id, event: delivery.event.id, attempt: delivery.attempt, status: outcome.status, error: outcome.error, gaveUp: outcome.nextAttemptMs === null }, 'webhook attempt failed');
          }
        }),
      );
      return claimed.length;
    },
  };
}

export type WebhookDeliverer = ReturnType<typeof createWebhookDeliverer>;
