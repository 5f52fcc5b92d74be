import { applyControlChanges } from '../controls/repository.js';
import { withTransaction } from '../shared/db/pool.js';
import { monthOf } from '../shared/time.js';
import { lockVehicle } from '../vehicles/card-repository.js';
import { applyCardEffects, formatAtFor } from './card-effects.js';
import type { SimDeps } from './deps.js';
import { cardControlChanges } from './controls.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * The SIM lifecycle's periodic work (DESIGN 6), each step idempotent and safe with several instances
 * (every card is changed under its row lock):
 * 1. suspend active cards whose serviceUntil has passed (the scheduler's transition, audited as `scheduler`);
 * 2. grant the month's `monthlyPack` to active vehicle cards that do not have it yet (billing-month start);
 * 3. bring vehicle controls in line with their cards (a VIN bound or re-bound to a card after the card
 *    changed, or a vehicle whose card left the platform);
 * 4. retry e-invoices that are still pending (timeouts, outages), with backoff.
 */

export interface SimJobReport {
  suspended: number;
  monthlyPacks: number;
  controlsReconciled: number;
  einvoicesAttempted: number;
}

const CHUNK = 500;

export function createSimJobs(deps: SimDeps, lifecycle: Lifecycle) {
  const log = deps.logger.child({ component: 'sim-jobs' });

  async function suspendExpired(nowMs: number): Promise<number> {
    const { rows } = await deps.pool.query<{ iccid: string }>(`SELECT iccid FROM sims WHERE state = 'active' AND service_until <= $1 ORDER BY service_until, iccid LIMIT ${CHUNK}`, [new Date(nowMs)]);
    let suspended = 0;
    for (const { iccid } of rows) if (await lifecycle.expire(iccid, 'scheduler')) suspended += 1;
    return suspended;
  }

  async function grantMonthlyPacks(nowMs: number): Promise<number> {
    const month = monthOf(nowMs, deps.runtime().timezone);
    const { rows } = await deps.pool.query<{ iccid: string }>(
      `SELECT s.iccid FROM sims s JOIN vehicles v ON v.iccid = s.iccid
        WHERE s.state = 'active' AND (s.service_until IS NULL OR s.service_until > $1)
          AND EXISTS (SELECT 1 FROM sim_orders o WHERE o.iccid = s.iccid AND o.status = 'paid' AND o.applied_at IS NOT NULL AND o.monthly_pack_id IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM sim_pack_grants g WHERE g.iccid = s.iccid AND g.month = $2::date)
        ORDER BY s.iccid LIMIT ${CHUNK}`,
      [new Date(nowMs), `${month}-01`],
    );
    for (const { iccid } of rows) await lifecycle.onCard(iccid, { actor: 'scheduler', merchantId: null }, async (client, _sim, now) => ({ result: null, outbox: await applyCardEffects(client, deps, iccid, now) }));
    return rows.length;
  }

  async function reconcileControls(nowMs: number): Promise<number> {
    // `general` stands for the card's whole reason set: every change writes all apps in one transaction.
    const { rows: cards } = await deps.pool.query<{ iccid: string }>(
      `SELECT s.iccid FROM sims s JOIN vehicles v ON v.iccid = s.iccid LEFT JOIN control_states c ON c.vin = v.vin AND c.app = 'general'
        WHERE (s.state NOT IN ('inventory', 'test') AND v.owner_subject_id IS NULL) <> coalesce('REALNAME_REQUIRED' = ANY(c.reasons), false)
           OR (s.state IN ('suspended', 'retired')) <> coalesce('SIM_SUSPENDED' = ANY(c.reasons), false)
        LIMIT ${CHUNK}`,
    );
    for (const { iccid } of cards) await lifecycle.onCard(iccid, { actor: 'scheduler', merchantId: null }, async (client, _sim, now) => ({ result: null, outbox: await applyCardEffects(client, deps, iccid, now) }));
    const { rows: orphans } = await deps.pool.query<{ vin: string }>(
      `SELECT DISTINCT c.vin FROM control_states c LEFT JOIN vehicles v ON v.vin = c.vin LEFT JOIN sims s ON s.iccid = v.iccid
        WHERE c.reasons && ARRAY['REALNAME_REQUIRED', 'SIM_SUSPENDED']::text[] AND s.iccid IS NULL LIMIT ${CHUNK}`,
    );
    for (const { vin } of orphans) {
      const runtime = deps.runtime();
      const outbox = await withTransaction(deps.pool, async (client) => {
        await lockVehicle(client, vin);
        return applyControlChanges(client, cardControlChanges(vin, null, runtime.blockableApps), nowMs, formatAtFor(runtime));
      });
      await deps.outbox.send(outbox);
    }
    return cards.length + orphans.length;
  }

  async function runOnce(): Promise<SimJobReport> {
    const nowMs = deps.clock.now();
    const report = {
      suspended: await suspendExpired(nowMs),
      monthlyPacks: await grantMonthlyPacks(nowMs),
      controlsReconciled: await reconcileControls(nowMs),
      einvoicesAttempted: await deps.einvoices.retryDue(nowMs),
    };
    if (report.suspended + report.monthlyPacks + report.controlsReconciled + report.einvoicesAttempted > 0) log.info(report, 'sim lifecycle jobs ran');
    return report;
  }

  return { runOnce };
}

export type SimJobs = ReturnType<typeof createSimJobs>;
