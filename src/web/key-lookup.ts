import type { Pool } from '../shared/db/pool.js';

/**
 * Is the sponsor key a session was opened with still live? By key id only (the secret was checked once at
 * sign-in with `api-keys.verify`, and the session cookie is signed), on the primary key: one index lookup
 * per page view. Revocation therefore ends every session of that key on its next request.
 */
export async function isSponsorKeyLive(pool: Pick<Pool, 'query'>, keyId: string, sponsorId: string): Promise<boolean> {
  const { rowCount } = await pool.query("SELECT 1 FROM api_keys WHERE key_id = $1 AND owner_kind = 'sponsor' AND owner_id = $2 AND revoked_at IS NULL", [keyId, sponsorId]);
  return rowCount === 1;
}
