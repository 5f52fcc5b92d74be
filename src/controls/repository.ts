import { sendAll, type Pool, type PoolClient } from '../shared/db/pool.js';
import { controlTopic } from '../mqtt/topics.js';
import { controlMessage, withReason, type ControlReason } from './reasons.js';
import type { ControlView } from './schemas.js';

export interface ControlChange {
  vin: string;
  app: string;
  reason: ControlReason;
  present: boolean;
}

export interface OutboxEntry {
  id: string;
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

/**
 * Applies reason changes inside the caller's transaction (DESIGN 3.3): per (vehicle, app) the reason set
 * and a rev raised only when the set changes, and the control message queued in the outbox of the same
 * transaction. Rows are locked in (vin, app) order so concurrent writers cannot deadlock.
 */
export async function applyControlChanges(client: PoolClient, changes: readonly ControlChange[], nowMs: number, formatAt: (ms: number) => string): Promise<OutboxEntry[]> {
  if (changes.length === 0) return [];
  const state = await lockControlStates(client, changes);
  return writeControlChanges(client, state, changes, nowMs, formatAt);
}

export type ControlStates = ReadonlyMap<string, { reasons: ControlReason[]; rev: number }>;

/**
 * Locks the control rows of the given (vin, app) keys in key order (FOR UPDATE) and returns their state.
 * The batch writer locks the keys it may change before allocating, in the same round trip as the funding.
 */
export async function lockControlStates(client: PoolClient, keys: ReadonlyArray<{ vin: string; app: string }>): Promise<ControlStates> {
  if (keys.length === 0) return new Map();
  const sorted = [...new Set(keys.map((c) => `${c.vin}\u0000${c.app}`))].sort();
  const vins = sorted.map((k) => k.split('\u0000')[0]!);
  const apps = sorted.map((k) => k.split('\u0000')[1]!);
  const { rows } = await client.query<{ vin: string; app: string; reasons: ControlReason[]; rev: number }>(
    `SELECT c.vin, c.app, c.reasons, c.rev FROM control_states c
       JOIN unnest($1::text[], $2::text[]) AS k(vin, app) ON c.vin = k.vin AND c.app = k.app
      ORDER BY c.vin, c.app FOR UPDATE OF c`,
    [vins, apps],
  );
  return new Map(rows.map((r) => [`${r.vin}\u0000${r.app}`, { reasons: r.reasons, rev: r.rev }]));
}

/**
 * Applies changes to states read by `lockControlStates` in this transaction; the statements are issued
 * together (one round trip on a pipelined connection). Returns the control messages queued.
 */
export function writeControlChanges(client: PoolClient, state: ControlStates, changes: readonly ControlChange[], nowMs: number, formatAt: (ms: number) => string): Promise<OutboxEntry[]> {
  const changed = new Map<string, { vin: string; app: string; reasons: ControlReason[]; rev: number }>();
  for (const change of changes) {
    const key = `${change.vin}\u0000${change.app}`;
    const current = changed.get(key) ?? state.get(key) ?? { reasons: [], rev: 0 };
    const next = withReason(current.reasons, change.reason, change.present);
    if (!next) continue;
    const base = state.get(key)?.rev ?? 0;
    changed.set(key, { vin: change.vin, app: change.app, reasons: next, rev: base + 1 });
  }
  if (changed.size === 0) return Promise.resolve([]);
  const list = [...changed.values()].sort((a, b) => (a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
  const at = new Date(nowMs);
  const messages = list.map((c) => ({ topic: controlTopic(c.vin, c.app), payload: JSON.stringify(controlMessage(c.app, c.reasons, c.rev, formatAt(nowMs))), qos: 1 as const, retain: true }));
  return sendAll(client, [
    () =>
      client.query(
    `INSERT INTO control_states (vin, app, reasons, rev, changed_at)
     SELECT vin, app, coalesce(string_to_array(reasons, ','), '{}'), rev, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS u(vin, app, reasons, rev)
     ON CONFLICT (vin, app) DO UPDATE SET reasons = EXCLUDED.reasons, rev = EXCLUDED.rev, changed_at = EXCLUDED.changed_at`,
    [list.map((c) => c.vin), list.map((c) => c.app), list.map((c) => (c.reasons.length ? c.reasons.join(',') : null)), list.map((c) => c.rev), at],
      ),
    () => enqueue(client, messages, at),
    // The rev history (migration 0017), in the same round trip; a rev already recorded is left as it is.
    () =>
      client.query(
        `INSERT INTO control_state_history (vin, app, rev, reasons, changed_at)
         SELECT vin, app, rev, coalesce(string_to_array(reasons, ','), '{}'), $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS u(vin, app, reasons, rev)
         ON CONFLICT (vin, app, rev) DO NOTHING`,
        [list.map((c) => c.vin), list.map((c) => c.app), list.map((c) => (c.reasons.length ? c.reasons.join(',') : null)), list.map((c) => c.rev), at],
      ),
  ]).then(([, entries]) => entries);
}

/** One rev of a (vehicle, app) control state: the reasons it had from `changedAt` on. */
export interface ControlRevision {
  app: string;
  rev: number;
  reasons: ControlReason[];
  changedAt: string;
}

/**
 * A vehicle's control history, newest first, at most `limit` revs (the operator console): one read of the
 * primary key's vin prefix. Revs before migration 0017 were not kept: a state's history starts at its rev then.
 */
export async function controlHistory(db: Pick<Pool, 'query'>, vin: string, limit: number): Promise<ControlRevision[]> {
  const { rows } = await db.query<{ app: string; rev: number; reasons: ControlReason[]; changed_at: Date }>(
    'SELECT app, rev, reasons, changed_at FROM control_state_history WHERE vin = $1 ORDER BY changed_at DESC, app, rev DESC LIMIT $2',
    [vin, limit],
  );
  return rows.map((r) => ({ app: r.app, rev: r.rev, reasons: r.reasons, changedAt: r.changed_at.toISOString() }));
}

/** Queues messages in the outbox of the caller's transaction. */
export async function enqueue(client: PoolClient, messages: ReadonlyArray<Omit<OutboxEntry, 'id'>>, at: Date): Promise<OutboxEntry[]> {
  if (messages.length === 0) return [];
  const { rows } = await client.query<OutboxEntry>(
    `INSERT INTO outbox (topic, payload, qos, retain, created_at)
     SELECT topic, payload, qos, retain, $5 FROM unnest($1::text[], $2::text[], $3::smallint[], $4::boolean[]) AS u(topic, payload, qos, retain)
     RETURNING id, topic, payload, qos, retain`,
    [messages.map((m) => m.topic), messages.map((m) => m.payload), messages.map((m) => m.qos), messages.map((m) => m.retain), at],
  );
  return rows;
}

export async function listControls(client: Pool | PoolClient, vin: string): Promise<ControlView[]> {
  const { rows } = await client.query<{ app: string; reasons: ControlReason[]; rev: number; changed_at: Date }>(
    'SELECT app, reasons, rev, changed_at FROM control_states WHERE vin = $1 ORDER BY app',
    [vin],
  );
  return rows.map((r) => ({ app: r.app, action: r.reasons.length > 0 ? 'block' : 'allow', reasons: r.reasons, rev: r.rev, changedAt: r.changed_at.toISOString() }));
}

/** Does any vehicle have a control state for this app (the catalog may then not remove it)? */
export async function appHasControlStates(db: Pick<Pool, 'query'>, app: string): Promise<boolean> {
  return (await db.query('SELECT 1 FROM control_states WHERE app = $1 LIMIT 1', [app])).rows.length > 0;
}

/** Vehicles with some app controlled for `reason`. */
export async function vinsBlockedFor(db: Pick<Pool, 'query'>, reason: ControlReason): Promise<string[]> {
  const { rows } = await db.query<{ vin: string }>('SELECT DISTINCT vin FROM control_states WHERE $1 = ANY(reasons)', [reason]);
  return rows.map((r) => r.vin);
}

/** The outbox's backlog: messages waiting (counted up to `cap`) and the age of the oldest, in seconds. */
export async function outboxBacklog(db: Pick<Pool, 'query'>, cap: number): Promise<{ messages: number; oldestSeconds: number }> {
  // Both on the primary key: a capped count and the first row in id order (ids follow creation).
  const { rows } = await db.query<{ n: number; age: number | null }>(
    `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM outbox LIMIT $1) capped) AS n,
            (SELECT extract(epoch FROM now() - created_at)::float8 FROM outbox ORDER BY id LIMIT 1) AS age`,
    [cap],
  );
  return { messages: rows[0]?.n ?? 0, oldestSeconds: Math.max(0, rows[0]?.age ?? 0) };
}
