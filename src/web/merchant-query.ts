import type { EinvoiceService } from '../einvoice/service.js';
import type { MerchantRepository } from '../merchants/repository.js';
import type { Pool } from '../shared/db/pool.js';
import type { Inventory } from '../sims/inventory.js';
import type { OrderRow } from '../sims/repository.js';
import type { Views } from '../sims/views.js';

/**
 * What the merchant portal reads, and from whom. The portal owns no query of its own where the merchant
 * API has one: the SIM module hands over the very objects its `/v1/merchants/…` and `/v1/sims/…` routes use
 * (`createSimModule(…).readers`), so personal data is decrypted and masked in one place (`sims/views.ts`,
 * `shared/pii.ts`) and a page cannot disagree with the API. Settlement is `merchants/settlement.ts`.
 */
export interface MerchantReaders {
  merchants: Pick<MerchantRepository, 'find' | 'list'>;
  /** the paginated card list (MSISDN masked) */
  inventory: Pick<Inventory, 'list'>;
  /** the masked card, order and audit-event views of the API */
  views: Pick<Views, 'sim' | 'order' | 'event'>;
  einvoices: Pick<EinvoiceService, 'forOrder' | 'listForMerchant'>;
}

/**
 * A merchant's orders created or refunded in [fromMs, toMs), by id, after the cursor — the selection of
 * `GET /v1/merchants/{id}/orders`. That route keeps its SQL inline (src/merchants/routes.ts); this is the
 * same statement, to be replaced by a shared `merchants/repository.ts` function once one exists.
 */
export async function listMerchantOrders(
  pool: Pick<Pool, 'query'>,
  merchantId: string,
  range: { fromMs: number; toMs: number },
  page: { limit: number; after: string | null },
): Promise<{ orders: OrderRow[]; nextCursor: string | null }> {
  const { rows } = await pool.query<OrderRow>(
    `SELECT * FROM sim_orders WHERE merchant_id = $1 AND ((created_at >= $2 AND created_at < $3) OR (refunded_at >= $2 AND refunded_at < $3))
       AND ($4::bigint IS NULL OR id > $4) ORDER BY id LIMIT $5`,
    [merchantId, new Date(range.fromMs), new Date(range.toMs), page.after, page.limit + 1],
  );
  const orders = rows.slice(0, page.limit);
  return { orders, nextCursor: rows.length > page.limit ? orders[orders.length - 1]!.id : null };
}

/** `fn` over `items` with at most `concurrency` at a time, in order: a page view never takes the whole pool. */
export async function mapLimited<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
