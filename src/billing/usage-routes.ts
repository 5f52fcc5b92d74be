import { z } from 'zod';
import { ErrorSchema, IdSchema, LimitSchema, MonthSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import { UsageReplySchema } from './schemas.js';
import { createUsageQuery, type UsageQueryDeps } from './usage-query.js';

const UsageQuerystringSchema = z.object({
  month: MonthSchema,
  groupBy: z.enum(['app', 'day', 'vehicle']).default('app'),
  limit: LimitSchema.meta({ description: 'groupBy=vehicle: lines per page, 1..1000 (default 100)' }),
  cursor: z.string().max(1024).optional().meta({ description: 'groupBy=vehicle: the previous page’s nextCursor' }),
});

/** DESIGN 5 `GET /v1/sponsors/{id}/usage`: the sponsor for its own id, or the admin. */
export function usageRoutes(app: FastifyZodInstance, deps: UsageQueryDeps): void {
  const query = createUsageQuery(deps);

  app.get('/v1/sponsors/:id/usage', {
    config: { audience: ['admin', 'sponsor'] },
    schema: {
      tags: ['sponsors'],
      operationId: 'getSponsorUsage',
      summary: 'A sponsor’s usage and amounts for a billing month as it stands now',
      params: z.object({ id: IdSchema }),
      querystring: UsageQuerystringSchema,
      response: { 200: UsageReplySchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema },
    },
    handler: async (request) => query.sponsorUsage({ sponsor: request.params.id, ...request.query }),
  });
}
