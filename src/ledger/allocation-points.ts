import type { Pool, PoolClient } from '../shared/db/pool.js';

/**
 * The ledger's allocations summed per (vehicle, start minute, app, payer, kind): what the time-series
 * exporter (src/timeseries) writes as points. Read through a server-side cursor so memory stays flat.
 */

const CURSOR = 'timeseries_points';

/** Minute bins from a fixed UTC origin: independent of the session time zone (date_trunc is not). */
const MINUTE_OF = (column: string) => `date_bin('1 minute', ${column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')`;

export interface AllocationPoint {
  minuteMs: number;
  vin: string;
  app: string;
  payer: string;
  kind: string;
  bytes: bigint;
}

/** The minute of the first allocation committed (null: none yet). min() over a BRIN index is a full scan. */
export async function firstCommitMinute(pool: Pick<Pool, 'query'>): Promise<number | null> {
  const { rows } = await pool.query<{ minute: Date | null }>(`SELECT ${MINUTE_OF('min(committed_at)')} AS minute FROM allocations`);
  return rows[0]?.minute?.getTime() ?? null;
}

/**
 * Opens a cursor over the points that allocations committed in [fromMs, toMs) change. Points are keyed by
 * the record's start minute, so an allocation committed now may belong to a minute exported long ago:
 * every (vehicle, start minute) the window touches is summed again over *all* its allocations, whenever
 * they were committed, and the point is rewritten with that full sum (never the window's increment).
 *
 * Index use (migration 0008): the BRIN on committed_at finds the window's rows; the btree on
 * (vin, start_at) gives each touched (vehicle, minute) its allocations. The usage_month bounds (±2 days
 * cover every zone offset between the session's zone and the billing zone) let PostgreSQL skip the other
 * monthly partitions.
 */
export async function openPointCursor(client: PoolClient, window: { fromMs: number; toMs: number }): Promise<void> {
  await client.query(
    `DECLARE ${CURSOR} NO SCROLL CURSOR FOR
     WITH touched AS (
       SELECT DISTINCT vin, ${MINUTE_OF('start_at')} AS minute
         FROM allocations
        WHERE committed_at >= $1 AND committed_at < $2
     )
     SELECT (extract(epoch FROM t.minute) * 1000)::bigint::text AS minute_ms,
            a.vin, a.app, a.payer, a.kind, sum(a.bytes)::text AS bytes
       FROM touched t
       JOIN allocations a
         ON a.vin = t.vin
        AND a.start_at >= t.minute AND a.start_at < t.minute + interval '1 minute'
        AND a.usage_month >= date_trunc('month', t.minute - interval '2 days')::date
        AND a.usage_month <= (t.minute + interval '2 days')::date
      GROUP BY t.minute, a.vin, a.app, a.payer, a.kind`,
    [new Date(window.fromMs), new Date(window.toMs)],
  );
}

/** The next `count` points of the cursor; fewer (or none) at its end. */
export async function fetchPoints(client: PoolClient, count: number): Promise<AllocationPoint[]> {
  const { rows } = await client.query<{ minute_ms: string; vin: string; app: string; payer: string; kind: string; bytes: string }>(`FETCH ${Math.trunc(count)} FROM ${CURSOR}`);
  return rows.map((row) => ({ minuteMs: Number(row.minute_ms), vin: row.vin, app: row.app, payer: row.payer, kind: row.kind, bytes: BigInt(row.bytes) }));
}
