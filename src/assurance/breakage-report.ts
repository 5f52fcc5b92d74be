import { jsonBytes } from '../billing/usage-query.js';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { BYTES_PER_MIB, formatMinor } from '../shared/money.js';
import { packsExpiredBetween, packsPurchasedBetween } from '../vehicles/pack-breakage.js';
import { computeBreakage } from './breakage.js';
import { startedMonth } from './month.js';
import type { Breakage } from './schemas.js';

export interface BreakageDeps {
  pool: Pool;
  clock: Clock;
  catalog(): Catalog;
}

/** `GET /v1/breakage?month=` (billing timezone): packs sold in the month, and the packs that expired in it. */
export function createBreakageReport(deps: BreakageDeps) {
  return {
    async month(month: string): Promise<Breakage> {
      const catalog = deps.catalog();
      const tz = catalog.billing.timezone;
      const now = deps.clock.now();
      const { from, to } = startedMonth(month, tz, now);
      const { sold, expired } = await withTransaction(deps.pool, async (db) => {
        await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        return { sold: await packsPurchasedBetween(db, from, to), expired: await packsExpiredBetween(db, from, to, new Date(now)) };
      });
      const products = catalog.packs.map((p) => ({ id: p.id, price: p.price, sizeBytes: BigInt(p.sizeMiB) * BYTES_PER_MIB }));
      const figures = computeBreakage(products, sold, expired);
      return {
        month,
        currency: catalog.billing.currency,
        packs: figures.map((f) => ({
          pack: f.pack,
          price: formatMinor(f.priceMinor),
          sizeBytes: jsonBytes(f.sizeBytes),
          sold: { packs: f.sold.packs, bytes: jsonBytes(f.sold.bytes), revenue: formatMinor(f.sold.revenueMinor) },
          expired: { packs: f.expired.packs, bytesSold: jsonBytes(f.expired.bytesSold), bytesUsed: jsonBytes(f.expired.bytesUsed), bytesUnused: jsonBytes(f.expired.bytesUnused), unusedRevenue: formatMinor(f.expired.unusedRevenueMinor) },
        })),
        totals: {
          soldRevenue: formatMinor(figures.reduce((a, f) => a + f.sold.revenueMinor, 0n)),
          unusedRevenue: formatMinor(figures.reduce((a, f) => a + f.expired.unusedRevenueMinor, 0n)),
          bytesUnused: jsonBytes(figures.reduce((a, f) => a + f.expired.bytesUnused, 0n)),
        },
      };
    },
  };
}

export type BreakageReport = ReturnType<typeof createBreakageReport>;

export function* breakageCsv(report: Breakage): Generator<string> {
  yield 'pack,price,size_bytes,sold_packs,sold_bytes,sold_revenue,expired_packs,expired_bytes_sold,expired_bytes_used,expired_bytes_unused,unused_revenue\n';
  for (const p of report.packs) {
    yield `${p.pack},${p.price},${p.sizeBytes},${p.sold.packs},${p.sold.bytes},${p.sold.revenue},${p.expired.packs},${p.expired.bytesSold},${p.expired.bytesUsed},${p.expired.bytesUnused},${p.expired.unusedRevenue}\n`;
  }
}
