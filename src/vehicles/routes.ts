import { z } from 'zod';
import type { FastifyZodInstance } from '../api/types.js';
import { requireAdmin } from '../api/auth.js';
import { ErrorSchema, IccidSchema, OffsetTimestampSchema, VinSchema } from '../api/schemas.js';
import type { VehicleService } from './service.js';
import type { VehicleRow } from './repository.js';

const VehicleSchema = z.object({
  vin: z.string(),
  iccid: z.string(),
  automaker: z.string(),
  model: z.string(),
  activatedAt: z.string().nullable(),
  createdAt: z.string(),
  packs: z.array(z.unknown()),
  controls: z.array(z.unknown()),
});
const SecretReplySchema = z.object({ vin: z.string(), deviceSecret: z.string() });
const VinParams = z.object({ vin: VinSchema });
const errors = { 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

const present = (v: VehicleRow) => ({
  vin: v.vin,
  iccid: v.iccid,
  automaker: v.automaker,
  model: v.model,
  activatedAt: v.activatedAt?.toISOString() ?? null,
  createdAt: v.createdAt.toISOString(),
  packs: [],
  controls: [],
});

export function vehicleRoutes(app: FastifyZodInstance, service: VehicleService): void {
  app.post('/v1/vehicles', {
    onRequest: requireAdmin,
    schema: {
      tags: ['vehicles'],
      summary: 'Register a T-Box; the device secret is returned once',
      body: z.object({ vin: VinSchema, iccid: IccidSchema, automaker: z.string().min(1).max(40), model: z.string().min(1).max(100), activatedAt: OffsetTimestampSchema.optional() }),
      response: { 201: SecretReplySchema, ...errors },
    },
    handler: async (request, reply) => reply.status(201).send(await service.register(request.body)),
  });

  app.get('/v1/vehicles/:vin', {
    onRequest: requireAdmin,
    schema: { tags: ['vehicles'], summary: 'A vehicle, its packs and control states', params: VinParams, response: { 200: VehicleSchema, ...errors } },
    handler: async (request) => present(await service.get(request.params.vin)),
  });

  app.post('/v1/vehicles/:vin/activate', {
    onRequest: requireAdmin,
    schema: { tags: ['vehicles'], summary: 'Set the activation date', params: VinParams, body: z.object({ activatedAt: OffsetTimestampSchema }), response: { 200: VehicleSchema, ...errors } },
    handler: async (request) => present(await service.activate(request.params.vin, request.body.activatedAt)),
  });

  app.post('/v1/vehicles/:vin/secret', {
    onRequest: requireAdmin,
    schema: { tags: ['vehicles'], summary: 'Rotate the device secret (closes the live session); returned once', params: VinParams, response: { 200: SecretReplySchema, ...errors } },
    handler: async (request) => service.rotateSecret(request.params.vin),
  });
}
