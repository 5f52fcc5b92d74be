import type { Logger } from 'pino';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { monthOf, startOfMonth } from '../shared/time.js';
import { reevaluateFunding } from './funding.js';
import type { OutboxPublisher } from './outbox-publisher.js';

const JOB = 'funding-sweep';
const CHUNK = 500;

/**
 * DESIGN 3.3: funding is re-evaluated when a pack expires and at each billing-month start, not only
 * after allocations. Each run looks at (watermark, now]: vehicles whose pack expired in it, and — when a
 * month started in it — every vehicle blocked for FUNDS_EXHAUSTED (caps begin again). The watermark is
 * kept in PostgreSQL and the run holds an advisory lock, so several instances and restarts are safe.
 */
export function createFundingSweeper(deps: { pool: Pool; runtime: () => CatalogRuntime; clock: Clock; outbox: OutboxPublisher; logger: Logger }) {
  const log = deps.logger.child({ component: 'funding-sweeper' });

  async function runOnce(): Promise<number> {
    const nowMs = deps.clock.now();
    const runtime = deps.runtime();
    const claimed = await withTransaction(deps.pool, async (client) => {
      const lock = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext('funding-sweep')) AS ok");
      if (!lock.rows[0]?.ok) return null;
      const { rows } = await client.query<{ watermark: Date }>('SELECT watermark FROM job_watermarks WHERE job = $1 FOR UPDATE', [JOB]);
      const saveWatermark = () =>
        client.query('INSERT INTO job_watermarks (job, watermark) VALUES ($1, $2) ON CONFLICT (job) DO UPDATE SET watermark = EXCLUDED.watermark', [JOB, new Date(nowMs)]);
      if (!rows[0]) {
        // First run on this database: nothing before now was watched, and ingest keeps controls current.
        await saveWatermark();
        return null;
      }
      const from = rows[0].watermark.getTime();
      if (from >= nowMs) return null;
      const expired = await client.query<{ vin: string }>('SELECT DISTINCT vin FROM pack_instances WHERE expires_at > $1 AND expires_at <= $2', [new Date(from), new Date(nowMs)]);
      const vins = new Set(expired.rows.map((r) => r.vin));
      const monthStart = startOfMonth(monthOf(nowMs, runtime.timezone), runtime.timezone);
      if (from < monthStart) {
        const blocked = await client.query<{ vin: string }>("SELECT DISTINCT vin FROM control_states WHERE 'FUNDS_EXHAUSTED' = ANY(reasons)");
        for (const row of blocked.rows) vins.add(row.vin);
      }
      await saveWatermark();
      return [...vins].sort();
    });
    if (!claimed) return 0;
    for (let i = 0; i < claimed.length; i += CHUNK) {
      const chunk = claimed.slice(i, i + CHUNK);
      const outbox = await withTransaction(deps.pool, (client) => reevaluateFunding(client, runtime, chunk, nowMs));
      await deps.outbox.send(outbox);
    }
    if (claimed.length > 0) log.info({ vehicles: claimed.length }, 'funding re-evaluated');
    return claimed.length;
  }

  return { runOnce };
}
