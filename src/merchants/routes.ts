import { z } from 'zod';
import type { ApiKeyStore } from '../api/api-keys.js';
import { ErrorSchema, IdSchema, KeyIdSchema, KeyInfoSchema, NewKeySchema, UsccSchema } from '../api/schemas.js';
import type { FastifyZodInstance } from '../api/types.js';
import { notFound } from '../shared/errors.js';
import type { MerchantRepository } from './repository.js';
import { MerchantSchema } from './schemas.js';

export interface MerchantRouteDeps {
  merchants: MerchantRepository;
  keys: ApiKeyStore;
}

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };
const IdParams = z.object({ id: IdSchema });

/**
 * DESIGN 6: the merchant registry (admin) and its keys. A merchant's cards, orders, settlements and
 * e-invoices under `/v1/merchants/{id}/…` are the SIM business's routes (src/sims/merchant-routes.ts).
 */
export function merchantRoutes(app: FastifyZodInstance, deps: MerchantRouteDeps): void {
  const requireMerchant = async (id: string) => {
    const merchant = await deps.merchants.find(id);
    if (!merchant) throw notFound(`merchant ${id}`);
    return merchant;
  };

  app.post('/v1/merchants', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['merchants'],
      operationId: 'createMerchant',
      summary: 'Create a merchant (the seller on its e-invoices)',
      body: z.object({ id: IdSchema, name: z.string().trim().min(1).max(128), taxId: UsccSchema }),
      response: { 201: MerchantSchema, ...errors },
    },
    handler: async (request, reply) => reply.status(201).send(await deps.merchants.create(request.body)),
  });

  app.get('/v1/merchants', {
    config: { audience: ['admin'] },
    schema: { tags: ['merchants'], operationId: 'listMerchants', summary: 'Every merchant', response: { 200: z.object({ merchants: z.array(MerchantSchema) }), ...errors } },
    handler: async () => ({ merchants: await deps.merchants.list() }),
  });

  app.get('/v1/merchants/:id', {
    config: { audience: ['admin', 'merchant'] },
    schema: { tags: ['merchants'], operationId: 'getMerchant', summary: 'One merchant', params: IdParams, response: { 200: MerchantSchema, ...errors } },
    handler: async (request) => requireMerchant(request.params.id),
  });

  app.post('/v1/merchants/:id/keys', {
    config: { audience: ['admin'] },
    schema: { tags: ['merchants'], operationId: 'createMerchantKey', summary: 'Create a merchant API key (shown once)', params: IdParams, response: { 201: NewKeySchema, ...errors } },
    handler: async (request, reply) => {
      await requireMerchant(request.params.id);
      return reply.status(201).send(await deps.keys.create('merchant', request.params.id));
    },
  });

  app.get('/v1/merchants/:id/keys', {
    config: { audience: ['admin'] },
    schema: { tags: ['merchants'], operationId: 'listMerchantKeys', summary: 'List a merchant’s keys (never the secrets)', params: IdParams, response: { 200: z.object({ keys: z.array(KeyInfoSchema) }), ...errors } },
    handler: async (request) => {
      await requireMerchant(request.params.id);
      return { keys: await deps.keys.list('merchant', request.params.id) };
    },
  });

  app.delete('/v1/merchants/:id/keys/:keyId', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['merchants'],
      operationId: 'revokeMerchantKey',
      summary: 'Revoke a merchant key (idempotent)',
      params: IdParams.extend({ keyId: KeyIdSchema }),
      response: { 204: z.null(), ...errors },
    },
    handler: async (request, reply) => {
      await requireMerchant(request.params.id);
      const revoked = await deps.keys.revoke('merchant', request.params.id, request.params.keyId);
      if (!revoked && !(await deps.keys.exists('merchant', request.params.id, request.params.keyId))) throw notFound(`key ${request.params.keyId}`);
      return reply.status(204).send(null);
    },
  });
}

