import { z } from 'zod';
import type { ApiKeyStore } from '../api/api-keys.js';
import { ErrorSchema, IdSchema, KeyIdSchema, KeyInfoSchema, NewKeySchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import { notFound } from '../shared/errors.js';

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };

/** DESIGN 5: sponsor API keys, created (shown once), listed and revoked by the admin. */
export function sponsorKeyRoutes(app: FastifyZodInstance, deps: { keys: ApiKeyStore; catalog(): Catalog }): void {
  const requireSponsor = (id: string) => {
    if (!deps.catalog().sponsors.some((s) => s.id === id)) throw notFound(`sponsor ${id}`);
  };
  const params = z.object({ id: IdSchema });

  app.post('/v1/sponsors/:id/keys', {
    config: { audience: ['admin'] },
    schema: { tags: ['sponsors'], operationId: 'createSponsorKey', summary: 'Create a sponsor API key (shown once)', params, response: { 201: NewKeySchema, ...errors } },
    handler: async (request, reply) => {
      requireSponsor(request.params.id);
      return reply.status(201).send(await deps.keys.create('sponsor', request.params.id));
    },
  });

  app.get('/v1/sponsors/:id/keys', {
    config: { audience: ['admin'] },
    schema: { tags: ['sponsors'], operationId: 'listSponsorKeys', summary: 'List a sponsor’s keys (never the secrets)', params, response: { 200: z.object({ keys: z.array(KeyInfoSchema) }), ...errors } },
    handler: async (request) => {
      requireSponsor(request.params.id);
      return { keys: await deps.keys.list('sponsor', request.params.id) };
    },
  });

  app.delete('/v1/sponsors/:id/keys/:keyId', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['sponsors'],
      operationId: 'revokeSponsorKey',
      summary: 'Revoke a sponsor key (idempotent)',
      params: params.extend({ keyId: KeyIdSchema }),
      response: { 204: z.null(), ...errors },
    },
    handler: async (request, reply) => {
      requireSponsor(request.params.id);
      const revoked = await deps.keys.revoke('sponsor', request.params.id, request.params.keyId);
      if (!revoked && !(await deps.keys.exists('sponsor', request.params.id, request.params.keyId))) throw notFound(`key ${request.params.keyId}`);
      return reply.status(204).send(null);
    },
  });
}
