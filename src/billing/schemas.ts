import { z } from 'zod';
import { BILLED_KINDS } from '../allocate/index.js';

/**
 * The billing replies of DESIGN 5 — usage and invoices — as zod schemas: the routes serialise with them, the
 * OpenAPI at /docs is generated from them, and the TypeScript types of the replies are their `z.output`.
 */

/** DESIGN 4.3: the kind of a usage or invoice line. */
/** `unreported`: carrier bytes no record explains, invoiced when the catalog says `billing.unreported: overage` (issue 13). */
export const LineKindSchema = z.enum([...BILLED_KINDS, 'unreported']);
export type LineKind = z.output<typeof LineKindSchema>;

const Money = z.string().meta({ example: '12.34', description: 'decimal string, 2 decimals' });
const Bytes = z.number().int().min(0).meta({ description: 'bytes, exact (< 2^53)' });
const priced = {
  app: z.string(),
  kind: LineKindSchema,
  bytes: Bytes,
  pricePerGiB: z.string().meta({ example: '4.00', description: 'as in the catalog, at least 2 decimals' }),
  amount: Money,
};
// Strict objects: in the union, a day or vehicle line must not be mistaken for an app line with keys dropped.
export const AppLineSchema = z.strictObject(priced);
export const DayLineSchema = z.strictObject({ day: z.string().meta({ example: '2026-11-03' }), ...priced });
export const VehicleLineSchema = z.strictObject({ vin: z.string(), ...priced });

/** `GET /v1/sponsors/{id}/usage`. */
export const UsageReplySchema = z.object({
  sponsor: z.string(),
  month: z.string(),
  currency: z.string(),
  lines: z.union([z.array(AppLineSchema), z.array(DayLineSchema), z.array(VehicleLineSchema)]),
  totalBytes: Bytes,
  totalAmount: Money,
  nextCursor: z.string().nullable().optional().meta({ description: 'groupBy=vehicle: pass as `cursor` for the next page; null on the last page' }),
});

export type AppLine = z.output<typeof AppLineSchema>;
export type DayLine = z.output<typeof DayLineSchema>;
export type VehicleLine = z.output<typeof VehicleLineSchema>;
export type SponsorUsage = z.output<typeof UsageReplySchema>;
/** The usage reply of one `groupBy`, its lines of that one shape. */
export type UsageOf<Line extends AppLine | DayLine | VehicleLine> = Omit<SponsorUsage, 'lines'> & { lines: Line[] };

const InvoiceLineSchema = z.object({
  app: z.string(),
  kind: LineKindSchema,
  usageMonth: z.string(),
  bytes: z.number().int(),
  pricePerGiB: z.string(),
  amount: z.string(),
  taxRate: z.string(),
  tax: z.string(),
});

/** `GET /v1/sponsors/{id}/invoices/{invoiceId}`, and each item of the list. */
export const InvoiceSchema = z.object({
  id: z.string(),
  number: z.string(),
  sponsor: z.string(),
  month: z.string(),
  status: z.enum(['issued', 'void']),
  issuedAt: z.string(),
  currency: z.string(),
  lines: z.array(InvoiceLineSchema),
  subtotal: z.string(),
  tax: z.string(),
  total: z.string(),
});

/** The invoice JSON of DESIGN 5, exactly. */
export type InvoiceJson = z.output<typeof InvoiceSchema>;
