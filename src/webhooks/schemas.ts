import { z } from 'zod';

/** A webhook endpoint as listed (never its secret). */
export const WebhookEndpointSchema = z.object({
  id: z.string().meta({ example: 'we_5f0c6e1d2a9b8c7d6e5f4a3b' }),
  url: z.string(),
  eventTypes: z.array(z.string()),
  createdAt: z.string(),
});

/** An endpoint just created: the only time its signing secret is shown. */
export const NewWebhookEndpointSchema = WebhookEndpointSchema.extend({
  secret: z.string().meta({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', description: 'shown once; base64 after whsec_ is the HMAC key' }),
});

/** One (event, endpoint) delivery in the log. */
export const WebhookDeliverySchema = z.object({
  id: z.string(),
  eventId: z.string().meta({ description: 'the webhook-id header of every attempt' }),
  type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  lastStatus: z.number().int().nullable().meta({ description: 'HTTP status of the last attempt; null when none came back' }),
  lastError: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  createdAt: z.string().meta({ description: 'when the event happened' }),
});

export type WebhookEndpointView = z.output<typeof WebhookEndpointSchema>;
export type WebhookDeliveryView = z.output<typeof WebhookDeliverySchema>;
