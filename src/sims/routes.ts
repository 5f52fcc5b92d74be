import { z } from 'zod';
import { ErrorSchema, IccidSchema, IdSchema, LimitSchema, MoneySchema, RowIdSchema, VinSchema } from '../api/schemas.js';
import { InvoiceSchema } from '../einvoice/schemas.js';
import { MaskedSubjectSchema } from '../realname/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { EinvoiceService } from '../einvoice/service.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import { realNameBodySchema } from '../realname/validate.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { notFound } from '../shared/errors.js';
import { dayOf, parseDateOnly } from '../shared/time.js';
import { callerOf, requireInScope } from './caller.js';
import type { SimJobs } from './jobs.js';
import type { Lifecycle, ManualEvent } from './lifecycle.js';
import type { Orders } from './orders.js';
import type { PersonalData } from './personal-data.js';
import { findSim, listEvents } from './repository.js';
import {
  AccessLogEntrySchema,
  BuyerSchema,
  errors,
  ExternalOrderIdSchema,
  OrderSchema,
  ReasonBodySchema,
  RevealSchema,
  SimEventSchema,
  SimSchema,
} from './schemas.js';
import type { Views } from './views.js';

export interface SimRouteDeps {
  pool: Pool;
  clock: Clock;
  runtime: () => CatalogRuntime;
  lifecycle: Lifecycle;
  orders: Orders;
  personalData: PersonalData;
  einvoices: EinvoiceService;
  jobs: SimJobs;
  views: Views;
}

const providerErrors = { 502: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema };
const IccidParams = z.object({ iccid: IccidSchema });
const OrderParams = z.object({ externalOrderId: ExternalOrderIdSchema });

const TRANSITION_ROUTES: ReadonlyArray<{ path: string; operationId: string; event: ManualEvent; summary: string }> = [
  { path: '/test', operationId: 'startSimTest', event: 'startTest', summary: 'Start testing a card (inventory → test)' },
  { path: '/test/end', operationId: 'endSimTest', event: 'endTest', summary: 'End a test (test → inventory)' },
  { path: '/activate', operationId: 'activateSim', event: 'activate', summary: 'Activate a sold card (sold → active); needs its responsible subject verified and, for an individual, fewer than 10 cards in service on the ID number' },
  { path: '/suspend', operationId: 'suspendSim', event: 'suspend', summary: 'Suspend a card (active → suspended)' },
  { path: '/resume', operationId: 'resumeSim', event: 'resume', summary: 'Resume a card (suspended → active); needs serviceUntil > now' },
  { path: '/retire', operationId: 'retireSim', event: 'retire', summary: 'Retire a card for good (any state but retired)' },
];

/** DESIGN 6: cards, their transitions and real-name, orders, refunds, recharges; plus the audited reveal. */
export function simRoutes(app: FastifyZodInstance, deps: SimRouteDeps): void {
  const today = () => parseDateOnly(dayOf(deps.clock.now(), deps.runtime().timezone));
  const simView = async (iccid: string) => {
    const sim = await findSim(deps.pool, iccid);
    if (!sim) throw notFound(`SIM ${iccid}`);
    return deps.views.sim(deps.pool, sim);
  };
  const orderView = async (order: Parameters<Views['order']>[0]) => deps.views.order(order, await deps.einvoices.forOrder(deps.pool, order.id));

  app.get('/v1/plans', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'listPlans',
      summary: 'The plans merchants sell (catalog `plans`): term, packs, wholesale (tax-exclusive) and retail (tax-inclusive)',
      response: {
        200: z.object({
          currency: z.string(),
          plans: z.array(z.object({ id: z.string(), termMonths: z.number().int().nullable(), pack: z.string().nullable(), monthlyPack: z.string().nullable(), wholesale: MoneySchema, retail: MoneySchema, taxRate: z.string() })),
        }),
        ...errors,
      },
    },
    handler: async () => {
      const catalog = deps.runtime().catalog;
      return {
        currency: catalog.billing.currency,
        plans: catalog.plans.map((p) => ({ id: p.id, termMonths: p.termMonths ?? null, pack: p.pack ?? null, monthlyPack: p.monthlyPack ?? null, wholesale: p.wholesale, retail: p.retail, taxRate: p.taxRate ?? catalog.billing.taxRate })),
      };
    },
  });

  app.get('/v1/sims/:iccid', {
    config: { audience: ['admin', 'merchant'] },
    schema: { tags: ['sims'], operationId: 'getSim', summary: 'A card, its state, service and real-name subjects (personal data masked)', params: IccidParams, response: { 200: SimSchema, ...errors } },
    handler: async (request) => {
      const sim = requireInScope(await findSim(deps.pool, request.params.iccid), callerOf(request.principal), request.params.iccid);
      return deps.views.sim(deps.pool, sim);
    },
  });

  app.get('/v1/sims/:iccid/events', {
    config: { audience: ['admin', 'merchant'] },
    schema: { tags: ['sims'], operationId: 'listSimEvents', summary: 'The audit trail of a card: every transition and real-name change, who, when and why', params: IccidParams, response: { 200: z.object({ events: z.array(SimEventSchema) }), ...errors } },
    handler: async (request) => {
      requireInScope(await findSim(deps.pool, request.params.iccid), callerOf(request.principal), request.params.iccid);
      return { events: (await listEvents(deps.pool, request.params.iccid)).map(deps.views.event) };
    },
  });

  for (const route of TRANSITION_ROUTES) {
    app.post(`/v1/sims/:iccid${route.path}`, {
      config: { audience: ['admin', 'merchant'] },
      schema: { tags: ['sims'], operationId: route.operationId, summary: route.summary, params: IccidParams, body: ReasonBodySchema, response: { 200: SimSchema, ...errors } },
      handler: async (request) => {
        const sim = await deps.lifecycle.transition(request.params.iccid, route.event, callerOf(request.principal), request.body?.reason);
        return deps.views.sim(deps.pool, sim);
      },
    });
  }

  app.post('/v1/sims/:iccid/real-name', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'registerRealName',
      summary: 'Register the real-name subject of a card: the holder (individual with liveness, or enterprise with agent) or, for a vehicle card, the vehicle user (role owner)',
      params: IccidParams,
      body: realNameBodySchema(today),
      response: { 200: SimSchema, ...errors, ...providerErrors },
    },
    handler: async (request) => {
      const sim = await deps.lifecycle.submitRealName(request.params.iccid, callerOf(request.principal), request.body);
      return deps.views.sim(deps.pool, sim);
    },
  });

  app.post('/v1/sims/:iccid/recharges', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'rechargeSim',
      summary: 'A recharge or renewal (idempotent per externalOrderId); resumes a suspended card whose service then reaches past now',
      params: IccidParams,
      body: z.object({ externalOrderId: ExternalOrderIdSchema, plan: IdSchema, buyer: BuyerSchema.optional() }),
      response: { 200: OrderSchema, 201: OrderSchema, ...errors },
    },
    handler: async (request, reply) => {
      const { order, created } = await deps.orders.recharge(callerOf(request.principal), request.params.iccid, request.body);
      return reply.status(created ? 201 : 200).send(await orderView(order));
    },
  });

  app.post('/v1/sims/:iccid/personal-data/reveal', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['sims'],
      operationId: 'revealPersonalData',
      summary: 'Unmasked personal data of a card (holder, owner, buyers, MSISDN); every call is written to the access log with its reason',
      params: IccidParams,
      body: z.object({ reason: z.string().trim().min(5).max(500) }),
      response: { 200: RevealSchema, ...errors },
    },
    handler: async (request) => deps.personalData.reveal(callerOf(request.principal), request.params.iccid, request.body.reason, request.id),
  });

  app.get('/v1/personal-data/access-log', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['sims'],
      operationId: 'listPersonalDataAccess',
      summary: 'Who saw unmasked personal data, when and why (newest first)',
      querystring: z.object({ iccid: IccidSchema.optional(), limit: LimitSchema, cursor: z.string().regex(/^[0-9]+$/).optional() }),
      response: {
        200: z.object({
          entries: z.array(AccessLogEntrySchema),
          nextCursor: z.string().nullable(),
        }),
        ...errors,
      },
    },
    handler: async (request) => deps.personalData.accessLog(request.query),
  });

  app.post('/v1/personal-data/reencrypt', {
    config: { audience: ['admin'] },
    schema: { tags: ['sims'], operationId: 'reencryptPersonalData', summary: 'Re-encrypt personal data written with PII_KEY_PREVIOUS under PII_KEY (also run at startup)', response: { 200: z.object({ reencrypted: z.number().int() }), ...errors } },
    handler: async () => ({ reencrypted: await deps.personalData.reencryptAll() }),
  });

  app.post('/v1/orders', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'createOrder',
      summary: 'A store order: sells a card from inventory (idempotent per (merchant, externalOrderId); the same id with another body is 409)',
      body: z.object({ merchant: IdSchema, externalOrderId: ExternalOrderIdSchema, iccid: IccidSchema, plan: IdSchema, buyer: BuyerSchema }),
      response: { 200: OrderSchema, 201: OrderSchema, ...errors },
    },
    handler: async (request, reply) => {
      const { order, created } = await deps.orders.create(callerOf(request.principal), request.body);
      return reply.status(created ? 201 : 200).send(await orderView(order));
    },
  });

  app.get('/v1/orders/:externalOrderId', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'getOrder',
      summary: 'An order by its external id (the admin names the merchant when several use the id)',
      params: OrderParams,
      querystring: z.object({ merchant: IdSchema.optional() }),
      response: { 200: OrderSchema, ...errors },
    },
    handler: async (request) => orderView(await deps.orders.find(callerOf(request.principal), request.params.externalOrderId, request.query.merchant)),
  });

  app.post('/v1/orders/:externalOrderId/refund', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'refundOrder',
      summary: 'Refund an order in full (idempotent): before activation the card returns to inventory; a red-letter invoice reverses the order’s invoice',
      params: OrderParams,
      body: z.object({ merchant: IdSchema.optional(), reason: z.string().trim().min(1).max(500).optional() }).nullish(),
      response: { 200: OrderSchema, ...errors },
    },
    handler: async (request) => {
      const { order } = await deps.orders.refund(callerOf(request.principal), request.params.externalOrderId, request.body?.merchant, request.body?.reason);
      return orderView(order);
    },
  });

  app.post('/v1/einvoices/:id/retry', {
    config: { audience: ['admin', 'merchant'] },
    schema: {
      tags: ['sims'],
      operationId: 'retryEinvoice',
      summary: 'Try to issue a pending or rejected e-invoice now (same idempotency key: never a duplicate)',
      params: z.object({ id: RowIdSchema }),
      response: { 200: InvoiceSchema, ...errors },
    },
    handler: async (request) => {
      const caller = callerOf(request.principal);
      const row = await deps.einvoices.find(request.params.id);
      if (!row || (caller.merchantId !== null && row.merchant_id !== caller.merchantId)) throw notFound(`e-invoice ${request.params.id}`);
      await deps.einvoices.retry(row.id);
      const view = await deps.einvoices.viewOf(row.id);
      if (!view) throw notFound(`e-invoice ${request.params.id}`);
      return view;
    },
  });

  app.post('/v1/vehicles/:vin/owner-change', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['vehicles'],
      operationId: 'changeVehicleOwner',
      summary:
        'A used-car sale: clears the vehicle user’s real-name (it is the vehicle’s, through SIM swaps); REALNAME_REQUIRED returns on general and wifi-hotspot until the new user registers. Answers the vehicle’s card, or {vin, iccid, owner} while that card is the platform’s',
      params: z.object({ vin: VinSchema }),
      body: ReasonBodySchema,
      response: { 200: z.union([SimSchema, z.object({ vin: z.string(), iccid: z.string(), owner: MaskedSubjectSchema })]), ...errors },
    },
    handler: async (request) => {
      const changed = await deps.lifecycle.changeOwner(request.params.vin, callerOf(request.principal), request.body?.reason);
      if (!('merchant_id' in changed)) return { vin: changed.vin, iccid: changed.iccid, owner: { status: 'none' as const, type: null, name: null, idNumber: null } };
      return simView(changed.iccid);
    },
  });

  app.post('/v1/jobs/sim-lifecycle', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['sims'],
      operationId: 'runSimLifecycleJobs',
      summary: 'Run the SIM lifecycle jobs now (suspend expired cards, monthly packs, control reconciliation, e-invoice retries); they also run every minute',
      response: { 200: z.object({ suspended: z.number().int(), monthlyPacks: z.number().int(), controlsReconciled: z.number().int(), einvoicesAttempted: z.number().int() }), ...errors },
    },
    handler: async () => deps.jobs.runOnce(),
  });
}
