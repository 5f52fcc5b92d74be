import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { secretFingerprint, verifyDeviceSecret, type StoredSecret } from './device-secret.js';

interface CacheEntry {
  storedHash: Buffer;
  fingerprint: Buffer;
  expiresAt: number;
}

export interface DeviceAuthenticatorOptions {
  findSecret(vin: string): Promise<StoredSecret | null>;
  clock: Clock;
  /** How long a verified secret skips PBKDF2 (default 10 minutes). */
  cacheTtlMs?: number;
  /** Bound on cached devices (default 200,000), oldest evicted first. */
  maxEntries?: number;
}

/**
 * Verifies device secrets against the vehicles table. A reconnect storm must stay cheap, so a verified
 * secret is cached briefly — but the stored hash is still read on every CONNECT (one primary-key
 * lookup) and must equal the cached one, so a rotated secret stops working at once on every instance.
 */
export function createDeviceAuthenticator(options: DeviceAuthenticatorOptions) {
  const ttl = options.cacheTtlMs ?? 600_000;
  const maxEntries = options.maxEntries ?? 200_000;
  const cache = new Map<string, CacheEntry>();

  return {
    async authenticate(vin: string, secret: Buffer): Promise<boolean> {
      const stored = await options.findSecret(vin);
      if (!stored) return false;
      const now = options.clock.now();
      const fingerprint = secretFingerprint(secret);
      const cached = cache.get(vin);
      if (cached && cached.expiresAt > now && cached.storedHash.equals(stored.hash) && timingSafeEqual(cached.fingerprint, fingerprint)) {
        return true;
      }
      if (!(await verifyDeviceSecret(secret, stored))) return false;
      cache.delete(vin);
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
      cache.set(vin, { storedHash: stored.hash, fingerprint, expiresAt: now + ttl });
      return true;
    },
    forget(vin: string): void {
      cache.delete(vin);
    },
  };
}

export type DeviceAuthenticator = ReturnType<typeof createDeviceAuthenticator>;
