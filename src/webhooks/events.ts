import { randomBytes } from 'node:crypto';

/** The event types of issue 14; an endpoint subscribes to a non-empty subset. */
export const WEBHOOK_EVENT_TYPES = ['alert.triggered', 'alert.resolved', 'invoice.issued', 'credit_note.issued', 'sim.state_changed', 'order.paid', 'einvoice.issued'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export type OwnerKind = 'sponsor' | 'merchant';

/** `evt_<24 hex>`: the `webhook-id` of every attempt, what idempotent receivers deduplicate on. */
export const newEventId = () => `evt_${randomBytes(12).toString('hex')}`;
/** `we_<24 hex>`. */
export const newEndpointId = () => `we_${randomBytes(12).toString('hex')}`;

/**
 * After attempt n fails, the next one waits RETRY_DELAYS_MS[n − 1] (the last one repeats): 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h; no attempt starts after the delivery's deadline (a day after the event), the last
 * one is moved to the deadline itself: a receiver down for a day gets 8 attempts (at 0, 5 s, 5 min 5 s,
 * 35 min 5 s, 2 h 35 min, 7 h 35 min, 17 h 35 min and 24 h).
 */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000] as const;
export const DELIVERY_WINDOW_MS = 86_400_000;

/** When the next attempt starts after `attempts` failed ones, or null when the deadline has passed. Pure. */
export function nextAttemptAt(attempts: number, nowMs: number, deadlineMs: number): number | null {
  if (nowMs >= deadlineMs) return null;
  const delay = RETRY_DELAYS_MS[Math.min(Math.max(attempts, 1), RETRY_DELAYS_MS.length) - 1]!;
  return Math.min(nowMs + delay, deadlineMs);
}
