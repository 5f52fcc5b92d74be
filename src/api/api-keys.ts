import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import type { KeyInfoSchema } from './schemas.js';

/**
 * Sponsor and merchant API keys (DESIGN 5): `sk_<keyId>_<secret>`, shown once, stored as SHA-256 of the
 * secret (it has full entropy, so a fast hash is right), listed with `lastUsedAt`, revocable.
 */

const KeyOwnerKindSchema = z.enum(['sponsor', 'merchant']);
export type KeyOwnerKind = z.output<typeof KeyOwnerKindSchema>;

export type ApiKeyInfo = z.output<typeof KeyInfoSchema>;

const KeyRowSchema = z.object({ key_id: z.string(), created_at: z.date(), last_used_at: z.date().nullable(), revoked_at: z.date().nullable() });
const OwnerRowSchema = z.object({ owner_kind: KeyOwnerKindSchema, owner_id: z.string(), secret_hash: z.instanceof(Buffer), last_used_at: z.date().nullable() });
const KEY_PATTERN = /^sk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const sha256 = (text: string) => createHash('sha256').update(text).digest();
// lastUsedAt is a hint for people, not an audit log: written at most once a minute per key.
const LAST_USED_RESOLUTION_MS = 60_000;

export function createApiKeyStore(pool: Pool, clock: Clock) {
  const toInfo = (row: z.output<typeof KeyRowSchema>): ApiKeyInfo => ({
    keyId: row.key_id,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  });

  return {
    async create(ownerKind: KeyOwnerKind, ownerId: string): Promise<{ key: string; keyId: string }> {
      const keyId = randomBytes(8).toString('hex');
      const secret = randomBytes(32).toString('base64url');
      await pool.query('INSERT INTO api_keys (key_id, owner_kind, owner_id, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
        keyId,
        ownerKind,
        ownerId,
        sha256(secret),
        new Date(clock.now()),
      ]);
      return { key: `sk_${keyId}_${secret}`, keyId };
    },

    async list(ownerKind: KeyOwnerKind, ownerId: string): Promise<ApiKeyInfo[]> {
      const { rows } = await pool.query('SELECT key_id, created_at, last_used_at, revoked_at FROM api_keys WHERE owner_kind = $1 AND owner_id = $2 ORDER BY created_at, key_id', [ownerKind, ownerId]);
      return parseRows(KeyRowSchema, rows, 'api keys').map(toInfo);
    },

    /** True when a live key was revoked now; false when unknown (for this owner) or already revoked. */
    async revoke(ownerKind: KeyOwnerKind, ownerId: string, keyId: string): Promise<boolean> {
      const result = await pool.query('UPDATE api_keys SET revoked_at = $4 WHERE owner_kind = $1 AND owner_id = $2 AND key_id = $3 AND revoked_at IS NULL', [
        ownerKind,
        ownerId,
        keyId,
        new Date(clock.now()),
      ]);
      return result.rowCount === 1;
    },

    async exists(ownerKind: KeyOwnerKind, ownerId: string, keyId: string): Promise<boolean> {
      const { rowCount } = await pool.query('SELECT 1 FROM api_keys WHERE owner_kind = $1 AND owner_id = $2 AND key_id = $3', [ownerKind, ownerId, keyId]);
      return rowCount === 1;
    },

    /** The owner of a valid, unrevoked key, or null. */
    async verify(token: string): Promise<{ ownerKind: KeyOwnerKind; ownerId: string; keyId: string } | null> {
      const [, keyId, secret] = KEY_PATTERN.exec(token) ?? [];
      if (keyId === undefined || secret === undefined) return null;
      const { rows } = await pool.query('SELECT owner_kind, owner_id, secret_hash, last_used_at FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL', [keyId]);
      const row = parseFirstRow(OwnerRowSchema, rows, 'api key');
      if (!row || !timingSafeEqual(row.secret_hash, sha256(secret))) return null;
      const now = clock.now();
      if (!row.last_used_at || now - row.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
        await pool.query('UPDATE api_keys SET last_used_at = $2 WHERE key_id = $1', [keyId, new Date(now)]);
      }
      return { ownerKind: row.owner_kind, ownerId: row.owner_id, keyId };
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
