import { createHash } from 'node:crypto';
import type { Pool } from '../shared/db/pool.js';

/** A dashboard session as src/web/session.ts issues it (who, until when, the cookie's nonce). */
export type WebSession = ({ kind: 'admin' } | { kind: 'sponsor'; sponsorId: string; keyId: string } | { kind: 'merchant'; merchantId: string; keyId: string }) & {
  expiresAtMs: number;
  nonce: string;
};

/** Expired rows deleted per sign-in: the table stays the size of the live sessions plus a little. */
const EXPIRED_PER_SIGN_IN = 100;
/**
 * Open sessions kept per credential (one API key, or the admin token); signing in once more ends the oldest.
 * So a valid key signing in in a loop cannot grow the table, and a team sharing a key keeps 50 browsers.
 */
export const MAX_SESSIONS_PER_CREDENTIAL = 50;

/**
 * The server side of a dashboard session (`web_sessions`, migration 0010): the signed cookie says who and
 * until when, this row says whether it still holds. Keyed by the SHA-256 of the cookie's nonce, so the
 * table alone cannot be turned back into cookies. Times are the service clock's, like the cookie's expiry.
 * Owned here, in src/api, beside `api_keys` (./api-keys.ts), which the liveness check joins.
 */
export function createSessionStore(pool: Pick<Pool, 'query'>) {
  const idOf = (session: WebSession) => createHash('sha256').update(session.nonce).digest();
  const owner = (session: WebSession) =>
    session.kind === 'sponsor' ? { ownerId: session.sponsorId, keyId: session.keyId } : session.kind === 'merchant' ? { ownerId: session.merchantId, keyId: session.keyId } : { ownerId: null, keyId: null };

  return {
    /** Records a session just issued; deletes a bounded number of expired ones and the credential's oldest beyond the cap. */
    async open(session: WebSession, nowMs: number): Promise<void> {
      const { ownerId, keyId } = owner(session);
      await pool.query('INSERT INTO web_sessions (id, kind, owner_id, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        idOf(session),
        session.kind,
        ownerId,
        keyId,
        new Date(nowMs),
        new Date(session.expiresAtMs),
      ]);
      await pool.query('DELETE FROM web_sessions WHERE id IN (SELECT id FROM web_sessions WHERE expires_at <= $1 LIMIT $2)', [new Date(nowMs), EXPIRED_PER_SIGN_IN]);
      const beyondCap = (credential: string) => `DELETE FROM web_sessions WHERE id IN (SELECT id FROM web_sessions WHERE ${credential} ORDER BY seq DESC OFFSET $1)`;
      if (keyId === null) await pool.query(beyondCap('key_id IS NULL'), [MAX_SESSIONS_PER_CREDENTIAL]);
      else await pool.query(beyondCap('key_id = $2'), [MAX_SESSIONS_PER_CREDENTIAL, keyId]);
    },

    /**
     * Does the session (read from a cookie whose signature was checked) still hold? Its row exists for the
     * same principal, is not revoked or expired, and a sponsor's or merchant's key is not revoked either —
     * so revoking the key ends every session opened with it. One primary-key lookup per page view.
     */
    async isLive(session: WebSession, nowMs: number): Promise<boolean> {
      const { ownerId, keyId } = owner(session);
      const { rowCount } = await pool.query(
        `SELECT 1 FROM web_sessions s
          WHERE s.id = $1 AND s.kind = $2 AND s.owner_id IS NOT DISTINCT FROM $3 AND s.key_id IS NOT DISTINCT FROM $4
            AND s.revoked_at IS NULL AND s.expires_at > $5
            AND (s.kind = 'admin' OR EXISTS (SELECT 1 FROM api_keys k WHERE k.key_id = s.key_id AND k.owner_kind = s.kind AND k.owner_id = s.owner_id AND k.revoked_at IS NULL))`,
        [idOf(session), session.kind, ownerId, keyId, new Date(nowMs)],
      );
      return rowCount === 1;
    },

    /** Logout: the session ends here, whatever becomes of the cookie. */
    async revoke(session: WebSession, nowMs: number): Promise<void> {
      await pool.query('UPDATE web_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [idOf(session), new Date(nowMs)]);
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
