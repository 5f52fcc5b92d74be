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

/**
 * A 16-byte salt (DESIGN 3.0) of printable characters (base64url of 12 random bytes, 96 bits), so EMQX's
 * built-in database, which keeps the salt as a string, can take it as is.
 */
export function generateSalt(): Buffer {
  return Buffer.from(randomBytes(12).toString('base64url'), 'ascii');
}

/**
 * The same secret hashed for external brokers, with a 12-byte printable salt (base64url of 9 random bytes):
 * Debian's Mosquitto 2.0 drops a `$7$` entry whose salt is not exactly 12 bytes. Stored beside the DESIGN 3.0
 * hash, computed when the secret is issued or rotated.
 */
export function hashForBrokers(secret: string): Promise<StoredSecret> {
  return hashDeviceSecret(secret, Buffer.from(randomBytes(9).toString('base64url'), 'ascii'));
}

/** Runs on libuv's thread pool: never blocks the event loop. */
export async function hashDeviceSecret(secret: string, salt = generateSalt(), iterations = SECRET_ITERATIONS): Promise<StoredSecret> {
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

/** EMQX built-in database record for `password_based:built_in_database` with pbkdf2 / sha512. */
export function toEmqxUser(username: string, stored: StoredSecret): { user_id: string; password_hash: string; salt: string; is_superuser: boolean } {
  return { user_id: username, password_hash: stored.hash.toString('hex'), salt: stored.salt.toString('ascii'), is_superuser: false };
}

/** A short fingerprint of a presented secret, for the verified-credentials cache (never logged). */
export function secretFingerprint(secret: Buffer | string): Buffer {
  return createHash('sha256').update(secret).digest();
}
