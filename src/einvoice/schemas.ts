import { z } from 'zod';
import { MoneySchema } from '../api/schemas.js';

/**
 * The e-invoice of a SIM order (DESIGN 6) as the API shows it, as zod schemas: the routes serialise with
 * them, the OpenAPI at /docs is generated from them, and the service's types are their `z.output`.
 */

export const InvoiceStatusSchema = z.enum(['pending', 'issued', 'rejected']);
export type InvoiceStatus = z.output<typeof InvoiceStatusSchema>;

/** Why a red-letter invoice reverses a blue one: 销货退回 before activation, 服务中止 after. */
export const RedReasonSchema = z.enum(['SALES_RETURN', 'SERVICE_TERMINATION']);
export type RedReason = z.output<typeof RedReasonSchema>;

/** One line of an invoice; also how the items are stored (jsonb). */
export const InvoiceItemSchema = z.object({
  name: z.string(),
  quantity: z.number().int(),
  unit: z.string(),
  /** tax-exclusive, decimal string with 2 decimals */
  unitPrice: MoneySchema,
  amount: MoneySchema,
  /** decimal string, e.g. "0.06" */
  taxRate: z.string(),
  tax: MoneySchema,
});
export type InvoiceItem = z.output<typeof InvoiceItemSchema>;

export const InvoiceSchema = z.object({
  id: z.string(),
  kind: z.enum(['blue', 'red']),
  status: InvoiceStatusSchema,
  number: z.string().nullable().meta({ description: '20 digits (数电发票)' }),
  originalNumber: z.string().nullable(),
  redReason: RedReasonSchema.nullable(),
  orderId: z.string(),
  externalOrderId: z.string(),
  iccid: z.string(),
  seller: z.object({ name: z.string(), taxId: z.string() }),
  buyer: z.object({ name: z.string().meta({ description: 'masked' }) }),
  currency: z.string(),
  items: z.array(InvoiceItemSchema),
  amount: MoneySchema,
  tax: MoneySchema,
  total: MoneySchema,
  createdAt: z.string(),
  issuedAt: z.string().nullable(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
});
/** An e-invoice in a reply: the buyer masked, everything else as issued. */
export type InvoiceView = z.output<typeof InvoiceSchema>;
