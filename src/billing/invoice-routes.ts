import { z } from 'zod';
import { ErrorSchema, IdSchema, MonthSchema, RowIdSchema, textResponse } from '../api/schemas.js';
import { sendCsv } from '../api/csv-reply.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { AppError, notFound } from '../shared/errors.js';
import type { PeriodCloser } from './close-period.js';
import { issueCreditNote } from './credit-note.js';
import { invoiceLinesCsv, invoiceVehicleUsageCsv } from './invoice-csv.js';
import { renderInvoiceHtml } from './invoice-html.js';
import { toInvoiceJson, type InvoiceDocument, type InvoiceQueries } from './invoices.js';
import { InvoiceSchema } from './schemas.js';

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };
/** A 200 that is not JSON, for OpenAPI; fastify sends a string or stream with its own content type unserialised. */
const SponsorParams = z.object({ id: IdSchema });
const InvoiceParams = SponsorParams.extend({ invoiceId: RowIdSchema });

export interface InvoiceRouteDeps {
  pool: Pool;
  invoices: InvoiceQueries;
  closer: PeriodCloser;
  catalog(): Catalog;
  catalogVersion(): string;
  clock: Clock;
}

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
    config: { audience: ['admin', 'sponsor'] },
    schema: { tags: ['invoices'], operationId: 'listInvoices', summary: 'A sponsor’s invoices and credit notes, newest first', params: SponsorParams, response: { 200: z.object({ invoices: z.array(InvoiceSchema) }), ...errors } },
    handler: async (request) => {
      requireSponsor(request.params.id);
      return { invoices: (await deps.invoices.list(request.params.id)).map(toInvoiceJson) };
    },
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId', {
    config: { audience: ['admin', 'sponsor'] },
    schema: { tags: ['invoices'], operationId: 'getInvoice', summary: 'One invoice', params: InvoiceParams, response: { 200: InvoiceSchema, ...errors } },
    handler: async (request) => toInvoiceJson(await load(request.params.id, request.params.invoiceId)),
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId/print', {
    config: { audience: ['admin', 'sponsor'] },
    schema: { tags: ['invoices'], operationId: 'printInvoice', summary: 'The printable invoice (HTML with print CSS)', params: InvoiceParams, response: { 200: textResponse('text/html', 'The invoice as an HTML page'), ...errors } },
    handler: async (request, reply) => reply.type('text/html; charset=utf-8').send(renderInvoiceHtml(await load(request.params.id, request.params.invoiceId))),
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId/lines.csv', {
    config: { audience: ['admin', 'sponsor'] },
    schema: { tags: ['invoices'], operationId: 'getInvoiceLinesCsv', summary: 'The invoice lines as CSV', params: InvoiceParams, response: { 200: textResponse('text/csv', 'One row per invoice line'), ...errors } },
    handler: async (request, reply) => {
      const invoice = await load(request.params.id, request.params.invoiceId);
      return sendCsv(reply, `${invoice.number}-lines.csv`, invoiceLinesCsv(invoice));
    },
  });

  app.get('/v1/sponsors/:id/invoices/:invoiceId/usage.csv', {
    config: { audience: ['admin', 'sponsor'] },
    schema: { tags: ['invoices'], operationId: 'getInvoiceUsageCsv', summary: 'The per-vehicle usage behind the invoice as CSV (streamed)', params: InvoiceParams, response: { 200: textResponse('text/csv', 'One row per vehicle, app and line key'), ...errors } },
    handler: async (request, reply) => {
      const invoice = await load(request.params.id, request.params.invoiceId);
      // A stream is piped as is; the 200 schema (a string) only documents the body for OpenAPI.
      return sendCsv(reply, `${invoice.number}-usage.csv`, invoiceVehicleUsageCsv(deps.pool, invoice));
    },
  });

  app.post('/v1/sponsors/:id/invoices/:invoiceId/credit-note', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['invoices'],
      operationId: 'issueCreditNote',
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
    config: { audience: ['admin'] },
    schema: {
      tags: ['invoices'],
      operationId: 'closeBillingPeriod',
      summary: 'Close an ended month now, earlier open months first (idempotent)',
      params: z.object({ month: MonthSchema }),
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
