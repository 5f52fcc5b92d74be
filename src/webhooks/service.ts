import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../api/cursor.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { notFound } from '../shared/errors.js';
import type { PiiVault } from '../shared/pii.js';
import { formatInstant } from '../shared/time.js';
import { newEndpointId, WEBHOOK_EVENT_TYPES, type OwnerKind } from './events.js';
import { disableEndpoint, findEndpoint, insertEndpoint, listDeliveries, listEndpoints, requeueDelivery, type Delivery, type Endpoint, type Owner } from './repository.js';
import type { WebhookDeliveryView, WebhookEndpointView } from './schemas.js';
import { generateSecret } from './signature.js';
import { checkEndpointUrl } from './target.js';

export interface WebhookServiceDeps {
  pool: Pool;
  vault: PiiVault;
  clock: Clock;
  timezone(): string;
  /** Whether the sponsor (catalog) or merchant (registry) exists: the composition root asks their owners. */
  ownerExists(kind: OwnerKind, id: string): Promise<boolean>;
  allowPrivateTargets: boolean;
}

const CursorSchema = z.strictObject({ v: z.literal(1), id: z.string().regex(/^[1-9]\d{0,18}$/) });

/**
 * A tenant's endpoints and delivery log, as the API (`routes.ts`) and the dashboard (`src/web`) both offer
 * them. Every call names the owner: an unknown owner, or an endpoint of another owner, is 404.
 */
export function createWebhookService(deps: WebhookServiceDeps) {
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

  /** A new endpoint's URL and event types; the URL is refused when it is not a target we may call. */
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

  async function requireOwner(kind: OwnerKind, id: string): Promise<Owner> {
    if (!(await deps.ownerExists(kind, id))) throw notFound(`${kind} ${id}`);
    return { kind, id };
  }
  async function requireEndpoint(owner: Owner, endpointId: string, withDeleted = false): Promise<Endpoint> {
    const endpoint = await findEndpoint(deps.pool, await requireOwner(owner.kind, owner.id), endpointId, withDeleted);
    if (!endpoint) throw notFound(`webhook endpoint ${endpointId}`);
    return endpoint;
  }

  return {
    NewEndpointSchema,

    async endpoints(owner: Owner): Promise<WebhookEndpointView[]> {
      return (await listEndpoints(deps.pool, await requireOwner(owner.kind, owner.id))).map(endpointView);
    },

    /** The endpoint, and its signing secret: the only time it is shown. */
    async create(owner: Owner, input: z.output<typeof NewEndpointSchema>): Promise<WebhookEndpointView & { secret: string }> {
      await requireOwner(owner.kind, owner.id);
      const secret = generateSecret();
      const endpoint = await insertEndpoint(deps.pool, owner, {
        id: newEndpointId(),
        url: input.url,
        secretEncrypted: deps.vault.encrypt(secret, 'webhookSecret'),
        eventTypes: input.eventTypes,
        atMs: deps.clock.now(),
      });
      return { ...endpointView(endpoint), secret };
    },

    /** Idempotent: a deleted endpoint may be deleted again; its pending deliveries stop. */
    async remove(owner: Owner, endpointId: string): Promise<void> {
      const endpoint = await requireEndpoint(owner, endpointId, true);
      await disableEndpoint(deps.pool, owner, endpoint.id, deps.clock.now());
    },

    /** A page of an endpoint's delivery log, newest first; `cursor` is the previous page's `nextCursor`. */
    async deliveries(owner: Owner, endpointId: string, page: { limit: number; cursor?: string | undefined }): Promise<{ deliveries: WebhookDeliveryView[]; nextCursor: string | null }> {
      const endpoint = await requireEndpoint(owner, endpointId);
      const before = page.cursor === undefined ? null : decodeCursor(page.cursor, CursorSchema).id;
      const found = await listDeliveries(deps.pool, endpoint.id, { limit: page.limit, before });
      const last = found.deliveries.at(-1);
      return { deliveries: found.deliveries.map(deliveryView), nextCursor: found.more && last ? encodeCursor({ v: 1, id: last.id }) : null };
    },

    /** Sends a delivery again now, with the same event id, and a day to succeed. */
    async replay(owner: Owner, endpointId: string, deliveryId: string): Promise<WebhookDeliveryView> {
      const endpoint = await requireEndpoint(owner, endpointId);
      const delivery = await requeueDelivery(deps.pool, endpoint.id, deliveryId, deps.clock.now());
      if (!delivery) throw notFound(`delivery ${deliveryId}`);
      return deliveryView(delivery);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
