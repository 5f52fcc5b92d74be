import { fetchPoints as fetchAllocationPoints, firstCommitMinute, openPointCursor } from '../ledger/allocation-points.js';
import { createJobWatermark, lockJobWatermark, readJobWatermark, saveJobWatermark } from '../shared/db/job-watermarks.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import type { UsagePoint } from './usage-line.js';

/**
 * The exporter's storage: its watermark (a row of `job_watermarks`, src/shared/db/job-watermarks.ts) and
 * the points it reads from the ledger's allocations (src/ledger/allocation-points.ts). No SQL here.
 */

/** The exporter's row in `job_watermarks` (migration 0003): everything committed before it is exported. */
export const EXPORT_JOB = 'timeseries-export';

/**
 * Creates the watermark the first time the exporter runs against a database: at the first commit minute
 * in the ledger, so enabling InfluxDB on a running system backfills its history (in windows, resumable),
 * or at `untilMs` when the ledger is empty. Never moves an existing watermark.
 */
export async function ensureWatermark(pool: Pool, untilMs: number): Promise<void> {
  if ((await readJobWatermark(pool, EXPORT_JOB)) !== null) return;
  // The full scan of firstCommitMinute is paid once, when the row does not exist yet.
  await createJobWatermark(pool, EXPORT_JOB, (await firstCommitMinute(pool)) ?? untilMs);
}

/** The watermark, locked until the transaction ends: exporters in several service instances take turns. */
export async function lockWatermark(client: PoolClient): Promise<number> {
  const watermark = await lockJobWatermark(client, EXPORT_JOB);
  if (watermark === null) throw new Error(`job_watermarks has no '${EXPORT_JOB}' row; ensureWatermark runs first`);
  return watermark;
}

export const saveWatermark = (client: PoolClient, watermarkMs: number): Promise<void> => saveJobWatermark(client, EXPORT_JOB, watermarkMs);

export { openPointCursor };

/** The next `count` points of the cursor (the allocation's payer is the point's sponsor); fewer (or none) at its end. */
export async function fetchPoints(client: PoolClient, count: number): Promise<UsagePoint[]> {
  return (await fetchAllocationPoints(client, count)).map(({ payer, ...point }) => ({ ...point, sponsor: payer }));
}
