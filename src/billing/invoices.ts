import { z } from 'zod';
import { RowIdSchema } from '../api/schemas.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';
import { formatInstant } from '../shared/time.js';
import { LineKindSchema, type InvoiceJson } from './schemas.js';
import { formatPricePerGiB } from './usage-query.js';

const PartyFields = { name: z.string(), taxId: z.string().nullable() };
/** Who sold and who bought, as stamped on the invoice at its close (jsonb). */
const SellerSchema = z.object({ ...PartyFields, address: z.string().optional() });
const BuyerSchema = z.object({ id: z.string(), ...PartyFields });

/** What the printable page needs beyond the JSON. */
export interface InvoiceDocument extends InvoiceJson {
  kind: 'invoice' | 'credit_note';
  creditsNumber: string | null;
  catalogVersion: string;
  seller: z.output<typeof SellerSchema>;
  buyer: z.output<typeof BuyerSchema>;
}

const InvoiceRowSchema = z.object({
  id: z.string(),
  sponsor: z.string(),
  month: z.string(),
  kind: z.enum(['invoice', 'credit_note']),
  credits_number: z.string().nullable(),
  number: z.string(),
  status: z.enum(['issued', 'void']),
  issued_at: z.date(),
  currency: z.string(),
  subtotal: z.string(),
  tax: z.string(),
  total: z.string(),
  catalog_version: z.string(),
  seller: SellerSchema,
  buyer: BuyerSchema,
});
type InvoiceRow = z.output<typeof InvoiceRowSchema>;

const InvoiceLineRowSchema = z.object({
  invoice_id: z.string(),
  app: z.string(),
  kind: LineKindSchema,
  usage_month: z.string(),
  bytes: z.string(),
  price: z.string(),
  amount: z.string(),
  tax_rate: z.string(),
  tax: z.string(),
});

const SELECT = `SELECT i.id::text, i.sponsor, to_char(i.period_month, 'YYYY-MM') AS month, i.kind, c.number AS credits_number, i.number, i.status, i.issued_at,
                       i.currency, i.subtotal::text, i.tax::text, i.total::text, i.catalog_version, i.seller, i.buyer
                  FROM invoices i LEFT JOIN invoices c ON c.id = i.credits_invoice_id`;

/** Stores normalise a rate to 4 decimals ("0.0600"); print it as the catalog does ("0.06"). */
function formatRate(stored: string): string {
  return stored.includes('.') ? stored.replace(/0+$/, '').replace(/\.$/, '') : stored;
}

export function createInvoiceQueries(pool: Pool, timezone: () => string) {
  async function withLines(client: Pool | PoolClient, rows: InvoiceRow[]): Promise<InvoiceDocument[]> {
    if (rows.length === 0) return [];
    const { rows: lineRows } = await client.query(
      `SELECT invoice_id::text, app, kind, to_char(usage_month, 'YYYY-MM') AS usage_month, bytes::text, price_per_gib::text AS price, amount::text, tax_rate::text, tax::text
         FROM invoice_lines WHERE invoice_id = ANY($1::bigint[]) ORDER BY invoice_id, line_no`,
      [rows.map((r) => r.id)],
    );
    const lines = parseRows(InvoiceLineRowSchema, lineRows, 'invoice lines');
    return rows.map((row) => ({
      id: row.id,
      number: row.number,
      sponsor: row.sponsor,
      month: row.month,
      status: row.status,
      issuedAt: formatInstant(row.issued_at.getTime(), timezone()),
      currency: row.currency,
      lines: lines
        .filter((l) => l.invoice_id === row.id)
        .map((l) => ({
          app: l.app,
          kind: l.kind,
          usageMonth: l.usage_month,
          bytes: Number(l.bytes), // an invoice line is at most a sponsor-month of bytes: far below 2^53
          pricePerGiB: formatPricePerGiB(l.price),
          amount: l.amount,
          taxRate: formatRate(l.tax_rate),
          tax: l.tax,
        })),
      subtotal: row.subtotal,
      tax: row.tax,
      total: row.total,
      kind: row.kind,
      creditsNumber: row.credits_number,
      catalogVersion: row.catalog_version,
      seller: row.seller,
      buyer: row.buyer,
    }));
  }

  return {
    async list(sponsor: string): Promise<InvoiceDocument[]> {
      const { rows } = await pool.query(`${SELECT} WHERE i.sponsor = $1 ORDER BY i.issued_at DESC, i.id DESC`, [sponsor]);
      return withLines(pool, parseRows(InvoiceRowSchema, rows, 'invoices'));
    },
    /** null when the invoice does not exist or belongs to another sponsor (DESIGN 5: 404 either way). */
    async get(sponsor: string, id: string): Promise<InvoiceDocument | null> {
      if (!RowIdSchema.safeParse(id).success) return null;
      const { rows } = await pool.query(`${SELECT} WHERE i.sponsor = $1 AND i.id = $2`, [sponsor, id]);
      return (await withLines(pool, parseRows(InvoiceRowSchema, rows, 'invoice')))[0] ?? null;
    },
  };
}

export type InvoiceQueries = ReturnType<typeof createInvoiceQueries>;

/** The contract shape only (DESIGN 5), without the print-only fields. */
export function toInvoiceJson(doc: InvoiceDocument): InvoiceJson {
  const { id, number, sponsor, month, status, issuedAt, currency, lines, subtotal, tax, total } = doc;
  return { id, number, sponsor, month, status, issuedAt, currency, lines, subtotal, tax, total };
}

/** Has this sponsor ever been invoiced (the catalog may then not remove it)? */
export async function sponsorInvoiced(pool: Pick<Pool, 'query'>, sponsor: string): Promise<boolean> {
  return (await pool.query('SELECT 1 FROM invoices WHERE sponsor = $1 LIMIT 1', [sponsor])).rows.length > 0;
}
