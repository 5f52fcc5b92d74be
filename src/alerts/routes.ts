import { z } from 'zod';
import { ErrorSchema, IdSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import { notFound } from '../shared/errors.js';
import type { AlertOwner, AlertOwnerKind } from './repository.js';
import { NewMerchantAlertSchema, NewSponsorAlertSchema, type AlertRules } from './rules.js';
import { AlertRuleSchema } from './schemas.js';

export interface AlertRouteDeps {
  rules: AlertRules;
  /** Whether the sponsor (catalog) or merchant (registry) exists: the composition root asks their owners. */
  ownerExists(kind: AlertOwnerKind, id: string): Promise<boolean>;
}

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };
const AlertIdSchema = z.string().regex(/^al_[0-9a-f]{24}$/, { message: 'must be an alert id (al_…)' });

/**
 * Issue 14: a sponsor's or merchant's usage alerts, for the admin and the tenant itself (the guard refuses
 * another tenant's path with 403; another tenant's rule under one's own path is 404, as an unknown one).
 */
export function alertRoutes(app: FastifyZodInstance, deps: AlertRouteDeps): void {
  for (const kind of ['sponsor', 'merchant'] as const) {
    const base = `/v1/${kind}s/:id/alerts`;
    const config = { audience: ['admin', kind] as const };
    const tags = [`${kind}s`];
    const Kind = kind === 'sponsor' ? 'Sponsor' : 'Merchant';
    const params = z.object({ id: IdSchema });
    const requireOwner = async (id: string): Promise<AlertOwner> => {
      if (!(await deps.ownerExists(kind, id))) throw notFound(`${kind} ${id}`);
      return { kind, id };
    };
    const body = kind === 'sponsor' ? NewSponsorAlertSchema : NewMerchantAlertSchema;
    const what =
      kind === 'sponsor'
        ? 'a sponsorship’s fleet cap use reaching a share, the month-to-date amount reaching a figure, or vehicles at a cap'
        : 'a card’s serviceUntil within N days';

    app.post(base, {
      config,
      schema: { tags, operationId: `create${Kind}Alert`, summary: `Add a usage alert for a ${kind}: ${what}`, params, body, response: { 201: AlertRuleSchema, ...errors } },
      handler: async (request, reply) => reply.status(201).send(await deps.rules.create(await requireOwner(request.params.id), request.body)),
    });

    app.get(base, {
      config,
      schema: { tags, operationId: `list${Kind}Alerts`, summary: `A ${kind}'s usage alerts and their current states`, params, response: { 200: z.object({ alerts: z.array(AlertRuleSchema) }), ...errors } },
      handler: async (request) => ({ alerts: await deps.rules.list(await requireOwner(request.params.id)) }),
    });

    app.delete(`${base}/:alertId`, {
      config,
      schema: { tags, operationId: `delete${Kind}Alert`, summary: 'Delete a usage alert: it is no longer evaluated', params: params.extend({ alertId: AlertIdSchema }), response: { 204: z.null(), ...errors } },
      handler: async (request, reply) => {
        await deps.rules.remove(await requireOwner(request.params.id), request.params.alertId);
        return reply.status(204).send(null);
      },
    });
  }
}
