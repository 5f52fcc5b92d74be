import { isIPv6 } from 'node:net';

/**
 * Failed-authentication bookkeeping for one kind of key (a VIN, a source address): after `freeFailures`
 * failures the key is blocked for `baseBlockMs`, doubling with each further failure up to `maxBlockMs`;
 * a key with no failure for `forgetAfterMs` starts afresh. Memory is bounded: at most `maxEntries` keys,
 * the one whose last failure is oldest evicted first (forgetting a penalty early is the safe direction
 * for legitimate devices; the other table still holds an attacker). Pure bookkeeping: the caller passes
 * the time.
 */
export interface FailurePolicy {
  freeFailures: number;
  baseBlockMs: number;
  maxBlockMs: number;
  forgetAfterMs: number;
  maxEntries: number;
  /** While blocked, one attempt per this many ms may still be checked (0 = none). */
  probeIntervalMs: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
  nextProbeAt: number;
}

export interface FailureTable {
  /** True when `key` is blocked at `now`. */
  blocked(key: string, now: number): boolean;
  /** True when `key` has failures not yet forgotten at `now`. */
  failed(key: string, now: number): boolean;
  /** While blocked: true at most once per probe interval, and that attempt may be checked. */
  takeProbe(key: string, now: number): boolean;
  recordFailure(key: string, now: number): void;
  clear(key: string): void;
  size(): number;
}

export function createFailureTable(policy: FailurePolicy): FailureTable {
  const entries = new Map<string, Entry>();
  const live = (key: string, now: number): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && now - entry.lastFailureAt > policy.forgetAfterMs && entry.blockedUntil <= now) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return {
    blocked: (key, now) => (live(key, now)?.blockedUntil ?? 0) > now,
    failed: (key, now) => live(key, now) !== undefined,
    takeProbe(key, now) {
      const entry = live(key, now);
      if (!entry || policy.probeIntervalMs <= 0 || entry.nextProbeAt > now) return false;
      entry.nextProbeAt = now + policy.probeIntervalMs;
      return true;
    },
    recordFailure(key, now) {
      const entry = live(key, now) ?? { failures: 0, lastFailureAt: now, blockedUntil: 0, nextProbeAt: 0 };
      entry.failures += 1;
      entry.lastFailureAt = now;
      if (entry.failures >= policy.freeFailures) {
        const doublings = Math.min(entry.failures - policy.freeFailures, 30);
        entry.blockedUntil = now + Math.min(policy.baseBlockMs * 2 ** doublings, policy.maxBlockMs);
        // A fresh block starts with its probe spent: the failure that caused it was the check.
        entry.nextProbeAt = now + policy.probeIntervalMs;
      }
      // Re-inserted at the end: Map order is then the order of last failures, oldest first.
      entries.delete(key);
      entries.set(key, entry);
      while (entries.size > policy.maxEntries) entries.delete(entries.keys().next().value as string);
    },
    clear: (key) => void entries.delete(key),
    size: () => entries.size,
  };
}

/**
 * The key a source address is limited by: an IPv4-mapped IPv6 address as IPv4, any other IPv6 address
 * by its /64 (one subscriber's prefix: a host picks any address in it at will).
 */
export function sourceKey(address: string): string {
  const bare = address.split('%')[0]!;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (!isIPv6(bare)) return bare;
  const [head = '', tail] = bare.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  // an embedded IPv4 tail (::ffff:0:1.2.3.4 and the like) counts as two groups; only the first four matter here
  const missing = 8 - headGroups.length - tailGroups.length - (tailGroups.at(-1)?.includes('.') ? 1 : 0);
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(missing, 0)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => (Number.parseInt(group, 16) || 0).toString(16))
    .join(':')}::/64`;
}
