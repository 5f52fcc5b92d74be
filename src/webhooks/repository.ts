import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import { reencryptColumn } from '../shared/db/reencrypt.js';
import type { PiiVault } from '../shared/pii.js';
import { DELIVERY_WINDOW_MS, newEventId, type OwnerKind, type WebhookEventType } from './events.js';

/**
 * The only SQL on `webhook_endpoints`, `webhook_events` and `webhook_deliveries` (migration 0015).
 * {@link enqueueEvent} runs in the caller's transaction, so an event exists exactly when the change it
 * reports committed (the outbox); the deliverer claims due rows with `FOR UPDATE SKIP LOCKED`.
 */

type Db = Pick<Pool, 'query'> | PoolClient;

export interface Owner {
  kind: OwnerKind;
  id: string;
}

const EndpointRowSchema = z.object({
  id: z.string(),
  url: z.string(),
  event_types: z.array(z.string()),
  created_at: z.date(),
});
export interface Endpoint {
  id: string;
  url: string;
  eventTypes: string[];
  createdAtMs: number;
}
const toEndpoint = (row: z.output<typeof EndpointRowSchema>): Endpoint => ({ id: row.id, url: row.url, eventTypes: row.event_types, createdAtMs: row.created_at.getTime() });

export async function insertEndpoint(db: Db, owner: Owner, endpoint: { id: string; url: string; secretEncrypted: string; eventTypes: readonly string[]; atMs: number }): Promise<Endpoint> {
  const { rows } = await db.query(
    `INSERT INTO webhook_endpoints (id, owner_kind, owner_id, url, secret, event_types, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, url, event_types, created_at`,
    [endpoint.id, owner.kind, owner.id, endpoint.url, endpoint.secretEncrypted, [...endpoint.eventTypes], new Date(endpoint.atMs)],
  );
  return toEndpoint(parseFirstRow(EndpointRowSchema, rows, 'webhook endpoint')!);
}

/** The owner's live endpoints, oldest first. */
export async function listEndpoints(db: Db, owner: Owner): Promise<Endpoint[]> {
  const { rows } = await db.query(
    'SELECT id, url, event_types, created_at FROM webhook_endpoints WHERE owner_kind = $1 AND owner_id = $2 AND disabled_at IS NULL ORDER BY created_at, id',
    [owner.kind, owner.id],
  );
  return parseRows(EndpointRowSchema, rows, 'webhook endpoints').map(toEndpoint);
}

/** The owner's endpoint (another owner's is as absent as an unknown one); a deleted one only with `withDeleted`. */
export async function findEndpoint(db: Db, owner: Owner, endpointId: string, withDeleted = false): Promise<Endpoint | null> {
  const { rows } = await db.query(
    `SELECT id, url, event_types, created_at FROM webhook_endpoints
      WHERE id = $1 AND owner_kind = $2 AND owner_id = $3 ${withDeleted ? '' : 'AND disabled_at IS NULL'}`,
    [endpointId, owner.kind, owner.id],
  );
  const row = parseFirstRow(EndpointRowSchema, rows, 'webhook endpoint');
  return row ? toEndpoint(row) : null;
}

/** Deletes (disables) an endpoint: its pending deliveries stop; its log stays. Idempotent. */
export async function disableEndpoint(db: Db, owner: Owner, endpointId: string, atMs: number): Promise<void> {
  await db.query('UPDATE webhook_endpoints SET disabled_at = $4 WHERE id = $1 AND owner_kind = $2 AND owner_id = $3 AND disabled_at IS NULL', [endpointId, owner.kind, owner.id, new Date(atMs)]);
}

export interface NewWebhookEvent {
  ownerKind: OwnerKind;
  ownerId: string;
  type: WebhookEventType;
  /** The event's `data`: JSON, what the receiver gets. */
  data: Record<string, unknown>;
  /** The change's time (the caller's clock). */
  atMs: number;
}

/**
 * Writes the event and one pending delivery per live endpoint of its owner subscribed to its type, in the
 * caller's transaction: a rolled-back change sends nothing, a committed one is delivered after the commit.
 * Returns the event id.
 */
export async function enqueueEvent(client: PoolClient, event: NewWebhookEvent): Promise<string> {
  const id = newEventId();
  const at = new Date(event.atMs);
  await client.query(
    `WITH event AS (
       INSERT INTO webhook_events (id, owner_kind, owner_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq
     )
     INSERT INTO webhook_deliveries (event_seq, endpoint_id, next_attempt_at, deadline_at)
     SELECT event.seq, e.id, $6, $7 FROM event, webhook_endpoints e
      WHERE e.owner_kind = $2 AND e.owner_id = $3 AND e.disabled_at IS NULL AND $4 = ANY (e.event_types)
      ORDER BY e.id`,
    [id, event.ownerKind, event.ownerId, event.type, JSON.stringify(event.data), at, new Date(event.atMs + DELIVERY_WINDOW_MS)],
  );
  return id;
}

const ClaimedRowSchema = z.object({
  id: z.string(),
  attempts: z.number().int(),
  deadline_at: z.date(),
  url: z.string(),
  secret: z.string(),
  event_id: z.string(),
  type: z.string(),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.date(),
});
export interface ClaimedDelivery {
  id: string;
  /** this attempt's number, from 1 */
  attempt: number;
  deadlineMs: number;
  url: string;
  secretEncrypted: string;
  event: { id: string; type: string; data: Record<string, unknown>; createdAtMs: number };
}

/**
 * Claims up to `limit` due deliveries, at most one per endpoint and only an endpoint's oldest pending one
 * (events of one endpoint go out in order: N + 1 waits while N is pending, retries included). A claim is a
 * lease: the row stays pending with its next attempt at `leaseUntilMs`, so a deliverer that dies mid-request
 * leaves it to be tried again then, and concurrent deliverers skip rows another one is claiming.
 */
export async function claimDueDeliveries(pool: Pick<Pool, 'query'>, options: { nowMs: number; leaseUntilMs: number; limit: number }): Promise<ClaimedDelivery[]> {
  const { rows } = await pool.query(
    `WITH due AS (
       SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL
        WHERE d.status = 'pending' AND d.next_attempt_at <= $1
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.status = 'pending' AND p.id < d.id)
        ORDER BY d.id LIMIT $3
        FOR UPDATE OF d SKIP LOCKED
     )
     UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2, last_attempt_at = $1
       FROM due, webhook_events ev, webhook_endpoints e
      WHERE d.id = due.id AND ev.seq = d.event_seq AND e.id = d.endpoint_id
     RETURNING d.id::text, d.attempts, d.deadline_at, e.url, e.secret, ev.id AS event_id, ev.type, ev.payload, ev.created_at`,
    [new Date(options.nowMs), new Date(options.leaseUntilMs), options.limit],
  );
  return parseRows(ClaimedRowSchema, rows, 'due webhook deliveries')
    .sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)))
    .map((row) => ({
      id: row.id,
      attempt: row.attempts,
      deadlineMs: row.deadline_at.getTime(),
      url: row.url,
      secretEncrypted: row.secret,
      event: { id: row.event_id, type: row.type, data: row.payload, createdAtMs: row.created_at.getTime() },
    }));
}

export type AttemptOutcome =
  | { delivered: true; status: number; atMs: number }
  /** `nextAttemptMs` null: the deadline has passed, the delivery has failed. */
  | { delivered: false; status: number | null; error: string; atMs: number; nextAttemptMs: number | null };

export async function recordAttempt(pool: Pick<Pool, 'query'>, deliveryId: string, outcome: AttemptOutcome): Promise<void> {
  if (outcome.delivered) {
    await pool.query("UPDATE webhook_deliveries SET status = 'delivered', last_status = $2, last_error = NULL, delivered_at = $3 WHERE id = $1", [deliveryId, outcome.status, new Date(outcome.atMs)]);
    return;
  }
  await pool.query(
    `UPDATE webhook_deliveries SET status = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = COALESCE($4, next_attempt_at), last_status = $2, last_error = $3
      WHERE id = $1`,
    [deliveryId, outcome.status, outcome.error.slice(0, 500), outcome.nextAttemptMs === null ? null : new Date(outcome.nextAttemptMs)],
  );
}

const DeliveryRowSchema = z.object({
  id: z.string(),
  event_id: z.string(),
  type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: z.date(),
  last_attempt_at: z.date().nullable(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  delivered_at: z.date().nullable(),
  created_at: z.date(),
});
export interface Delivery {
  id: string;
  eventId: string;
  type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAtMs: number | null;
  lastAttemptAtMs: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAtMs: number | null;
  createdAtMs: number;
}
const toDelivery = (row: z.output<typeof DeliveryRowSchema>): Delivery => ({
  id: row.id,
  eventId: row.event_id,
  type: row.type,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAtMs: row.status === 'pending' ? row.next_attempt_at.getTime() : null,
  lastAttemptAtMs: row.last_attempt_at?.getTime() ?? null,
  lastStatus: row.last_status,
  lastError: row.last_error,
  deliveredAtMs: row.delivered_at?.getTime() ?? null,
  createdAtMs: row.created_at.getTime(),
});
const DELIVERY_COLUMNS = `d.id::text, ev.id AS event_id, ev.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, ev.created_at
  FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq`;

/** An endpoint's delivery log, newest first: `id < before`, one row more than the page to know if another follows. */
export async function listDeliveries(db: Db, endpointId: string, options: { limit: number; before: string | null }): Promise<{ deliveries: Delivery[]; more: boolean }> {
  const { rows } = await db.query(
    `SELECT ${DELIVERY_COLUMNS} WHERE d.endpoint_id = $1 AND ($2::bigint IS NULL OR d.id < $2::bigint) ORDER BY d.id DESC LIMIT $3`,
    [endpointId, options.before, options.limit + 1],
  );
  const parsed = parseRows(DeliveryRowSchema, rows, 'webhook deliveries').map(toDelivery);
  return { deliveries: parsed.slice(0, options.limit), more: parsed.length > options.limit };
}

/**
 * Replay: the delivery is pending again, due now, with a day from now to succeed; its event keeps its id
 * (receivers deduplicate it). Null when the delivery is not one of that endpoint's.
 */
export async function requeueDelivery(db: Db, endpointId: string, deliveryId: string, nowMs: number): Promise<Delivery | null> {
  const { rows } = await db.query(
    `WITH requeued AS (
       UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, deadline_at = $4, delivered_at = NULL
        WHERE id = $2::bigint AND endpoint_id = $1 RETURNING *
     )
     SELECT ${DELIVERY_COLUMNS.replace('webhook_deliveries d', 'requeued d')}`,
    [endpointId, deliveryId, new Date(nowMs), new Date(nowMs + DELIVERY_WINDOW_MS)],
  );
  const row = parseFirstRow(DeliveryRowSchema, rows, 'webhook delivery');
  return row ? toDelivery(row) : null;
}

/** Key rotation: the endpoints' signing secrets moved to the current PII key (their owner's part of it). */
export function reencryptSecrets(pool: Pool, vault: PiiVault): Promise<number> {
  return reencryptColumn(pool, vault, { table: 'webhook_endpoints', key: 'id', column: 'secret', purpose: 'webhookSecret' });
}
