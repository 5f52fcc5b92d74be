import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures as the Standard Webhooks specification defines them (and as its receiver libraries
 * verify them): the secret is shown as `whsec_<base64>` and its bytes are the base64-decoded part; the
 * signature is `v1,<base64(HMAC-SHA256(secretBytes, "<webhook-id>.<webhook-timestamp>.<body>"))>`, with the
 * timestamp in unix seconds. Pure: no clock, no I/O.
 */

const SECRET_PREFIX = 'whsec_';
/** 24 random bytes (192 bits), as the specification's reference implementations generate. */
const SECRET_BYTES = 24;

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The key bytes of a `whsec_…` secret. */
export function secretBytes(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new RangeError('a webhook secret starts with whsec_');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** The `webhook-signature` header value for one message. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/**
 * What a receiver does: true when one of the space-separated `v1,` signatures matches and the timestamp is
 * within `toleranceSeconds` of `nowSeconds` (replay protection). Used by the tests' receiver.
 */
export function verifyWebhook(secret: string, headers: { id: string; timestamp: string; signature: string }, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  if (!/^\d{1,12}$/.test(headers.timestamp)) return false;
  const timestamp = Number(headers.timestamp);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, headers.id, timestamp, body).slice(3), 'base64');
  return headers.signature.split(' ').some((candidate) => {
    if (!candidate.startsWith('v1,')) return false;
    const given = Buffer.from(candidate.slice(3), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
