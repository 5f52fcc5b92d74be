import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiKeyStore } from './api-keys.js';

/** Who is calling: the operator (admin token), or a sponsor or merchant by API key. */
export type Principal = { kind: 'admin' } | { kind: 'sponsor'; sponsorId: string; keyId: string } | { kind: 'merchant'; merchantId: string; keyId: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Parses `Authorization: Bearer <token>` and resolves who is calling; the token never leaves this function.
 * What the caller may do is the route's declared audience (audience.ts).
 */
export function createAuthenticator(adminToken: string, keys: ApiKeyStore | null) {
  const adminDigest = digest(adminToken);
  return async function identify(request: FastifyRequest): Promise<void> {
    request.principal = null;
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return;
    const token = match[1]!;
    if (timingSafeEqual(digest(token), adminDigest)) {
      request.principal = { kind: 'admin' };
      return;
    }
    const owner = keys ? await keys.verify(token) : null;
    if (owner?.ownerKind === 'sponsor') request.principal = { kind: 'sponsor', sponsorId: owner.ownerId, keyId: owner.keyId };
    if (owner?.ownerKind === 'merchant') request.principal = { kind: 'merchant', merchantId: owner.ownerId, keyId: owner.keyId };
  };
}
