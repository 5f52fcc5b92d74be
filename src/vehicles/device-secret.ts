import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/**
 * DESIGN 3.0: the secret is 32 random bytes (base64url) and is stored as PBKDF2-HMAC-SHA512 with a
 * 16-byte salt. The secret has full entropy, so iterations only guard a stolen table; 1,000 keeps a
 * reconnect storm of thousands of devices cheap while meeting the floor.
 */
export const SECRET_ITERATIONS = 1000;
const HASH_BYTES = 64;

export interface StoredSecret {
  iterations: number;
  salt: Buffer;
  hash: Buffer;
}

export function generateDeviceSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Runs on libuv's thread pool: never blocks the event loop. */
export async function hashDeviceSecret(secret: string, salt = randomBytes(16), iterations = SECRET_ITERATIONS): Promise<StoredSecret> {
  const hash = await pbkdf2Async(secret, salt, iterations, HASH_BYTES, 'sha512');
  return { iterations, salt, hash };
}

export async function verifyDeviceSecret(secret: Buffer | string, stored: StoredSecret): Promise<boolean> {
  const hash = await pbkdf2Async(secret, stored.salt, stored.iterations, HASH_BYTES, 'sha512');
  return timingSafeEqual(hash, stored.hash);
}

/** Mosquitto password-file form: `$7$<iterations>$<base64 salt>$<base64 hash>` (PBKDF2-SHA512). */
export function toMosquittoHash(stored: StoredSecret): string {
  return `$7$${stored.iterations}$${stored.salt.toString('base64')}$${stored.hash.toString('base64')}`;
}

/** A short fingerprint of a presented secret, for the verified-credentials cache (never logged). */
export function secretFingerprint(secret: Buffer | string): Buffer {
  return createHash('sha256').update(secret).digest();
}
