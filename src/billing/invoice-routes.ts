import { Readable } from 'node:stream';
import { z } from 'zod';
import { requireAdmin, requireSponsorPath } from '../api/auth.js';
import { ErrorSchema, SponsorIdSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { AppError, notFound } from '../shared/errors.js';
import { formatMinor, lineAmountMinor } from '../shared/money.js';
import { isMonth } from '../shared/time.js';
import type { PeriodCloser } from './close-period.js';
import { issueCreditNote } from './credit-note.js';
import { renderInvoiceHtml } from './invoice-html.js';
import { toInvoiceJson, type InvoiceDocument, type InvoiceQueries } from './invoices.js';
import { formatPricePerGiB } from './usage-query.js';

const InvoiceLineSchema = z.object({
  app: z.string(),
  kind: z.enum(['sponsored', 'overage']),
  usageMonth: z.string(),
  bytes: z.number().int(),
  pricePerGiB: z.string(),
  amount: z.string(),
  taxRate: z.string(),
  tax: z.string(),
});
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
const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };
const SponsorParams = z.object({ id: SponsorIdSchema });
const InvoiceParams = SponsorParams.extend({ invoiceId: z.string().regex(/^\d{1,18}$/, 'must be an invoice id') });

export interface InvoiceRouteDeps {
  pool: Pool;
  invoices: InvoiceQueries;
  closer: PeriodCloser;
  catalog(): Catalog;
  catalogVersion(): string;
  clock: Clock;
}

/** CSV field quoting per RFC 4180. */
const csv = (values: ReadonlyArray<string | number>) => values.map((v) => (/[",\n\r]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v))).join(',') + '\r\n';

export function invoiceRoutes(app: FastifyZodInstance, deps: InvoiceRouteDeps): void {
  const requireSponsor = (id: string) => {
    if (!deps.catalog().sponsors.some((s) => s.id === id)) throw notFound(`sponsor ${id}`);
  };
  const load = async (sponsor: string, invoiceId: string): Promise<InvoiceDocument> => {
    requireSponsor(sponsor);
    const invoice = await deps.invoices.get(sponsor, invoiceId);
    // Another sponsor's invoice id is 404, as is an unknown one (DESIGN 5: existence does not leak).
    if (!invoice) throw notFound(`invoice ${invoiceId}`);
    return invoice;
  };

  app.get('/v1/sponsors/:id/invoices', {
    onRequest: requireSponsorPath,
    schema: { tags: ['invoices'], summary: 'A sponsor’s invoices and credit notes, newest first', params: SponsorParams, response: { 200: z.object({ invoices: z.array(InvoiceSchema) }), ...errors } },
    handler: async (request) => {
      requireSponsor(request.params.id);
      return { invoices: (await deps.invoices.list(request.params.id)).map(toInvoiceJson) };
    },
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId', {
    onRequest: requireSponsorPath,
    schema: { tags: ['invoices'], summary: 'One invoice', params: InvoiceParams, response: { 200: InvoiceSchema, ...errors } },
    handler: async (request) => toInvoiceJson(await load(request.params.id, request.params.invoiceId)),
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId/print', {
    onRequest: requireSponsorPath,
    schema: { tags: ['invoices'], summary: 'The printable invoice (HTML with print CSS)', params: InvoiceParams },
    handler: async (request, reply) => reply.type('text/html; charset=utf-8').send(renderInvoiceHtml(await load(request.params.id, request.params.invoiceId))),
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId/lines.csv', {
    onRequest: requireSponsorPath,
    schema: { tags: ['invoices'], summary: 'The invoice lines as CSV', params: InvoiceParams },
    handler: async (request, reply) => {
      const invoice = await load(request.params.id, request.params.invoiceId);
      const body = [csv(['number', 'app', 'kind', 'usage_month', 'bytes', 'price_per_gib', 'amount', 'tax_rate', 'tax', 'currency'])]
        .concat(invoice.lines.map((l) => csv([invoice.number, l.app, l.kind, l.usageMonth, l.bytes, l.pricePerGiB, l.amount, l.taxRate, l.tax, invoice.currency])))
        .join('');
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${invoice.number}-lines.csv"`).send(body);
    },
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId/usage.csv', {
    onRequest: requireSponsorPath,
    schema: { tags: ['invoices'], summary: 'The per-vehicle usage behind the invoice as CSV (streamed)', params: InvoiceParams },
    handler: async (request, reply) => {
      const invoice = await load(request.params.id, request.params.invoiceId);
      reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${invoice.number}-usage.csv"`);
      return reply.send(Readable.from(vehicleUsageRows(deps.pool, invoice)));
    },
  });

  app.post('/v1/sponsors/:id/invoices/:invoiceId/credit-note', {
    onRequest: requireAdmin,
    schema: {
      tags: ['invoices'],
      summary: 'Credit an invoice in full (idempotent); its usage is invoiced again at the next close',
      params: InvoiceParams,
      response: { 201: z.object({ id: z.string(), number: z.string() }), ...errors },
    },
    handler: async (request, reply) => {
      requireSponsor(request.params.id);
      return reply.status(201).send(await issueCreditNote({ pool: deps.pool, catalog: deps.catalog(), catalogVersion: deps.catalogVersion(), clock: deps.clock }, request.params.id, request.params.invoiceId));
    },
  });

  app.post('/v1/billing/periods/:month/close', {
    onRequest: requireAdmin,
    schema: {
      tags: ['invoices'],
      summary: 'Close an ended month now, earlier open months first (idempotent)',
      params: z.object({ month: z.string().refine(isMonth, 'must be YYYY-MM') }),
      response: {
        200: z.object({ month: z.string(), periods: z.array(z.object({ sponsor: z.string(), month: z.string(), invoiceId: z.string().nullable(), number: z.string().nullable() })) }),
        ...errors,
      },
    },
    handler: async (request) => {
      const result = await deps.closer.closeEnded(request.params.month);
      if (result === 'NOT_ENDED') throw new AppError('INVALID_INPUT', `month ${request.params.month} has not ended yet`, 422, 'month');
      return { month: request.params.month, periods: result };
    },
  });
}

/** Per-vehicle lines of one invoice, a few hundred vehicles per query, so memory stays flat. */
async function* vehicleUsageRows(pool: Pool, invoice: InvoiceDocument): AsyncGenerator<string> {
  yield csv(['number', 'vin', 'app', 'kind', 'usage_month', 'bytes', 'price_per_gib', 'amount']);
  let after = '';
  for (;;) {
    const { rows: vins } = await pool.query<{ vin: string }>('SELECT DISTINCT vin FROM allocations WHERE invoice_id = $1 AND vin > $2 ORDER BY vin LIMIT 500', [invoice.id, after]);
    if (vins.length === 0) return;
    const { rows } = await pool.query<{ vin: string; app: string; kind: string; month: string; price: string; bytes: string }>(
      `SELECT vin, app, kind, to_char(usage_month, 'YYYY-MM') AS month, price_per_gib::text AS price, sum(bytes)::text AS bytes
         FROM allocations WHERE invoice_id = $1 AND vin = ANY($2::text[])
        GROUP BY vin, app, kind, usage_month, price_per_gib ORDER BY vin, usage_month, app, kind, price_per_gib`,
      [invoice.id, vins.map((v) => v.vin)],
    );
    let chunk = '';
    for (const r of rows) chunk += csv([invoice.number, r.vin, r.app, r.kind, r.month, r.bytes, formatPricePerGiB(r.price), formatMinor(lineAmountMinor(BigInt(r.bytes), r.price))]);
    yield chunk;
    after = vins[vins.length - 1]!.vin;
  }
}

