import { z } from 'zod';
import { ErrorSchema, IdSchema, LimitSchema, RowIdSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import { NewWebhookEndpointSchema, WebhookDeliverySchema, WebhookEndpointSchema } from './schemas.js';
import type { WebhookService } from './service.js';

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };
const EndpointIdSchema = z.string().regex(/^we_[0-9a-f]{24}$/, { message: 'must be a webhook endpoint id (we_…)' });

/**
 * Issue 14: a sponsor's or merchant's webhook endpoints and their delivery log, for the admin and the
 * tenant itself (the guard refuses another tenant's path with 403; another tenant's endpoint under one's own
 * path is 404, as an unknown one).
 */
export function webhookRoutes(app: FastifyZodInstance, webhooks: WebhookService): void {
  for (const kind of ['sponsor', 'merchant'] as const) {
    const base = `/v1/${kind}s/:id/webhooks`;
    const config = { audience: ['admin', kind] as const };
    const tags = [`${kind}s`];
    const Kind = kind === 'sponsor' ? 'Sponsor' : 'Merchant';
    const params = z.object({ id: IdSchema });
    const endpointParams = params.extend({ endpointId: EndpointIdSchema });
    const owner = (id: string) => ({ kind, id });

    app.post(base, {
      config,
      schema: { tags, operationId: `create${Kind}WebhookEndpoint`, summary: `Add a webhook endpoint for a ${kind} (its secret is shown once)`, params, body: webhooks.NewEndpointSchema, response: { 201: NewWebhookEndpointSchema, ...errors } },
      handler: async (request, reply) => reply.status(201).send(await webhooks.create(owner(request.params.id), request.body)),
    });

    app.get(base, {
      config,
      schema: { tags, operationId: `list${Kind}WebhookEndpoints`, summary: `A ${kind}'s webhook endpoints (never their secrets)`, params, response: { 200: z.object({ endpoints: z.array(WebhookEndpointSchema) }), ...errors } },
      handler: async (request) => ({ endpoints: await webhooks.endpoints(owner(request.params.id)) }),
    });

    app.delete(`${base}/:endpointId`, {
      config,
      schema: { tags, operationId: `delete${Kind}WebhookEndpoint`, summary: 'Delete a webhook endpoint: its pending deliveries stop (idempotent)', params: endpointParams, response: { 204: z.null(), ...errors } },
      handler: async (request, reply) => {
        await webhooks.remove(owner(request.params.id), request.params.endpointId);
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
      handler: async (request) => webhooks.deliveries(owner(request.params.id), request.params.endpointId, request.query),
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
      handler: async (request) => webhooks.replay(owner(request.params.id), request.params.endpointId, request.params.deliveryId),
    });
  }
}
