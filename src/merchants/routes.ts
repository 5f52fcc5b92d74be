import { z } from 'zod';
import type { ApiKeyStore } from '../api/api-keys.js';
import { IdSchema, KeyIdSchema, KeyInfoSchema, LimitSchema, MoneySchema, MonthSchema, NewKeySchema, UsccSchema } from '../api/schemas.js';
import { InvoiceSchema } from '../einvoice/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { EinvoiceService } from '../einvoice/service.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { invalid, notFound } from '../shared/errors.js';
import { nextMonth, startOfMonth } from '../shared/time.js';
import { callerOf } from '../sims/context.js';
import type { Inventory } from '../sims/inventory.js';
import type { OrderRow } from '../sims/repository.js';
import { errors, ImportErrorSchema, OrderSchema, RowProblemSchema, SimListItemSchema, SimStateSchema } from '../sims/schemas.js';
import type { Views } from '../sims/views.js';
import type { MerchantRepository } from './repository.js';
import { MerchantSchema } from './schemas.js';
import { merchantSettlement } from './settlement.js';

export interface MerchantRouteDeps {
  pool: Pool;
  clock: Clock;
  runtime: () => CatalogRuntime;
  merchants: MerchantRepository;
  keys: ApiKeyStore;
  inventory: Inventory;
  einvoices: EinvoiceService;
  views: Views;
}

const IdParams = z.object({ id: IdSchema });

/** DESIGN 6: merchants (admin), their keys, inventory, orders, settlements and e-invoices (the merchant itself or the admin). */
export function merchantRoutes(app: FastifyZodInstance, deps: MerchantRouteDeps): void {
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

  app.post('/v1/merchants', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['merchants'],
      operationId: 'createMerchant',
      summary: 'Create a merchant (the seller on its e-invoices)',
      body: z.object({ id: IdSchema, name: z.string().trim().min(1).max(128), taxId: UsccSchema }),
      response: { 201: MerchantSchema, ...errors },
    },
    handler: async (request, reply) => reply.status(201).send(await deps.merchants.create(request.body)),
  });

  app.get('/v1/merchants', {
    config: { audience: ['admin'] },
    schema: { tags: ['merchants'], operationId: 'listMerchants', summary: 'Every merchant', response: { 200: z.object({ merchants: z.array(MerchantSchema) }), ...errors } },
    handler: async () => ({ merchants: await deps.merchants.list() }),
  });

  app.get('/v1/merchants/:id', {
    config: { audience: ['admin', 'merchant'] },
    schema: { tags: ['merchants'], operationId: 'getMerchant', summary: 'One merchant', params: IdParams, response: { 200: MerchantSchema, ...errors } },
    handler: async (request) => requireMerchant(request.params.id),
  });

  app.post('/v1/merchants/:id/keys', {
    config: { audience: ['admin'] },
    schema: { tags: ['merchants'], operationId: 'createMerchantKey', summary: 'Create a merchant API key (shown once)', params: IdParams, response: { 201: NewKeySchema, ...errors } },
    handler: async (request, reply) => {
      await requireMerchant(request.params.id);
      return reply.status(201).send(await deps.keys.create('merchant', request.params.id));
    },
  });

  app.get('/v1/merchants/:id/keys', {
    config: { audience: ['admin'] },
    schema: { tags: ['merchants'], operationId: 'listMerchantKeys', summary: 'List a merchant’s keys (never the secrets)', params: IdParams, response: { 200: z.object({ keys: z.array(KeyInfoSchema) }), ...errors } },
    handler: async (request) => {
      await requireMerchant(request.params.id);
      return { keys: await deps.keys.list('merchant', request.params.id) };
    },
  });

  app.delete('/v1/merchants/:id/keys/:keyId', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['merchants'],
      operationId: 'revokeMerchantKey',
      summary: 'Revoke a merchant key (idempotent)',
      params: IdParams.extend({ keyId: KeyIdSchema }),
      response: { 204: z.null(), ...errors },
    },
    handler: async (request, reply) => {
      await requireMerchant(request.params.id);
      const revoked = await deps.keys.revoke('merchant', request.params.id, request.params.keyId);
      if (!revoked && !(await deps.keys.exists('merchant', request.params.id, request.params.keyId))) throw notFound(`key ${request.params.keyId}`);
      return reply.status(204).send(null);
    },
  });

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
      const { rows } = await deps.pool.query<OrderRow>(
        `SELECT * FROM sim_orders WHERE merchant_id = $1 AND ((created_at >= $2 AND created_at < $3) OR (refunded_at >= $2 AND refunded_at < $3))
           AND ($4::bigint IS NULL OR id > $4) ORDER BY id LIMIT $5`,
        [request.params.id, new Date(from), new Date(to), request.query.cursor ?? null, request.query.limit + 1],
      );
      const page = rows.slice(0, request.query.limit);
      const orders = [];
      for (const order of page) orders.push(deps.views.order(order, await deps.einvoices.forOrder(deps.pool, order.id)));
      return { merchant: request.params.id, month: request.query.month, orders, nextCursor: rows.length > request.query.limit ? page[page.length - 1]!.id : null };
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

