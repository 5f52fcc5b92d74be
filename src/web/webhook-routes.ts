import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IdSchema, RowIdSchema } from '../api/schemas.js';
import { AppError } from '../shared/errors.js';
import type { WebhookService } from '../webhooks/service.js';
import { CsrfBody, QueryText, refuse, type PageKit } from './page-kit.js';
import type { MerchantReaders } from './merchant-query.js';
import { deliveryLogPage, webhooksPage } from './pages/webhooks.js';
import { openTenantPage, tenantPages } from './tenant-pages.js';

/**
 * Issue 14: a sponsor's and a merchant's webhook endpoints and delivery log in the dashboard, over the same
 * service as the API (`src/webhooks/service.ts`): add an endpoint (its secret shown once, on the answer
 * page), delete one, page through its deliveries and send one again. Scoping as on every tenant page:
 * another tenant's path is 403, another tenant's endpoint under one's own path 404.
 */

const EndpointParams = z.object({ id: IdSchema, endpointId: z.string().regex(/^we_[0-9a-f]{24}$/) });
const ReplayParams = EndpointParams.extend({ deliveryId: RowIdSchema });
const LogQuery = z.object({ cursor: QueryText });
const DELIVERIES_PER_PAGE = 50;

export function webhookPages(web: FastifyInstance, kit: PageKit, webhooks: WebhookService, merchants: Pick<MerchantReaders, 'merchants'> | undefined): void {
  for (const tenant of tenantPages(kit, merchants)) {
    const { kind, guard } = tenant;
    const path = `/${kind}s/:id/webhooks`;
    const open = (request: FastifyRequest, reply: FastifyReply) => openTenantPage(kit, tenant, 'webhooks', request, reply);
    /**
     * The endpoint named in the path, among the owner's live ones, else 404 — judged before the CSRF check,
     * as every scope check is, so another tenant's endpoint is 404 whatever the request carries.
     */
    async function endpointOf(request: FastifyRequest, owner: { kind: 'sponsor' | 'merchant'; id: string }) {
      const parsed = EndpointParams.safeParse(request.params);
      const endpoint = parsed.success ? (await webhooks.endpoints(owner)).find((e) => e.id === parsed.data.endpointId) : undefined;
      if (!endpoint) throw refuse('notFound', 404);
      return endpoint;
    }

    web.get(path, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      return kit.sendPage(reply, webhooksPage(page.ctx, { kind, base: page.base, endpoints: await webhooks.endpoints(page.owner) }));
    });

    web.post(path, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      const body = (request.body ?? {}) as Record<string, unknown>;
      kit.checkCsrf(request, CsrfBody.safeParse(body).data ?? {});
      // One checkbox per event type (`event.<type>=on`): form bodies keep one value per name.
      const eventTypes = Object.keys(body).flatMap((name) => (name.startsWith('event.') && body[name] === 'on' ? [name.slice('event.'.length)] : []));
      const url = typeof body.url === 'string' ? body.url.trim() : '';
      const input = webhooks.NewEndpointSchema.safeParse({ url, eventTypes });
      if (!input.success) {
        const message = eventTypes.length === 0 ? page.ctx.t('webhookNoEvents') : input.error.issues.map((issue) => issue.message).join('; ');
        const endpoints = await webhooks.endpoints(page.owner);
        return kit.sendPage(reply, webhooksPage(page.ctx, { kind, base: page.base, endpoints, problem: { message, url: url.slice(0, 2048) } }), 422);
      }
      const created = await webhooks.create(page.owner, input.data);
      // The secret is on this answer only (no redirect that would need to carry it).
      return kit.sendPage(reply, webhooksPage(page.ctx, { kind, base: page.base, endpoints: await webhooks.endpoints(page.owner), created: { id: created.id, secret: created.secret } }), 201);
    });

    web.post(`${path}/:endpointId/delete`, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      const endpoint = await endpointOf(request, page.owner);
      kit.checkCsrf(request, CsrfBody.safeParse(request.body ?? {}).data ?? {});
      await webhooks.remove(page.owner, endpoint.id);
      return reply.redirect(page.base, 303);
    });

    web.get(`${path}/:endpointId`, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      const endpoint = await endpointOf(request, page.owner);
      const endpointId = endpoint.id;
      // A cursor from a link that no longer decodes shows the first page, like any malformed filter.
      const cursor = LogQuery.parse(request.query ?? {}).cursor;
      const log = await webhooks.deliveries(page.owner, endpointId, { limit: DELIVERIES_PER_PAGE, cursor }).catch((error: unknown) => {
        if (cursor !== undefined && error instanceof AppError && error.statusCode < 500) return webhooks.deliveries(page.owner, endpointId, { limit: DELIVERIES_PER_PAGE });
        throw error;
      });
      return kit.sendPage(reply, deliveryLogPage(page.ctx, { base: page.base, endpoint, ...log }));
    });

    web.post(`${path}/:endpointId/deliveries/:deliveryId/replay`, guard, async (request, reply) => {
      const page = await open(request, reply);
      if (!page) return reply;
      const endpoint = await endpointOf(request, page.owner);
      const delivery = ReplayParams.safeParse(request.params);
      if (!delivery.success) throw refuse('notFound', 404);
      kit.checkCsrf(request, CsrfBody.safeParse(request.body ?? {}).data ?? {});
      await translateNotFound(webhooks.replay(page.owner, endpoint.id, delivery.data.deliveryId));
      return reply.redirect(`${page.base}/${endpoint.id}`, 303);
    });
  }
}

/** The service's 404 (an unknown or another tenant's endpoint or delivery) as the pages' own. */
async function translateNotFound<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof AppError && error.statusCode === 404) throw refuse('notFound', 404);
    throw error;
  }
}
