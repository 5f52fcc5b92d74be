import { z } from 'zod';
import { IdSchema, LimitSchema, MoneySchema, MonthSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import { InvoiceSchema } from '../einvoice/schemas.js';
import type { EinvoiceService } from '../einvoice/service.js';
import type { MerchantRepository } from '../merchants/repository.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { invalid, notFound } from '../shared/errors.js';
import { nextMonth, startOfMonth } from '../shared/time.js';
import { callerOf } from './caller.js';
import type { Inventory } from './inventory.js';
import { listMerchantOrders } from './repository.js';
import { errors, ImportErrorSchema, OrderSchema, RowProblemSchema, SimListItemSchema, SimStateSchema } from './schemas.js';
import { merchantSettlement } from './settlement.js';
import type { Views } from './views.js';

export interface MerchantSimRouteDeps {
  pool: Pool;
  clock: Clock;
  runtime: () => CatalogRuntime;
  merchants: Pick<MerchantRepository, 'find'>;
  inventory: Inventory;
  einvoices: EinvoiceService;
  views: Views;
}

const IdParams = z.object({ id: IdSchema });

/**
 * DESIGN 6: a merchant's cards, orders, settlements and e-invoices, under `/v1/merchants/{id}/…` (the merchant
 * itself or the admin). The merchant registry and its keys are src/merchants/routes.ts.
 */
export function merchantSimRoutes(app: FastifyZodInstance, deps: MerchantSimRouteDeps): void {
  const requireMerchant = async (id: string) => {
    const merchant = await deps.merchants.find(id);
    if (!merchant) throw notFound(`merchant ${id}`);
    return merchant;
  };
  /** [start, end) of a month in the billing timezone; a month not yet started is 422 (as the usage API). */
  const monthRange = (month: string) => {
    const tz = deps.runtime().timezone;
    const from = startOfMonth(month, tz);
    if (from > deps.clock.now()) throw invalid('month', `${month} has not started yet`);
    return { from, to: startOfMonth(nextMonth(month), tz) };
  };

  app.post('/v1/merchants/:id/sims', {
    config: { audience: ['admin', 'merchant'] },
    bodyLimit: 8 * 1024 * 1024,
    schema: {
      tags: ['merchants'],
      operationId: 'importSims',
      summary:
        'Import cards into inventory: every bad row is reported and none is imported, unless ?partial=true imports the good rows. A card already on the platform (any merchant’s, or a vehicle’s) is 409 SIM_UNAVAILABLE, whoever holds it; only the admin assigns a vehicle’s card to a merchant, by importing it here',
      params: IdParams,
      querystring: z.object({ partial: z.enum(['true', 'false']).default('false') }),
      body: z.object({
        sims: z
          .array(z.unknown().meta({ type: 'object', properties: { iccid: { type: 'string' }, imsi: { type: 'string' }, msisdn: { type: 'string' } }, required: ['iccid', 'imsi', 'msisdn'] }))
          .min(1)
          .max(50_000),
      }),
      response: { 201: z.object({ merchant: z.string(), imported: z.number().int(), rejected: z.array(RowProblemSchema) }), ...errors, 409: ImportErrorSchema, 422: ImportErrorSchema },
    },
    handler: async (request, reply) => {
      const outcome = await deps.inventory.import(request.params.id, callerOf(request.principal), request.body.sims, request.query.partial === 'true');
      if (!outcome.ok) {
        const first = outcome.rejected[0];
        const message = `${outcome.rejected.length} problem(s) in ${new Set(outcome.rejected.map((r) => r.index)).size} row(s); nothing was imported${request.query.partial === 'true' ? '' : ' (?partial=true imports the good rows)'}`;
        // Only clashes with cards already on the platform: a conflict (409), not bad input.
        const clashOnly = outcome.rejected.length > 0 && outcome.rejected.every((r) => r.code === 'SIM_UNAVAILABLE');
        return reply
          .status(clashOnly ? 409 : 422)
          .send({ error: { code: clashOnly ? 'SIM_UNAVAILABLE' : 'INVALID_INPUT', message, ...(first ? { field: first.field } : {}) }, rejected: outcome.rejected });
      }
      return reply.status(201).send({ merchant: request.params.id, imported: outcome.imported, rejected: outcome.rejected });
    },
  });

  app.get('/v1/merchants/:id/sims', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['merchants'],
      operationId: 'listMerchantSims',
      summary: 'A merchant’s cards, by ICCID (cursor pagination)',
      params: IdParams,
      querystring: z.object({ state: SimStateSchema.optional(), limit: LimitSchema, cursor: z.string().max(20).optional() }),
      response: { 200: z.object({ sims: z.array(SimListItemSchema), nextCursor: z.string().nullable() }), ...errors },
    },
    handler: async (request) => {
      await requireMerchant(request.params.id);
      return deps.inventory.list(request.params.id, request.query);
    },
  });

  app.get('/v1/merchants/:id/orders', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['merchants'],
      operationId: 'listMerchantOrders',
      summary: 'A merchant’s orders created or refunded in a month (billing timezone), by id (cursor pagination)',
      params: IdParams,
      querystring: z.object({ month: MonthSchema, limit: LimitSchema, cursor: z.string().regex(/^[0-9]+$/).optional() }),
      response: { 200: z.object({ merchant: z.string(), month: z.string(), orders: z.array(OrderSchema), nextCursor: z.string().nullable() }), ...errors },
    },
    handler: async (request) => {
      await requireMerchant(request.params.id);
      const { from, to } = monthRange(request.query.month);
      const listed = await listMerchantOrders(deps.pool, request.params.id, { fromMs: from, toMs: to }, { limit: request.query.limit, after: request.query.cursor ?? null });
      const orders = [];
      for (const order of listed.orders) orders.push(deps.views.order(order, await deps.einvoices.forOrder(deps.pool, order.id)));
      return { merchant: request.params.id, month: request.query.month, orders, nextCursor: listed.nextCursor };
    },
  });

  app.get('/v1/merchants/:id/settlements', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['merchants'],
      operationId: 'getMerchantSettlement',
      summary: 'The month’s settlement: orders created in it (+), refunds made in it (−); gross = Σ retail, wholesaleCost = Σ wholesale (owed to the platform), margin = gross − wholesaleCost',
      params: IdParams,
      querystring: z.object({ month: MonthSchema }),
      response: {
        200: z.object({ merchant: z.string(), month: z.string(), currency: z.string(), orders: z.number().int(), gross: MoneySchema, wholesaleCost: MoneySchema, margin: MoneySchema, refunds: MoneySchema }),
        ...errors,
      },
    },
    handler: async (request) => {
      await requireMerchant(request.params.id);
      const { from, to } = monthRange(request.query.month);
      const totals = await merchantSettlement(deps.pool, request.params.id, from, to);
      return { merchant: request.params.id, month: request.query.month, currency: deps.runtime().catalog.billing.currency, ...totals };
    },
  });

  app.get('/v1/merchants/:id/einvoices', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['merchants'],
      operationId: 'listMerchantEinvoices',
      summary: 'The month’s e-invoices of a merchant (blue in the order’s month, red-letter in the refund’s month)',
      params: IdParams,
      querystring: z.object({ month: MonthSchema }),
      response: { 200: z.object({ merchant: z.string(), month: z.string(), einvoices: z.array(InvoiceSchema) }), ...errors },
    },
    handler: async (request) => {
      await requireMerchant(request.params.id);
      const { from, to } = monthRange(request.query.month);
      return { merchant: request.params.id, month: request.query.month, einvoices: await deps.einvoices.listForMerchant(request.params.id, from, to) };
    },
  });
}
