import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../shared/errors.js';
import type { ApiKeyStore } from './api-keys.js';

/** Who is calling: the operator (admin token), or a sponsor or merchant by API key. */
export type Principal = { kind: 'admin' } | { kind: 'sponsor'; sponsorId: string; keyId: string } | { kind: 'merchant'; merchantId: string; keyId: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Parses `Authorization: Bearer <token>` and resolves who is calling; the token never leaves this function. */
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

/** onRequest (before body validation): 401 without a valid token, 403 when the token is valid but not the admin's. */
export async function requireAdmin(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!request.principal) throw unauthorized();
  if (request.principal.kind !== 'admin') throw forbidden();
}

/** onRequest: any valid token; the handler narrows the scope. */
export async function requireAuthenticated(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!request.principal) throw unauthorized();
}

/**
 * onRequest for `/v1/sponsors/:id/…` (DESIGN 5): the admin, or that sponsor's own key; another tenant's
 * top-level path is 403.
 */
export async function requireSponsorPath(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const principal = request.principal;
  if (!principal) throw unauthorized();
  if (principal.kind === 'admin') return;
  const id = (request.params as { id?: string }).id;
  if (principal.kind !== 'sponsor' || principal.sponsorId !== id) throw forbidden();
}

/** The same for `/v1/merchants/:id/…`. */
export async function requireMerchantPath(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const principal = request.principal;
  if (!principal) throw unauthorized();
  if (principal.kind === 'admin') return;
  const id = (request.params as { id?: string }).id;
  if (principal.kind !== 'merchant' || principal.merchantId !== id) throw forbidden();
}
