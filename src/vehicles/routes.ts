import { z } from 'zod';
import type { FastifyZodInstance } from '../api/types.js';
import { ErrorSchema, IccidSchema, OffsetTimestampSchema, VinSchema } from '../api/schemas.js';
import type { VehicleService } from './service.js';
import type { VehicleRow } from './repository.js';
import type { PackService } from './packs.js';
import type { ControlView } from '../controls/schemas.js';
import { PackInstanceSchema, SecretReplySchema, VehicleSchema, type PackInstanceView } from './schemas.js';

const VinParams = z.object({ vin: VinSchema });
const errors = { 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };

export interface VehicleRouteDeps {
  service: VehicleService;
  packs: PackService;
  /** the vehicle's packs with balances and its control states */
  details(vin: string): Promise<{ packs: PackInstanceView[]; controls: ControlView[] }>;
  /** SIM swap (src/sims/swap.ts): 404 unknown VIN, 409 a card that is not free; the same ICCID again is a no-op */
  swapIccid(vin: string, iccid: string, actor: string): Promise<unknown>;
}

export function vehicleRoutes(app: FastifyZodInstance, deps: VehicleRouteDeps): void {
  const { service } = deps;
  const present = async (v: VehicleRow) => ({
    vin: v.vin,
    iccid: v.iccid,
    automaker: v.automaker,
    model: v.model,
    activatedAt: v.activatedAt?.toISOString() ?? null,
    createdAt: v.createdAt.toISOString(),
    ...(await deps.details(v.vin)),
  });

  app.post('/v1/vehicles', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['vehicles'],
      operationId: 'registerVehicle',
      summary: 'Register a T-Box; the device secret is returned once',
      body: z.object({ vin: VinSchema, iccid: IccidSchema, automaker: z.string().min(1).max(40), model: z.string().min(1).max(100), activatedAt: OffsetTimestampSchema.optional() }),
      response: { 201: SecretReplySchema, ...errors },
    },
    handler: async (request, reply) => reply.status(201).send(await service.register(request.body)),
  });

  app.get('/v1/vehicles/:vin', {
    config: { audience: ['admin'] },
    schema: { tags: ['vehicles'], operationId: 'getVehicle', summary: 'A vehicle, its packs and control states', params: VinParams, response: { 200: VehicleSchema, ...errors } },
    handler: async (request) => present(await service.get(request.params.vin)),
  });

  app.post('/v1/vehicles/:vin/activate', {
    config: { audience: ['admin'] },
    schema: { tags: ['vehicles'], operationId: 'activateVehicle', summary: 'Set the activation date', params: VinParams, body: z.object({ activatedAt: OffsetTimestampSchema }), response: { 200: VehicleSchema, ...errors } },
    handler: async (request) => present(await service.activate(request.params.vin, request.body.activatedAt)),
  });

  app.post('/v1/vehicles/:vin/secret', {
    config: { audience: ['admin'] },
    schema: { tags: ['vehicles'], operationId: 'rotateDeviceSecret', summary: 'Rotate the device secret (closes the live session); returned once', params: VinParams, response: { 200: SecretReplySchema, ...errors } },
    handler: async (request) => service.rotateSecret(request.params.vin),
  });

  app.put('/v1/vehicles/:vin/iccid', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['vehicles'],
      operationId: 'swapVehicleIccid',
      summary:
        'SIM swap: bind a free card (not bound to a vehicle, not in a merchant’s inventory) to the vehicle; audited in its ICCID history; usage before the swap stays on the old card; the vehicle user’s real-name stays with the vehicle; the same ICCID again is a no-op',
      params: VinParams,
      body: z.object({ iccid: IccidSchema }),
      response: { 200: VehicleSchema, ...errors },
    },
    handler: async (request) => {
      await deps.swapIccid(request.params.vin, request.body.iccid, 'admin');
      return present(await service.get(request.params.vin));
    },
  });

  app.post('/v1/vehicles/:vin/packs', {
    config: { audience: ['admin'] },
    schema: {
      tags: ['vehicles'],
      operationId: 'buyPack',
      summary: 'The owner bought a pack (idempotent per externalOrderId)',
      params: VinParams,
      body: z.object({ pack: z.string().min(1).max(40), purchasedAt: OffsetTimestampSchema.optional(), externalOrderId: z.string().min(1).max(128).optional() }),
      response: { 200: PackInstanceSchema, 201: PackInstanceSchema, ...errors },
    },
    handler: async (request, reply) => {
      const { instance, created } = await deps.packs.buy(request.params.vin, request.body);
      return reply.status(created ? 201 : 200).send(instance);
    },
  });
}
