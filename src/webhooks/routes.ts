import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../api/cursor.js';
import { ErrorSchema, IdSchema, LimitSchema, RowIdSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { notFound } from '../shared/errors.js';
import type { PiiVault } from '../shared/pii.js';
import { formatInstant } from '../shared/time.js';
import { newEndpointId, WEBHOOK_EVENT_TYPES, type OwnerKind } from './events.js';
import { disableEndpoint, findEndpoint, insertEndpoint, listDeliveries, listEndpoints, requeueDelivery, type Delivery, type Endpoint, type Owner } from './repository.js';
import { NewWebhookEndpointSchema, WebhookDeliverySchema, WebhookEndpointSchema, type WebhookDeliveryView, type WebhookEndpointView } from './schemas.js';
import { generateSecret } from './signature.js';
import { checkEndpointUrl } from './target.js';

export interface WebhookRouteDeps {
  pool: Pool;
  vault: PiiVault;
  clock: Clock;
  timezone(): string;
  /** Whether the sponsor (catalog) or merchant (registry) exists: the composition root asks their owners. */
  ownerExists(kind: OwnerKind, id: string): Promise<boolean>;
  allowPrivateTargets: boolean;
}

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };
const EndpointIdSchema = z.string().regex(/^we_[0-9a-f]{24}$/, { message: 'must be a webhook endpoint id (we_…)' });
const CursorSchema = z.strictObject({ v: z.literal(1), id: z.string().regex(/^[1-9]\d{0,18}$/) });

/**
 * Issue 14: a sponsor's or merchant's webhook endpoints and their delivery log, for the admin and the
 * tenant itself (the guard refuses another tenant's path with 403; another tenant's endpoint under one's own
 * path is 404, as an unknown one).
 */
export function webhookRoutes(app: FastifyZodInstance, deps: WebhookRouteDeps): void {
  const at = (ms: number | null) => (ms === null ? null : formatInstant(ms, deps.timezone()));
  const endpointView = (e: Endpoint): WebhookEndpointView => ({ id: e.id, url: e.url, eventTypes: e.eventTypes, createdAt: at(e.createdAtMs)! });
  const deliveryView = (d: Delivery): WebhookDeliveryView => ({
    id: d.id,
    eventId: d.eventId,
    type: d.type,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: at(d.nextAttemptAtMs),
    lastAttemptAt: at(d.lastAttemptAtMs),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    deliveredAt: at(d.deliveredAtMs),
    createdAt: at(d.createdAtMs)!,
  });

  const NewEndpointSchema = z.object({
    url: z
      .string()
      .max(2048)
      .superRefine((url, ctx) => {
        const check = checkEndpointUrl(url, deps.allowPrivateTargets);
        if (!check.ok) ctx.addIssue({ code: 'custom', message: check.reason });
      })
      .meta({ example: 'https://hooks.example.com/tbox' }),
    eventTypes: z
      .array(z.enum(WEBHOOK_EVENT_TYPES))
      .min(1)
      .max(WEBHOOK_EVENT_TYPES.length * 2)
      .transform((types) => [...new Set(types)]),
  });

  for (const kind of ['sponsor', 'merchant'] as const) {
    const base = `/v1/${kind}s/:id/webhooks`;
    const config = { audience: ['admin', kind] as const };
    const tags = [`${kind}s`];
    const Kind = kind === 'sponsor' ? 'Sponsor' : 'Merchant';
    const params = z.object({ id: IdSchema });
    const endpointParams = params.extend({ endpointId: EndpointIdSchema });

    const requireOwner = async (id: string): Promise<Owner> => {
      if (!(await deps.ownerExists(kind, id))) throw notFound(`${kind} ${id}`);
      return { kind, id };
    };
    const requireEndpoint = async (id: string, endpointId: string, withDeleted = false) => {
      const owner = await requireOwner(id);
      const endpoint = await findEndpoint(deps.pool, owner, endpointId, withDeleted);
      if (!endpoint) throw notFound(`webhook endpoint ${endpointId}`);
      return { owner, endpoint };
    };

    app.post(base, {
      config,
      schema: { tags, operationId: `create${Kind}WebhookEndpoint`, summary: `Add a webhook endpoint for a ${kind} (its secret is shown once)`, params, body: NewEndpointSchema, response: { 201: NewWebhookEndpointSchema, ...errors } },
      handler: async (request, reply) => {
        const owner = await requireOwner(request.params.id);
        const secret = generateSecret();
        const endpoint = await insertEndpoint(deps.pool, owner, {
          id: newEndpointId(),
          url: request.body.url,
          secretEncrypted: deps.vault.encrypt(secret, 'webhookSecret'),
          eventTypes: request.body.eventTypes,
          atMs: deps.clock.now(),
        });
        return reply.status(201).send({ ...endpointView(endpoint), secret });
      },
    });

    app.get(base, {
      config,
      schema: { tags, operationId: `list${Kind}WebhookEndpoints`, summary: `A ${kind}'s webhook endpoints (never their secrets)`, params, response: { 200: z.object({ endpoints: z.array(WebhookEndpointSchema) }), ...errors } },
      handler: async (request) => ({ endpoints: (await listEndpoints(deps.pool, await requireOwner(request.params.id))).map(endpointView) }),
    });

    app.delete(`${base}/:endpointId`, {
      config,
      schema: { tags, operationId: `delete${Kind}WebhookEndpoint`, summary: 'Delete a webhook endpoint: its pending deliveries stop (idempotent)', params: endpointParams, response: { 204: z.null(), ...errors } },
      handler: async (request, reply) => {
        const { owner, endpoint } = await requireEndpoint(request.params.id, request.params.endpointId, true);
        await disableEndpoint(deps.pool, owner, endpoint.id, deps.clock.now());
        return reply.status(204).send(null);
      },
    });

    app.get(`${base}/:endpointId/deliveries`, {
      config,
      schema: {
        tags,
        operationId: `list${Kind}WebhookDeliveries`,
        summary: 'An endpoint’s delivery log, newest first',
        params: endpointParams,
        querystring: z.object({
          limit: LimitSchema.meta({ description: 'deliveries per page, 1..1000 (default 100)' }),
          cursor: z.string().max(1024).optional().meta({ description: 'the previous page’s nextCursor' }),
        }),
        response: { 200: z.object({ deliveries: z.array(WebhookDeliverySchema), nextCursor: z.string().nullable() }), ...errors },
      },
      handler: async (request) => {
        const { endpoint } = await requireEndpoint(request.params.id, request.params.endpointId);
        const before = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor, CursorSchema).id;
        const page = await listDeliveries(deps.pool, endpoint.id, { limit: request.query.limit, before });
        const last = page.deliveries.at(-1);
        return { deliveries: page.deliveries.map(deliveryView), nextCursor: page.more && last ? encodeCursor({ v: 1, id: last.id }) : null };
      },
    });

    app.post(`${base}/:endpointId/deliveries/:deliveryId/replay`, {
      config,
      schema: {
        tags,
        operationId: `replay${Kind}WebhookDelivery`,
        summary: 'Send a delivery again now (same event id; a day to succeed)',
        params: endpointParams.extend({ deliveryId: RowIdSchema }),
        response: { 200: WebhookDeliverySchema, ...errors },
      },
      handler: async (request) => {
        const { endpoint } = await requireEndpoint(request.params.id, request.params.endpointId);
        const delivery = await requeueDelivery(deps.pool, endpoint.id, request.params.deliveryId, deps.clock.now());
        if (!delivery) throw notFound(`delivery ${request.params.deliveryId}`);
        return deliveryView(delivery);
      },
    });
  }
}
