import type { Pool, PoolClient } from './pool.js';

/**
 * `job_watermarks` (migration 0003): one row per background job that works through time in windows (the
 * funding sweeper, the time-series exporter): everything before the watermark is done. The jobs own their
 * row's meaning; this module owns the table.
 */

type Db = Pick<Pool | PoolClient, 'query'>;

/** The job's watermark locked until the transaction ends (instances take turns), or null if it has none yet. */
export async function lockJobWatermark(client: PoolClient, job: string): Promise<number | null> {
  const { rows } = await client.query<{ watermark: Date }>('SELECT watermark FROM job_watermarks WHERE job = $1 FOR UPDATE', [job]);
  return rows[0]?.watermark.getTime() ?? null;
}

/** The job's watermark, or null if it has none yet. */
export async function readJobWatermark(db: Db, job: string): Promise<number | null> {
  const { rows } = await db.query<{ watermark: Date }>('SELECT watermark FROM job_watermarks WHERE job = $1', [job]);
  return rows[0]?.watermark.getTime() ?? null;
}

/** Sets the job's watermark, creating its row if needed. */
export async function saveJobWatermark(db: Db, job: string, watermarkMs: number): Promise<void> {
  await db.query('INSERT INTO job_watermarks (job, watermark) VALUES ($1, $2) ON CONFLICT (job) DO UPDATE SET watermark = EXCLUDED.watermark', [job, new Date(watermarkMs)]);
}

/** Creates the job's row at `watermarkMs` unless it exists (never moves an existing watermark). */
export async function createJobWatermark(db: Db, job: string, watermarkMs: number): Promise<void> {
  await db.query('INSERT INTO job_watermarks (job, watermark) VALUES ($1, $2) ON CONFLICT (job) DO NOTHING', [job, new Date(watermarkMs)]);
}
