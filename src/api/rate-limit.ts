import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.js';

export interface RateLimitOptions {
  /** burst size per caller */
  capacity: number;
  /** sustained requests per second per caller */
  refillPerSecond: number;
  /** bound on callers tracked; the oldest are forgotten first */
  maxCallers?: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * A token bucket per caller (DESIGN 5: 429 with Retry-After when rate-limited). The caller is the API key
 * or, without a valid one, the client address — so one noisy sponsor cannot starve the others, and
 * unauthenticated probing is throttled too. Operations endpoints and the operator
 * (admin token) are exempt. Buckets refill on monotonic elapsed time, not on the business clock: this is
 * about request rates, not dates.
 */
export function createRateLimiter(options: RateLimitOptions, now: () => number = () => performance.now()) {
  const buckets = new Map<string, Bucket>();
  const maxCallers = options.maxCallers ?? 100_000;
  return async function rateLimit(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const path = request.url.split('?')[0]!;
    if (path === '/health' || path === '/ready' || path === '/metrics' || path.startsWith('/app/assets/') || request.principal?.kind === 'admin') return;
    // After authentication: a valid key is its own caller; anything else (no token, a wrong one — so a
    // guesser cannot get a fresh bucket per guess) counts against the client address.
    const principal = request.principal;
    const caller = principal?.kind === 'sponsor' || principal?.kind === 'merchant' ? `k:${principal.keyId}` : `a:${request.ip}`;
    const nowMs = now();
    const bucket = buckets.get(caller) ?? { tokens: options.capacity, updatedMs: nowMs };
    bucket.tokens = Math.min(options.capacity, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * options.refillPerSecond);
    bucket.updatedMs = nowMs;
    buckets.delete(caller);
    if (buckets.size >= maxCallers) buckets.delete(buckets.keys().next().value as string);
    buckets.set(caller, bucket);
    if (bucket.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / options.refillPerSecond));
      reply.header('retry-after', String(retryAfter));
      throw new AppError('RATE_LIMITED', `too many requests; retry after ${retryAfter} s`, 429);
    }
    bucket.tokens -= 1;
  };
}
