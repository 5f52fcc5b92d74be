import type { Pool, PoolClient } from '../shared/db/pool.js';

/**
 * The billing side of `allocations` and `rollup_app_month`: which allocations an invoice covers. Billing
 * (src/billing) decides when and what to invoice; these functions mark, release and read the allocations,
 * inside billing's transaction.
 */

type Db = Pick<Pool | PoolClient, 'query'>;

/** An invoice's line before rating: the bytes of one (app, kind, usage month, price). */
export interface StampedLine {
  app: string;
  kind: 'sponsored' | 'overage';
  usageMonth: string;
  price: string;
  bytes: bigint;
}

/**
 * Marks every billable allocation of `payer` up to `month` not yet invoiced as invoiced by `invoiceId`,
 * and returns them summed per line key (DESIGN 4.3).
 */
export async function stampAllocations(client: PoolClient, invoiceId: string, payer: string, month: string): Promise<StampedLine[]> {
  const { rows } = await client.query<{ app: string; kind: 'sponsored' | 'overage'; usage_month: string; price: string; bytes: string }>(
    `WITH stamped AS (
       UPDATE allocations SET invoice_id = $1
        WHERE payer = $2 AND usage_month <= $3 AND invoice_id IS NULL AND kind IN ('sponsored', 'overage')
       RETURNING app, kind, usage_month, price_per_gib, bytes)
     SELECT app, kind, to_char(usage_month, 'YYYY-MM') AS usage_month, price_per_gib::text AS price, sum(bytes)::text AS bytes
       FROM stamped GROUP BY app, kind, usage_month, price_per_gib`,
    [invoiceId, payer, `${month}-01`],
  );
  return rows.map((r) => ({ app: r.app, kind: r.kind, usageMonth: r.usage_month, price: r.price, bytes: BigInt(r.bytes) }));
}

/** A voided invoice's allocations are free again: the next close invoices them (as adjustments). */
export async function releaseAllocations(client: PoolClient, invoiceId: string): Promise<void> {
  await client.query('UPDATE allocations SET invoice_id = NULL WHERE invoice_id = $1', [invoiceId]);
}

/** Each payer with billable usage up to `month`, and the first month it has any (from the monthly rollup). */
export async function payersWithUsage(db: Db, month: string): Promise<Array<{ payer: string; firstMonth: string }>> {
  const { rows } = await db.query<{ sponsor: string; first: string }>(
    "SELECT sponsor, to_char(min(usage_month), 'YYYY-MM') AS first FROM rollup_app_month WHERE usage_month <= $1 GROUP BY sponsor ORDER BY sponsor",
    [`${month}-01`],
  );
  return rows.map((r) => ({ payer: r.sponsor, firstMonth: r.first }));
}

/** Up to `limit` VINs an invoice covers after `after`, in order (index `allocations_invoice`). */
export async function invoicedVins(db: Db, invoiceId: string, after: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ vin: string }>('SELECT DISTINCT vin FROM allocations WHERE invoice_id = $1 AND vin > $2 ORDER BY vin LIMIT $3', [invoiceId, after, limit]);
  return rows.map((r) => r.vin);
}

/** An invoice's bytes for these vehicles per (vin, usage month, app, kind, price), in that order. */
export async function invoicedVehicleLines(db: Db, invoiceId: string, vins: readonly string[]) {
  const { rows } = await db.query<{ vin: string; app: string; kind: string; month: string; price: string; bytes: string }>(
    `SELECT vin, app, kind, to_char(usage_month, 'YYYY-MM') AS month, price_per_gib::text AS price, sum(bytes)::text AS bytes
       FROM allocations WHERE invoice_id = $1 AND vin = ANY($2::text[])
      GROUP BY vin, app, kind, usage_month, price_per_gib ORDER BY vin, usage_month, app, kind, price_per_gib`,
    [invoiceId, vins],
  );
  return rows;
}
