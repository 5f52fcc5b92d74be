import { z } from 'zod';
import { ErrorSchema, IdSchema, LimitSchema, MonthSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import { createUsageQuery, type UsageQueryDeps } from './usage-query.js';

const Kind = z.enum(['sponsored', 'overage']);
const Money = z.string().meta({ example: '12.34', description: 'decimal string, 2 decimals' });
const Bytes = z.number().int().min(0).meta({ description: 'bytes, exact (< 2^53)' });
const priced = {
  app: z.string(),
  kind: Kind,
  bytes: Bytes,
  pricePerGiB: z.string().meta({ example: '4.00', description: 'as in the catalog, at least 2 decimals' }),
  amount: Money,
};
// Strict objects: in the union, a day or vehicle line must not be mistaken for an app line with keys dropped.
const AppLineSchema = z.strictObject(priced);
const DayLineSchema = z.strictObject({ day: z.string().meta({ example: '2026-11-03' }), ...priced });
const VehicleLineSchema = z.strictObject({ vin: z.string(), ...priced });

const UsageReplySchema = z.object({
  sponsor: z.string(),
  month: z.string(),
  currency: z.string(),
  lines: z.union([z.array(AppLineSchema), z.array(DayLineSchema), z.array(VehicleLineSchema)]),
  totalBytes: Bytes,
  totalAmount: Money,
  nextCursor: z.string().nullable().optional().meta({ description: 'groupBy=vehicle: pass as `cursor` for the next page; null on the last page' }),
});

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
      summary: 'A sponsor’s usage and amounts for a billing month as it stands now',
      params: z.object({ id: IdSchema }),
      querystring: UsageQuerystringSchema,
      response: { 200: UsageReplySchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema },
    },
    handler: async (request) => query.sponsorUsage({ sponsor: request.params.id, ...request.query }),
  });
}
