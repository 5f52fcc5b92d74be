import { z } from 'zod';

/** A merchant as the API shows it (DESIGN 6); the repository's type is its `z.output`. */
export const MerchantSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** unified social credit code (GB 32100): the seller's tax id on e-invoices */
  taxId: z.string(),
  createdAt: z.string(),
});
export type Merchant = z.output<typeof MerchantSchema>;
