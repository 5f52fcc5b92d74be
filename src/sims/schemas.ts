import { z } from 'zod';
import { ErrorSchema, MoneySchema } from '../api/schemas.js';
import { MaskedSubjectSchema, UnmaskedSubjectSchema } from '../realname/schemas.js';
import { SIM_STATES } from './state-machine.js';

/** HTTP shapes of the SIM lifecycle (DESIGN 6); the OpenAPI at /docs comes from these. */

export const ExternalOrderIdSchema = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' });

const PersonNameSchema = z.string().trim().min(1).max(64).regex(/^[\p{L}\p{M}·•.'\- ]+$/u, { message: "must be a name: letters, spaces and · . - ' only" });
export const BuyerSchema = z.object({
  name: PersonNameSchema,
  phone: z
    .string()
    .regex(/^\+?[0-9]{6,15}$/, { message: 'must be a phone number: 6–15 digits, an optional leading +' })
    .meta({ example: '13800000000' }),
});

export const SimStateSchema = z.enum(SIM_STATES);

export const SimSchema = z.object({
  iccid: z.string(),
  merchant: z.string(),
  state: SimStateSchema,
  vin: z.string().nullable(),
  serviceUntil: z.string().nullable(),
  activatedAt: z.string().nullable(),
  imsi: z.string(),
  msisdn: z.string().meta({ description: 'masked' }),
  realName: MaskedSubjectSchema,
  owner: MaskedSubjectSchema.optional(),
});

export const SimListItemSchema = z.object({
  iccid: z.string(),
  state: SimStateSchema,
  vin: z.string().nullable(),
  imsi: z.string(),
  msisdn: z.string(),
  serviceUntil: z.string().nullable(),
  activatedAt: z.string().nullable(),
});

export const SimEventSchema = z.object({
  id: z.string(),
  event: z.string(),
  from: z.string().nullable(),
  to: z.string(),
  actor: z.string(),
  reason: z.string(),
  orderId: z.string().nullable(),
  at: z.string(),
});

export const OrderSchema = z.object({
  id: z.string(),
  merchant: z.string(),
  externalOrderId: z.string(),
  kind: z.enum(['sale', 'recharge']),
  iccid: z.string(),
  plan: z.string(),
  termMonths: z.number().int().nullable(),
  pack: z.string().nullable(),
  monthlyPack: z.string().nullable(),
  currency: z.string(),
  retail: MoneySchema,
  wholesale: MoneySchema,
  taxRate: z.string(),
  buyer: z.object({ name: z.string(), phone: z.string() }).meta({ description: 'masked' }),
  status: z.enum(['paid', 'refunded']),
  createdAt: z.string(),
  refundedAt: z.string().nullable(),
  einvoices: z.array(z.object({ id: z.string(), kind: z.enum(['blue', 'red']), status: z.string(), number: z.string().nullable(), total: MoneySchema })),
});

/** A row's problem in an inventory import's reply (`sims.3.iccid`). */
export const RowProblemSchema = z.object({
  index: z.number().int(),
  field: z.string(),
  reason: z.string(),
  code: z.enum(['INVALID_INPUT', 'SIM_UNAVAILABLE']).meta({ description: 'SIM_UNAVAILABLE: the card is already on the platform (whoever holds it: never said)' }),
});
export const ImportErrorSchema = ErrorSchema.extend({ rejected: z.array(RowProblemSchema) });

export const RevealSchema = z.object({
  iccid: z.string(),
  msisdn: z.string(),
  holder: UnmaskedSubjectSchema.nullable(),
  owner: UnmaskedSubjectSchema.nullable(),
  buyers: z.array(z.object({ externalOrderId: z.string(), name: z.string(), phone: z.string() })),
  auditId: z.string(),
});

/** `GET /v1/personal-data/access-log`: one read of unmasked personal data. */
export const AccessLogEntrySchema = z.object({ id: z.string(), actor: z.string(), iccid: z.string().nullable(), fields: z.array(z.string()), reason: z.string(), requestId: z.string().nullable(), at: z.string() });

export type RowProblem = z.output<typeof RowProblemSchema>;
export type SimView = z.output<typeof SimSchema>;
export type SimListItem = z.output<typeof SimListItemSchema>;
export type SimEventView = z.output<typeof SimEventSchema>;
export type OrderView = z.output<typeof OrderSchema>;
export type RevealedCard = z.output<typeof RevealSchema>;
export type AccessLogEntry = z.output<typeof AccessLogEntrySchema>;

export const ReasonBodySchema = z.object({ reason: z.string().trim().min(1).max(500).optional() }).nullish();

export const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };
