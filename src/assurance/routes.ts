import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorSchema, IccidSchema, IdSchema, LimitSchema, MonthSchema, textResponse } from '../api/schemas.js';
import { sendCsv } from '../api/csv-reply.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import { AppError, invalid, notFound } from '../shared/errors.js';
import { importCarrierUsage, ImportRejected, type ImportDeps } from './import-carrier-usage.js';
import type { AbuseSignals } from './abuse-signals.js';
import { breakageCsv, type BreakageReport } from './breakage-report.js';
import { cardDaysCsv, type ReconciliationService } from './reconciliation.js';
import { BreakageSchema, CardReconciliationSchema, SignalsSchema, ImportErrorSchema, ImportReplySchema, ReconciliationSchema } from './schemas.js';

export interface AssuranceRouteDeps {
  imports: ImportDeps;
  reconciliation: ReconciliationService;
  breakage: BreakageReport;
  signals: AbuseSignals;
  catalog(): Catalog;
}

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };
/** A carrier's file id: its own file name or reference (letters, digits and . _ : -). */
const FileIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/, 'must be 1–200 characters of A-Z a-z 0-9 . _ : -');
const MonthQuery = z.object({ month: MonthSchema });

/** Issue 13: carrier usage import and reconciliation (admin only). */
export function assuranceRoutes(app: FastifyZodInstance, deps: AssuranceRouteDeps): void {
  // The CSV body is handed to the handler as the request stream (never buffered whole); only this scope
  // takes text/csv.
  void app.register(async (plain: FastifyInstance) => {
    const scope = plain.withTypeProvider<ZodTypeProvider>();
    scope.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));
    scope.post('/v1/carrier-usage', {
      config: { audience: ['admin'] },
      schema: {
        tags: ['assurance'], operationId: 'importCarrierUsage',
        summary:
          'Import a carrier usage file (CSV carrier-usage/1, text/csv, UTF-8; see src/assurance/README.md), streamed. Every bad line is reported and nothing is applied unless ?partial=true; the same file id again changes nothing; a later file for the same card and day replaces its figure (audited). File id: X-File-Id header or ?fileId (default sha256 of the bytes)',
        querystring: z.object({ partial: z.enum(['true', 'false']).default('false'), fileId: FileIdSchema.optional() }),
        headers: z.object({ 'x-file-id': FileIdSchema.optional() }).passthrough(),
        response: { 200: ImportReplySchema, 401: ErrorSchema, 403: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, 422: ImportErrorSchema.or(ErrorSchema) },
      },
      handler: async (request, reply) => {
        const body: unknown = request.body;
        if (!(body instanceof Readable)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'the body must be text/csv', 415);
        const charset = /charset=([^;\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1]?.replace(/"/g, '').toLowerCase();
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw new AppError('UNSUPPORTED_MEDIA_TYPE', `the body must be UTF-8, not ${charset}`, 415);
        const fromHeader = request.headers['x-file-id'];
        const fromQuery = request.query.fileId;
        if (typeof fromHeader === 'string' && fromQuery !== undefined && fromHeader !== fromQuery) throw invalid('fileId', 'the X-File-Id header and ?fileId differ');
        const fileId = (typeof fromHeader === 'string' ? fromHeader : undefined) ?? fromQuery ?? null;
        try {
          return await importCarrierUsage(deps.imports, body, { fileId, partial: request.query.partial === 'true', by: 'admin' });
        } catch (error) {
          if (error instanceof ImportRejected) return reply.status(422).send({ error: { code: error.code, message: error.message }, ...error.reply });
          throw error;
        }
      },
    });
  });

  app.get('/v1/reconciliation', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['assurance'], operationId: 'getReconciliation',
      summary: 'Carrier bytes against ledger bytes per card per day for a month (carrier timezone): totals by status, the daily gap, the largest discrepancies, the corrections audit',
      querystring: MonthQuery.extend({ limit: LimitSchema.meta({ description: 'largest discrepancies listed, 1..1000 (default 100)' }) }),
      response: { 200: ReconciliationSchema, ...errors },
    },
    handler: async (request) => deps.reconciliation.month(request.query.month, request.query.limit),
  });

  app.get('/v1/reconciliation/days.csv', {
    config: { audience: ['admin'] },
    schema: { tags: ['assurance'], operationId: 'getReconciliationDaysCsv', summary: 'Every judged card-day of the month as CSV', querystring: MonthQuery, response: { 200: textResponse('text/csv', 'One row per judged card-day'), ...errors } },
    handler: async (request, reply) => {
      const { cardDays } = await deps.reconciliation.cardDays(request.query.month);
      return sendCsv(reply, `reconciliation-${request.query.month}.csv`, cardDaysCsv(cardDays));
    },
  });

  app.get('/v1/reconciliation/cards/:iccid', {
    config: { audience: ['admin'] },
    schema: { tags: ['assurance'], operationId: 'getCardReconciliation', summary: 'One card, day by day', params: z.object({ iccid: IccidSchema }), querystring: MonthQuery, response: { 200: CardReconciliationSchema, ...errors } },
    handler: async (request) => deps.reconciliation.card(request.query.month, request.params.iccid),
  });

  app.get('/v1/breakage', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['assurance'], operationId: 'getBreakage',
      summary: 'Pack breakage for a month (billing timezone): per pack product, packs sold, and of the packs that expired in the month the bytes used, the bytes unused and the revenue of the unused part (pro rata of the tax-inclusive price)',
      querystring: MonthQuery,
      response: { 200: BreakageSchema, ...errors },
    },
    handler: async (request) => deps.breakage.month(request.query.month),
  });

  app.get('/v1/breakage.csv', {
    config: { audience: ['admin'] },
    schema: { tags: ['assurance'], operationId: 'getBreakageCsv', summary: 'Pack breakage as CSV', querystring: MonthQuery, response: { 200: textResponse('text/csv', 'One row per pack product'), ...errors } },
    handler: async (request, reply) => {
      const report = await deps.breakage.month(request.query.month);
      return sendCsv(reply, `breakage-${request.query.month}.csv`, breakageCsv(report));
    },
  });

  app.get('/v1/abuse-signals', {
    config: { audience: ['admin'] },
    schema: { tags: ['assurance'], operationId: 'listAbuseSignals', summary: 'Zero-rating abuse signals of a month (billing timezone), each with its evidence; never billed', querystring: MonthQuery, response: { 200: SignalsSchema, ...errors } },
    handler: async (request) => deps.signals.month(request.query.month),
  });

  app.get('/v1/sponsors/:id/abuse-signals', {
    config: { audience: ['admin', 'sponsor'] },
    schema: { tags: ['assurance'], operationId: 'listSponsorAbuseSignals', summary: 'The abuse signals that touch the sponsor’s apps', params: z.object({ id: IdSchema }), querystring: MonthQuery, response: { 200: SignalsSchema, ...errors } },
    handler: async (request) => {
      if (!deps.catalog().sponsors.some((s) => s.id === request.params.id)) throw notFound(`sponsor ${request.params.id}`);
      return deps.signals.month(request.query.month, request.params.id);
    },
  });
}
