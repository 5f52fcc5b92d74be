import { z } from 'zod';
import { ControlSchema } from '../controls/schemas.js';

/** The vehicle replies of DESIGN 5 as zod schemas; the services' reply types are their `z.output`. */

/** An owner's pack with its balance (`POST /v1/vehicles/{vin}/packs`, and in the vehicle). */
export const PackInstanceSchema = z.object({
  id: z.string(),
  vin: z.string(),
  pack: z.string(),
  purchasedAt: z.string(),
  expiresAt: z.string(),
  sizeBytes: z.number().int(),
  balanceBytes: z.number().int(),
  externalOrderId: z.string().nullable(),
});
export type PackInstanceView = z.output<typeof PackInstanceSchema>;

export const VehicleSchema = z.object({
  vin: z.string(),
  iccid: z.string(),
  automaker: z.string(),
  model: z.string(),
  activatedAt: z.string().nullable(),
  createdAt: z.string(),
  packs: z.array(PackInstanceSchema),
  controls: z.array(ControlSchema),
});

/** A device secret, shown once (registration and rotation). */
export const SecretReplySchema = z.object({ vin: z.string(), deviceSecret: z.string() });
export type SecretReply = z.output<typeof SecretReplySchema>;
