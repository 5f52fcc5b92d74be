import { z } from 'zod';
import { EpochSchema, ErrorSchema, SeqSchema, VinSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Pool } from '../shared/db/pool.js';
import { notFound } from '../shared/errors.js';
import { findRecordExplanation, sponsorView } from './explain-query.js';
import { ExplainReplySchema } from './schemas.js';

export interface ExplainRouteDeps {
  pool: Pick<Pool, 'query'>;
  catalog(): Catalog;
}

/** DESIGN 5 `GET /v1/vehicles/{vin}/usage/{seq}/explain?epoch=`. */
export function explainRoutes(app: FastifyZodInstance, deps: ExplainRouteDeps): void {
  app.get('/v1/vehicles/:vin/usage/:seq/explain', {
    config: { audience: ['admin', 'sponsor'] },
    schema: {
      tags: ['ledger'],
      operationId: 'explainUsageRecord',
      summary: 'How one usage record was classified and who pays for it',
      params: z.object({ vin: VinSchema, seq: SeqSchema }),
      querystring: z.object({ epoch: EpochSchema.default('0') }),
      response: { 200: ExplainReplySchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema },
    },
    handler: async (request) => {
      const key = { vin: request.params.vin, epoch: request.query.epoch, seq: request.params.seq };
      const explanation = await findRecordExplanation(deps.pool, key, deps.catalog().billing.timezone);
      const principal = request.principal;
      // One message for "no such record" and "not your record": a sponsor must not learn which it was.
      const missing = () => notFound(`usage record ${key.vin}/${key.epoch}/${key.seq}`);
      if (!explanation) throw missing();
      if (principal?.kind === 'admin') return explanation;
      const view = principal?.kind === 'sponsor' ? sponsorView(explanation, principal.sponsorId) : null;
      if (!view) throw missing();
      return view;
    },
  });
}
