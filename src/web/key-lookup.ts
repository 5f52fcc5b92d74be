import type { Pool } from '../shared/db/pool.js';
import type { KeySession } from './session.js';

/**
 * Is the sponsor or merchant key a session was opened with still live? By key id only (the secret was
 * checked once at sign-in with `api-keys.verify`, and the session cookie is signed), on the primary key:
 * one index lookup per page view. Revocation therefore ends every session of that key on its next request.
 * The owner is part of the check, so a key id can never stand in for another tenant's.
 */
export async function isSessionKeyLive(pool: Pick<Pool, 'query'>, session: KeySession): Promise<boolean> {
  const owner = session.kind === 'sponsor' ? session.sponsorId : session.merchantId;
  const { rowCount } = await pool.query('SELECT 1 FROM api_keys WHERE key_id = $1 AND owner_kind = $2 AND owner_id = $3 AND revoked_at IS NULL', [session.keyId, session.kind, owner]);
  return rowCount === 1;
}
