import { compileFunding, overageFor } from '../allocate/index.js';
import type { UnreportedTotals } from '../billing/close-period.js';
import type { Catalog } from '../catalog/index.js';
import type { Pool } from '../shared/db/pool.js';
import { dateOnlyToInstant, nextMonth } from '../shared/time.js';
import type { CardBinding } from '../vehicles/card-history.js';
import { unexplainedBytes, type CardDay } from './reconcile.js';
import type { ReconciliationService } from './reconciliation.js';
import { firstCarrierMonth } from './repository.js';

/**
 * `billing.unreported: overage` (issue 13): the unexplained bytes of each card-day (`under`, `carrier_only`)
 * belong to the vehicle that held the card that day, and are invoiced to that vehicle's overage payer at its
 * overage price (DESIGN 4 `overage`), per usage month (the carrier month) and price. A card no vehicle held
 * that day is reported, never invoiced. Totals as they stand now: the close invoices the difference.
 */
export function createUnreportedTotals(deps: { pool: Pool; catalog(): Catalog; reconciliation: ReconciliationService; carrierTimezone: string }): UnreportedTotals {
  return async (sponsor, month) => {
    const first = await firstCarrierMonth(deps.pool);
    if (first === null || first > month) return [];
    const funding = compileFunding(deps.catalog());
    const totals = new Map<string, { usageMonth: string; pricePerGiB: string; bytes: bigint }>();
    for (let m = first; m <= month; m = nextMonth(m)) {
      const { cardDays, bindings } = await deps.reconciliation.cardDays(m);
      for (const cd of cardDays) {
        const bytes = unexplainedBytes(cd);
        if (bytes === 0n) continue;
        const holder = holderOf(cd, bindings, deps.carrierTimezone);
        if (!holder) continue;
        const overage = overageFor(funding, holder.automaker);
        if (overage.payer !== sponsor) continue;
        const key = `${m} ${overage.pricePerGiB}`;
        const entry = totals.get(key) ?? { usageMonth: m, pricePerGiB: overage.pricePerGiB, bytes: 0n };
        entry.bytes += bytes;
        totals.set(key, entry);
      }
    }
    return [...totals.values()];
  };
}

/** The vehicle that reported on the card that day, else the last one bound to it during that day. */
function holderOf(cd: CardDay, bindings: readonly CardBinding[], timezone: string): CardBinding | undefined {
  const start = dateOnlyToInstant(cd.day, timezone);
  const end = start + 86_400_000;
  const during = bindings.filter((b) => b.iccid === cd.iccid && (b.validFrom === null || b.validFrom.getTime() < end) && (b.validTo === null || b.validTo.getTime() > start));
  return during.find((b) => cd.vins.includes(b.vin)) ?? during.at(-1);
}
