import type { EinvoiceService } from '../einvoice/service.js';
import type { MerchantRepository } from '../merchants/repository.js';
import type { Inventory } from '../sims/inventory.js';
import type { Views } from '../sims/views.js';

/**
 * What the merchant portal reads, and from whom. The portal owns no query of its own where the merchant
 * API has one: the SIM module hands over the very objects its `/v1/merchants/…` and `/v1/sims/…` routes use
 * (`createSimModule(…).readers`), so personal data is decrypted and masked in one place (`sims/views.ts`,
 * `shared/pii.ts`) and a page cannot disagree with the API. Settlement is `sims/settlement.ts`, the order pages'
 * selection `listMerchantOrders` of `sims/repository.ts`, both the API's own.
 */
export interface MerchantReaders {
  merchants: Pick<MerchantRepository, 'find' | 'list'>;
  /** the paginated card list (MSISDN masked) */
  inventory: Pick<Inventory, 'list'>;
  /** the masked card, order and audit-event views of the API */
  views: Pick<Views, 'sim' | 'order' | 'event'>;
  einvoices: Pick<EinvoiceService, 'forOrder' | 'listForMerchant'>;
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
