import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.js';
import { parseIp } from '../shared/ip.js';

export interface Budget {
  /** burst size */
  capacity: number;
  /** sustained rate per second */
  refillPerSecond: number;
}

export interface RateLimitOptions extends Budget {
  /**
   * Sign-in attempts per client address (`POST /app/login`); only refused ones are counted. Default: a
   * burst of 10, then one every 10 s.
   */
  signIn?: Budget;
  /** bound on callers tracked per budget; the least recently seen are forgotten first */
  maxCallers?: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export const DEFAULT_SIGN_IN_BUDGET: Budget = { capacity: 10, refillPerSecond: 0.1 };
const SIGN_IN_PATH = '/app/login';

/**
 * The client address a limit is keyed by: `request.ip`, which is the socket's peer, or with TRUST_PROXY
 * the address the trusted proxy reports (fastify's `trustProxy`, never a header a client sets itself).
 * IPv6 clients are keyed by their /64: one end site picks any address in it at will.
 */
export function clientKey(ip: string): string {
  const parsed = parseIp(ip);
  if (!parsed) return ip;
  if (parsed.family === 4) return parsed.canonical;
  const prefix = parsed.bytes.slice(0, 8);
  const groups = [0, 2, 4, 6].map((i) => ((prefix[i]! << 8) | prefix[i + 1]!).toString(16));
  return `${groups.join(':')}::/64`;
}

function tokenBuckets(budget: Budget, maxCallers: number, now: () => number) {
  const buckets = new Map<string, Bucket>();
  const current = (caller: string) => {
    const nowMs = now();
    const bucket = buckets.get(caller) ?? { tokens: budget.capacity, updatedMs: nowMs };
    bucket.tokens = Math.min(budget.capacity, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * budget.refillPerSecond);
    bucket.updatedMs = nowMs;
    // Re-inserted so the Map's order is least recently seen first.
    buckets.delete(caller);
    if (buckets.size >= maxCallers) buckets.delete(buckets.keys().next().value as string);
    buckets.set(caller, bucket);
    return bucket;
  };
  return {
    /** Takes one token, or throws 429 with Retry-After when there is none. */
    take(caller: string, reply: FastifyReply): void {
      const bucket = current(caller);
      if (bucket.tokens < 1) {
        const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / budget.refillPerSecond));
        reply.header('retry-after', String(retryAfter));
        throw new AppError('RATE_LIMITED', `too many requests; retry after ${retryAfter} s`, 429);
      }
      bucket.tokens -= 1;
    },
    giveBack(caller: string): void {
      const bucket = buckets.get(caller);
      if (bucket) bucket.tokens = Math.min(budget.capacity, bucket.tokens + 1);
    },
  };
}

/**
 * Token buckets per caller (DESIGN 5: 429 with Retry-After when rate-limited). The caller is the API key
 * or, without a valid one, the client address ({@link clientKey}) — so one noisy sponsor cannot starve the
 * others, and one address cannot use up anyone else's budget (the sign-in page included). Operations
 * endpoints and the operator (admin token) are exempt. Sign-in attempts also draw on a smaller budget per
 * address, taken before the key is checked (so a parallel burst cannot slip through) and given back when the
 * sign-in succeeds: guessing keys through the form is slow, signing in is not. Buckets refill on monotonic
 * elapsed time, not on the business clock: this is about request rates, not dates.
 */
export function createRateLimiter(options: RateLimitOptions, now: () => number = () => performance.now()) {
  const maxCallers = options.maxCallers ?? 100_000;
  const requests = tokenBuckets(options, maxCallers, now);
  const signIns = tokenBuckets(options.signIn ?? DEFAULT_SIGN_IN_BUDGET, maxCallers, now);
  // By the matched route, not the raw URL: `/app/%6cogin` is the sign-in route too.
  const isSignIn = (request: FastifyRequest) => request.method === 'POST' && request.routeOptions.url === SIGN_IN_PATH;

  return {
    /** onRequest, after authentication. */
    async onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const path = request.routeOptions.url ?? '';
      if (path === '/health' || path === '/ready' || path === '/metrics' || path.startsWith('/app/assets/') || request.principal?.kind === 'admin') return;
      // A valid key is its own caller; anything else (no token, a wrong one — so a guesser cannot get a
      // fresh bucket per guess) counts against the client address.
      const principal = request.principal;
      const address = `a:${clientKey(request.ip)}`;
      requests.take(principal?.kind === 'sponsor' || principal?.kind === 'merchant' ? `k:${principal.keyId}` : address, reply);
      if (isSignIn(request)) signIns.take(address, reply);
    },
    /** onResponse: a sign-in that did not fail gives its attempt back. */
    async onResponse(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      if (isSignIn(request) && reply.statusCode !== 401 && reply.statusCode !== 429) signIns.giveBack(`a:${clientKey(request.ip)}`);
    },
  };
}
