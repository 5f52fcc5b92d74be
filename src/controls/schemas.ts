import { z } from 'zod';

/** A vehicle's control state for one app (DESIGN 3.3) as `GET /v1/vehicles/{vin}` shows it. */
export const ControlSchema = z.object({ app: z.string(), action: z.enum(['block', 'allow']), reasons: z.array(z.string()), rev: z.number().int(), changedAt: z.string() });
export type ControlView = z.output<typeof ControlSchema>;
