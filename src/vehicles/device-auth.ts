import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { checkVin } from '../shared/identifiers.js';
import { createFailureTable, sourceKey, type FailurePolicy } from './auth-limiter.js';
import { secretFingerprint, verifyDeviceSecret, type StoredSecret } from './device-secret.js';

interface CacheEntry {
  storedHash: Buffer;
  fingerprint: Buffer;
  verifiedAt: number;
}

/**
 * `accepted`; `rejected` (checked: wrong or unknown VIN/secret); `vin-limited`, `address-limited`
 * (refused unchecked: too many failures for this VIN or from this source, see {@link DEFAULT_LIMITS}).
 */
export type AuthOutcome = 'accepted' | 'rejected' | 'vin-limited' | 'address-limited';

export interface AuthResult {
  outcome: AuthOutcome;
  /** True when the database was read (and PBKDF2 perhaps run) for this attempt. */
  checked: boolean;
}

/**
 * Failed CONNECTs are limited per VIN and per source address. Device secrets have 256 bits of entropy,
 * so this guards the database and the CPU (PBKDF2), not the secret: a refused attempt costs a Map lookup.
 * - Per VIN, strict: 3 failures, then blocked 1 s, doubling with each further failure up to 15 min.
 * - Per source address, lighter: cars behind a carrier's NAT share one address, so 30 failures, then
 *   1 s doubling up to 60 s; while blocked, one unknown credential per second is still checked if its VIN
 *   has no failures, so a device new to this instance gets in even while devices behind the same NAT keep
 *   failing. (A storm that cycles VINs never seen before still competes with it for that one check a
 *   second: the price of not reading the database for refused attempts.)
 * - A device that presents the credential last verified for its VIN (kept as a SHA-256 fingerprint) is
 *   checked whatever the blocks: a storm cannot lock a known car out, though anyone can read its VIN.
 * - Only checked failures count; an attempt refused unchecked extends nothing.
 */
export const DEFAULT_LIMITS: { vin: FailurePolicy; address: FailurePolicy } = {
  vin: { freeFailures: 3, baseBlockMs: 1_000, maxBlockMs: 15 * 60_000, forgetAfterMs: 60 * 60_000, maxEntries: 100_000, probeIntervalMs: 0 },
  address: { freeFailures: 30, baseBlockMs: 1_000, maxBlockMs: 60_000, forgetAfterMs: 60 * 60_000, maxEntries: 100_000, probeIntervalMs: 1_000 },
};

/** Device secrets are 43 characters (DESIGN 3.0); anything this long is not one. */
const MAX_SECRET_BYTES = 256;

export interface DeviceAuthenticatorOptions {
  findSecret(vin: string): Promise<StoredSecret | null>;
  clock: Clock;
  /** How long a verified secret skips PBKDF2 (default 10 minutes). */
  cacheTtlMs?: number;
  /** Bound on cached devices (default 200,000), oldest evicted first. */
  maxEntries?: number;
  limits?: { vin: FailurePolicy; address: FailurePolicy };
}

/**
 * Verifies device secrets against the vehicles table. A reconnect storm must stay cheap, so a verified
 * secret is cached briefly — but the stored hash is still read on every checked CONNECT (one primary-key
 * lookup) and must equal the cached one, so a rotated secret stops working at once on every instance.
 */
export function createDeviceAuthenticator(options: DeviceAuthenticatorOptions) {
  const ttl = options.cacheTtlMs ?? 600_000;
  const maxEntries = options.maxEntries ?? 200_000;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const cache = new Map<string, CacheEntry>();
  const byVin = createFailureTable(limits.vin);
  const byAddress = createFailureTable(limits.address);

  async function check(vin: string, secret: Buffer, fingerprint: Buffer, cached: CacheEntry | undefined, now: number): Promise<boolean> {
    const stored = await options.findSecret(vin);
    if (!stored) return false;
    if (cached && cached.verifiedAt + ttl > now && cached.storedHash.equals(stored.hash) && timingSafeEqual(cached.fingerprint, fingerprint)) return true;
    if (!(await verifyDeviceSecret(secret, stored))) return false;
    cache.delete(vin);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(vin, { storedHash: stored.hash, fingerprint, verifiedAt: now });
    return true;
  }

  return {
    /** `source`: the client's address, or null when unknown (behind a TLS-terminating proxy). */
    async authenticate(vin: string, secret: Buffer, source: string | null = null): Promise<AuthResult> {
      // Not a VIN or not a secret: refused as is, and kept out of the tables (a 64 KiB "VIN" a key would
      // make their entry bound meaningless).
      if (!checkVin(vin).ok || secret.length > MAX_SECRET_BYTES) return { outcome: 'rejected', checked: false };
      const now = options.clock.now();
      const fingerprint = secretFingerprint(secret);
      const cached = cache.get(vin);
      const known = cached !== undefined && timingSafeEqual(cached.fingerprint, fingerprint);
      const address = source === null ? null : sourceKey(source);
      if (!known) {
        if (byVin.blocked(vin, now)) return { outcome: 'vin-limited', checked: false };
        // The probe of a blocked address goes only to a VIN without failures: a storm of VINs that keep
        // failing cannot take it from a car that is new here.
        if (address !== null && byAddress.blocked(address, now) && (byVin.failed(vin, now) || !byAddress.takeProbe(address, now))) {
          return { outcome: 'address-limited', checked: false };
        }
      }
      if (await check(vin, secret, fingerprint, cached, now)) {
        byVin.clear(vin);
        return { outcome: 'accepted', checked: true };
      }
      // The credential once verified is not any more (rotated elsewhere): it no longer passes the blocks.
      if (known) cache.delete(vin);
      byVin.recordFailure(vin, now);
      if (address !== null) byAddress.recordFailure(address, now);
      return { outcome: 'rejected', checked: true };
    },
    forget(vin: string): void {
      cache.delete(vin);
    },
  };
}
