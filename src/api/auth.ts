import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../shared/errors.js';

export type Principal = { kind: 'admin' };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Parses `Authorization: Bearer <token>` and resolves who is calling; the token never leaves this function. */
export function createAuthenticator(adminToken: string) {
  const adminDigest = digest(adminToken);
  return async function identify(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    request.principal = match && timingSafeEqual(digest(match[1]!), adminDigest) ? { kind: 'admin' } : null;
  };
}

/** onRequest (before body validation): 401 without a valid token, 403 when the token is valid but not the admin's. */
export async function requireAdmin(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!request.principal) throw unauthorized();
  if (request.principal.kind !== 'admin') throw forbidden();
}
