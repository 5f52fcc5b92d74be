import type { Logger } from 'pino';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { monthOf, startOfMonth } from '../shared/time.js';
import { lockJobWatermark, saveJobWatermark } from '../shared/db/job-watermarks.js';
import { vinsWithPacksExpiring } from '../vehicles/packs-repository.js';
import { reevaluateFunding } from './funding.js';
import { vinsBlockedFor } from './repository.js';
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
      const from = await lockJobWatermark(client, JOB);
      const saveWatermark = () => saveJobWatermark(client, JOB, nowMs);
      if (from === null) {
        // First run on this database: nothing before now was watched, and ingest keeps controls current.
        await saveWatermark();
        return null;
      }
      if (from >= nowMs) return null;
      const vins = new Set(await vinsWithPacksExpiring(client, from, nowMs));
      const monthStart = startOfMonth(monthOf(nowMs, runtime.timezone), runtime.timezone);
      if (from < monthStart) {
        for (const vin of await vinsBlockedFor(client, 'FUNDS_EXHAUSTED')) vins.add(vin);
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
