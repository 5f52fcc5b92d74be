import type { Pool, PoolClient } from '../shared/db/pool.js';
import type { UsagePoint } from './usage-line.js';
import type { ExportWindow } from './windows.js';

/** The exporter's row in `job_watermarks` (migration 0003): everything committed before it is exported. */
export const EXPORT_JOB = 'timeseries-export';

const CURSOR = 'timeseries_points';

/** Minute bins from a fixed UTC origin: independent of the session time zone (date_trunc is not). */
const MINUTE_OF = (column: string) => `date_bin('1 minute', ${column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')`;

/**
 * Creates the watermark the first time the exporter runs against a database: at the first commit minute
 * in the ledger, so enabling InfluxDB on a running system backfills its history (in windows, resumable),
 * or at `untilMs` when the ledger is empty. Never moves an existing watermark.
 */
export async function ensureWatermark(pool: Pool, untilMs: number): Promise<void> {
  const found = await pool.query('SELECT 1 FROM job_watermarks WHERE job = $1', [EXPORT_JOB]);
  if (found.rowCount !== 0) return;
  // min() over a BRIN index is a full scan: paid once, when the row does not exist yet.
  await pool.query(
    `INSERT INTO job_watermarks (job, watermark)
     SELECT $1, coalesce(${MINUTE_OF('min(committed_at)')}, $2) FROM allocations
     ON CONFLICT (job) DO NOTHING`,
    [EXPORT_JOB, new Date(untilMs)],
  );
}

/** The watermark, locked until the transaction ends: exporters in several service instances take turns. */
export async function lockWatermark(client: PoolClient): Promise<number> {
  const { rows } = await client.query<{ watermark: Date }>('SELECT watermark FROM job_watermarks WHERE job = $1 FOR UPDATE', [EXPORT_JOB]);
  if (!rows[0]) throw new Error(`job_watermarks has no '${EXPORT_JOB}' row; ensureWatermark runs first`);
  return rows[0].watermark.getTime();
}

export async function readWatermark(pool: Pool): Promise<number | null> {
  const { rows } = await pool.query<{ watermark: Date }>('SELECT watermark FROM job_watermarks WHERE job = $1', [EXPORT_JOB]);
  return rows[0]?.watermark.getTime() ?? null;
}

export async function saveWatermark(client: PoolClient, watermarkMs: number): Promise<void> {
  await client.query('UPDATE job_watermarks SET watermark = $2 WHERE job = $1', [EXPORT_JOB, new Date(watermarkMs)]);
}

/**
 * Opens a cursor over the points that allocations committed in `window` change. Points are keyed by the
 * record's start minute, so an allocation committed now may belong to a minute exported long ago: every
 * (vehicle, start minute) the window touches is summed again over *all* its allocations, whenever they
 * were committed, and the point is rewritten with that full sum (never the window's increment).
 *
 * Index use (migration 0008): the BRIN on committed_at finds the window's rows; the btree on
 * (vin, start_at) gives each touched (vehicle, minute) its allocations. The usage_month bounds (±2 days
 * cover every zone offset between the session's zone and the billing zone) let PostgreSQL skip the other
 * monthly partitions.
 */
export async function openPointCursor(client: PoolClient, window: ExportWindow): Promise<void> {
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
export async function fetchPoints(client: PoolClient, count: number): Promise<UsagePoint[]> {
  const { rows } = await client.query<{ minute_ms: string; vin: string; app: string; payer: string; kind: string; bytes: string }>(`FETCH ${Math.trunc(count)} FROM ${CURSOR}`);
  return rows.map((row) => ({ minuteMs: Number(row.minute_ms), vin: row.vin, app: row.app, sponsor: row.payer, kind: row.kind, bytes: BigInt(row.bytes) }));
}
