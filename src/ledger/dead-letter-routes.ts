import { decodeCursor, encodeCursor } from '../api/cursor.js';
import { z } from 'zod';
import { ErrorSchema, LimitSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Pool } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';
import { formatInstant } from '../shared/time.js';
import { DeadLetterSchema, type DeadLetterView } from './schemas.js';

/**
 * DESIGN 5 `GET /v1/dead-letters`: every rejection of DESIGN 3.1 with its code, reason and stored payload
 * (at most 64 KiB), newest first, paged by a keyset cursor on the id.
 */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The payload as text when it is valid UTF-8 (a truncated multi-byte character is not), else base64. */
export function presentPayload(payload: Buffer): Pick<DeadLetterView, 'payload' | 'payloadEncoding' | 'payloadBytes'> {
  try {
    return { payload: strictUtf8.decode(payload), payloadEncoding: 'utf8', payloadBytes: payload.length };
  } catch {
    return { payload: payload.toString('base64'), payloadEncoding: 'base64', payloadBytes: payload.length };
  }
}

// The cursor is the id of the last letter sent; opaque to clients so its form can change.
const CursorSchema = z.strictObject({ v: z.literal(1), id: z.string().regex(/^[1-9]\d{0,18}$/) });

const DeadLetterRowSchema = z.object({
  id: z.string(),
  vin: z.string().nullable(),
  topic: z.string(),
  code: z.string(),
  reason: z.string(),
  record_index: z.number().int().nullable(),
  seq: z.string().nullable(),
  payload: z.instanceof(Buffer),
  received_at: z.date(),
});

/** Newest first: `id < before` on the primary key, one row more than the page to know if another follows. */
export async function listDeadLetters(pool: Pick<Pool, 'query'>, options: { limit: number; before: string | null; timezone: string }): Promise<{ deadLetters: DeadLetterView[]; nextCursor: string | null }> {
  const columns = `SELECT d.id::text, d.vin, d.topic, d.code, d.reason, d.record_index, d.seq::text, p.payload, d.received_at
                     FROM dead_letters d JOIN dead_letter_payloads p ON p.sha256 = d.payload_sha256`;
  const { rows: found } = options.before
    ? await pool.query(`${columns} WHERE d.id < $1::bigint ORDER BY d.id DESC LIMIT $2`, [options.before, options.limit + 1])
    : await pool.query(`${columns} ORDER BY d.id DESC LIMIT $1`, [options.limit + 1]);
  const rows = parseRows(DeadLetterRowSchema, found, 'dead letters');
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return {
    deadLetters: page.map((row) => ({
      id: row.id,
      vin: row.vin,
      topic: row.topic,
      code: row.code,
      reason: row.reason,
      index: row.record_index,
      // seq of a rejected record was read as a DESIGN 3.1 seq (≤ 2^53 − 1) before it was stored
      seq: row.seq === null ? null : Number(row.seq),
      receivedAt: formatInstant(row.received_at.getTime(), options.timezone),
      ...presentPayload(row.payload),
    })),
    nextCursor: rows.length > options.limit && last ? encodeCursor({ v: 1, id: last.id }) : null,
  };
}

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
