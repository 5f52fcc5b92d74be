import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { IdSchema, KeyIdSchema } from '../api/schemas.js';

/**
 * Browser session cookies: the cookie carries who signed in and until when, signed with HMAC-SHA-256, so a
 * forged or altered cookie is refused without touching the database. The MAC key is derived from the admin
 * token with HKDF (RFC 5869): every instance sharing ADMIN_TOKEN accepts the same cookies, sessions survive
 * a restart, and rotating the admin token logs everyone out. A valid signature is necessary, not
 * sufficient: the session must also still hold on the server (`src/api/web-sessions.ts`: not logged out, its API
 * key not revoked), checked on every request.
 *
 * Pure: no I/O, no clock reads (`nowMs` is passed in).
 */

/** A working day; the cookie's Max-Age matches. */
export const SESSION_TTL_MS = 8 * 3_600_000;

/** Who signs in: the operator (ADMIN_TOKEN), or a sponsor or a merchant by one of its API keys. */
export type WebIdentity = { kind: 'admin' } | { kind: 'sponsor'; sponsorId: string; keyId: string } | { kind: 'merchant'; merchantId: string; keyId: string };

export type WebSession = WebIdentity & { expiresAtMs: number; nonce: string };

const Expiry = z.number().int().positive();
const Nonce = z.string().regex(/^[A-Za-z0-9_-]{22}$/);

// Short field names keep the cookie small: k kind, s sponsor, m merchant, kid key id, exp expiry (ms), n nonce.
const PayloadSchema = z.discriminatedUnion('k', [
  z.strictObject({ v: z.literal(1), k: z.literal('admin'), exp: Expiry, n: Nonce }),
  z.strictObject({ v: z.literal(1), k: z.literal('sponsor'), s: IdSchema, kid: KeyIdSchema, exp: Expiry, n: Nonce }),
  z.strictObject({ v: z.literal(1), k: z.literal('merchant'), m: IdSchema, kid: KeyIdSchema, exp: Expiry, n: Nonce }),
]);
type Payload = z.infer<typeof PayloadSchema>;

function toPayload(who: WebIdentity, exp: number, n: string): Payload {
  switch (who.kind) {
    case 'admin':
      return { v: 1, k: 'admin', exp, n };
    case 'sponsor':
      return { v: 1, k: 'sponsor', s: who.sponsorId, kid: who.keyId, exp, n };
    case 'merchant':
      return { v: 1, k: 'merchant', m: who.merchantId, kid: who.keyId, exp, n };
  }
}

function fromPayload(p: Payload): WebSession {
  switch (p.k) {
    case 'admin':
      return { kind: 'admin', expiresAtMs: p.exp, nonce: p.n };
    case 'sponsor':
      return { kind: 'sponsor', sponsorId: p.s, keyId: p.kid, expiresAtMs: p.exp, nonce: p.n };
    case 'merchant':
      return { kind: 'merchant', merchantId: p.m, keyId: p.kid, expiresAtMs: p.exp, nonce: p.n };
  }
}

export interface SessionCodec {
  /** A new session of `who`, valid for {@link SESSION_TTL_MS} from `nowMs`. */
  issue(who: WebIdentity, nowMs: number): { token: string; session: WebSession };
  /** The session in a cookie value, or null when forged, malformed or expired. */
  read(token: string | undefined, nowMs: number): WebSession | null;
  /** The anti-CSRF token bound to one session (a synchroniser token that needs no storage). */
  csrfToken(session: WebSession): string;
  checkCsrfToken(session: WebSession, given: unknown): boolean;
}

export function createSessionCodec(adminToken: string): SessionCodec {
  const macKey = Buffer.from(hkdfSync('sha256', adminToken, 'tbox-billing/web', 'session-mac-v1', 32));
  const mac = (text: string) => createHmac('sha256', macKey).update(text).digest();
  const equal = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

  const csrfToken = (session: WebSession) => mac(`csrf\u0000${session.nonce}`).toString('base64url');

  return {
    issue(who, nowMs) {
      const nonce = randomBytes(16).toString('base64url');
      const expiresAtMs = nowMs + SESSION_TTL_MS;
      const payload = toPayload(who, expiresAtMs, nonce);
      const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
      const session = fromPayload(payload);
      return { token: `v1.${body}.${mac(`session\u0000${body}`).toString('base64url')}`, session };
    },

    read(token, nowMs) {
      if (!token || token.length > 1024) return null;
      const [, body, signature] = /^v1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token) ?? [];
      if (body === undefined || signature === undefined) return null;
      if (!equal(Buffer.from(signature, 'base64url'), mac(`session\u0000${body}`))) return null;
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        return null;
      }
      const payload = PayloadSchema.safeParse(parsed);
      if (!payload.success || payload.data.exp <= nowMs) return null;
      return fromPayload(payload.data);
    },

    csrfToken,

    checkCsrfToken(session, given) {
      return typeof given === 'string' && given.length < 100 && equal(Buffer.from(given), Buffer.from(csrfToken(session)));
    },
  };
}

/**
 * OWASP "verifying origin with standard headers": a state-changing request must name this host in
 * `Origin`, or, when a browser sends none, in `Referer`. Neither, `Origin: null`, or another host → refused.
 * Only the host is compared (a TLS-terminating proxy makes the scheme seen here differ from the browser's).
 */
export function isSameOrigin(headers: { origin?: string | undefined; referer?: string | undefined; host?: string | undefined }): boolean {
  const host = headers.host?.toLowerCase();
  if (!host) return false;
  const source = headers.origin ?? headers.referer;
  if (!source || source === 'null') return false;
  try {
    const url = new URL(source);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host.toLowerCase() === host;
  } catch {
    return false;
  }
}

/** Where to go after sign-in or a language switch: only a path of this UI (no open redirect). */
export function safeReturnPath(candidate: unknown, fallback: string): string {
  if (typeof candidate !== 'string' || candidate.length > 512) return fallback;
  return /^\/app(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/.test(candidate) && !candidate.includes('//') && !candidate.includes('\\') ? candidate : fallback;
}
