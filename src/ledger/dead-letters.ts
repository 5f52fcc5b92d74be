import { createHash } from 'node:crypto';
import { z } from 'zod';
import { encodeCursor } from '../api/cursor.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';
import { formatInstant } from '../shared/time.js';
import { DEAD_LETTER_PAYLOAD_BYTES, type DeadLetter } from './records.js';
import type { DeadLetterView } from './schemas.js';

/**
 * `dead_letters` and `dead_letter_payloads` (DESIGN 3.1: every rejection with its code, reason and stored
 * payload, at most 64 KiB): stored by ingest, listed by `GET /v1/dead-letters` and the operator page, and
 * deleted after DEAD_LETTER_RETENTION_DAYS.
 */

/**
 * Stores rejections; each distinct payload once (the records of one message share it, and a resent
 * message has the same bytes), keyed by the SHA-256 of the stored bytes.
 */
export async function insertDeadLetters(client: PoolClient | Pool, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const digests = new Map<Buffer, Buffer>(); // payload object → digest: records of one message share the Buffer
  const payloads = new Map<string, { sha: Buffer; stored: Buffer; receivedAt: Date }>();
  const shas = letters.map((letter) => {
    let sha = digests.get(letter.payload);
    if (!sha) {
      const stored = letter.payload.subarray(0, DEAD_LETTER_PAYLOAD_BYTES);
      sha = createHash('sha256').update(stored).digest();
      digests.set(letter.payload, sha);
      const key = sha.toString('hex');
      if (!payloads.has(key)) payloads.set(key, { sha, stored, receivedAt: new Date(letter.receivedAtMs) });
    }
    return sha;
  });
  // In digest order: concurrent writers inserting the same payloads wait for each other, never deadlock.
  const unique = [...payloads.values()].sort((a, b) => Buffer.compare(a.sha, b.sha));
  const col = <T>(f: (r: DeadLetter) => T) => letters.map(f);
  await client.query(
    `WITH stored AS (
       INSERT INTO dead_letter_payloads (sha256, payload, first_received_at)
       SELECT * FROM unnest($9::bytea[], $10::bytea[], $11::timestamptz[]) ON CONFLICT DO NOTHING
     )
     INSERT INTO dead_letters (vin, topic, code, reason, record_index, seq, payload_sha256, received_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bytea[], $8::timestamptz[])`,
    [
      col((d) => d.vin),
      col((d) => d.topic),
      col((d) => d.code),
      col((d) => d.reason),
      col((d) => d.recordIndex),
      col((d) => d.seq),
      shas,
      col((d) => new Date(d.receivedAtMs)),
      unique.map((p) => p.sha),
      unique.map((p) => p.stored),
      unique.map((p) => p.receivedAt),
    ],
  );
}

/**
 * Deletes the dead letters received before `beforeMs` and the payloads no letter points at any more, in
 * chunks so that a long backlog never holds one long transaction. Returns the letters deleted.
 */
export async function deleteDeadLettersBefore(pool: Pool, beforeMs: number, chunk = 10_000): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE received_at < $1 ORDER BY received_at LIMIT $2)',
      [new Date(beforeMs), chunk],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < chunk) break;
  }
  await pool.query(
    `DELETE FROM dead_letter_payloads p WHERE p.first_received_at < $1
       AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.payload_sha256 = p.sha256)`,
    [new Date(beforeMs)],
  );
  return deleted;
}


const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The payload as text when it is valid UTF-8 (a truncated multi-byte character is not), else base64. */
export function presentPayload(payload: Buffer): Pick<DeadLetterView, 'payload' | 'payloadEncoding' | 'payloadBytes'> {
  try {
    return { payload: strictUtf8.decode(payload), payloadEncoding: 'utf8', payloadBytes: payload.length };
  } catch {
    return { payload: payload.toString('base64'), payloadEncoding: 'base64', payloadBytes: payload.length };
  }
}

/** The cursor is the id of the last letter sent; opaque to clients so its form can change. */
export const CursorSchema = z.strictObject({ v: z.literal(1), id: z.string().regex(/^[1-9]\d{0,18}$/) });

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


/** The latest `window` dead letters counted by code, most frequent first (a bounded window on the primary key: the table may be large and has no time index). */
export async function deadLettersByCode(pool: Pick<Pool, 'query'>, window: number): Promise<Array<{ code: string; count: number }>> {
  const { rows } = await pool.query<{ code: string; count: number }>(
    'SELECT code, count(*)::int AS count FROM (SELECT code FROM dead_letters ORDER BY id DESC LIMIT $1) latest GROUP BY code ORDER BY count(*) DESC, code',
    [window],
  );
  return rows;
}
