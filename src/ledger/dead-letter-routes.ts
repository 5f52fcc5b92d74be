import { decodeCursor } from '../api/cursor.js';
import { z } from 'zod';
import { ErrorSchema, LimitSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Pool } from '../shared/db/pool.js';
import { CursorSchema, listDeadLetters } from './dead-letters.js';
import { DeadLetterSchema } from './schemas.js';

export interface DeadLetterRouteDeps {
  pool: Pick<Pool, 'query'>;
  catalog(): Catalog;
}

export function deadLetterRoutes(app: FastifyZodInstance, deps: DeadLetterRouteDeps): void {
  app.get('/v1/dead-letters', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['ledger'],
      operationId: 'listDeadLetters',
      summary: 'Rejected usage payloads with codes and reasons, newest first',
      querystring: z.object({
        limit: LimitSchema.meta({ description: 'letters per page, 1..1000 (default 100)' }),
        cursor: z.string().max(1024).optional().meta({ description: 'the previous page’s nextCursor' }),
      }),
      response: { 200: z.object({ deadLetters: z.array(DeadLetterSchema), nextCursor: z.string().nullable() }), 401: ErrorSchema, 403: ErrorSchema, 422: ErrorSchema },
    },
    handler: async (request) => {
      const before = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor, CursorSchema).id;
      return listDeadLetters(deps.pool, { limit: request.query.limit, before, timezone: deps.catalog().billing.timezone });
    },
  });
}
