import { z } from 'zod';
import { ErrorSchema } from '../api/schemas.js';
import { SIM_STATES } from './state-machine.js';

/** HTTP shapes of the SIM lifecycle (DESIGN 6); the OpenAPI at /docs comes from these. */

export const MoneySchema = z.string().meta({ example: '48.00', description: 'decimal string, 2 decimals' });
export const ExternalOrderIdSchema = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' });

const PersonNameSchema = z.string().trim().min(1).max(64).regex(/^[\p{L}\p{M}·•.'\- ]+$/u, { message: "must be a name: letters, spaces and · . - ' only" });
export const BuyerSchema = z.object({
  name: PersonNameSchema,
  phone: z
    .string()
    .regex(/^\+?[0-9]{6,15}$/, { message: 'must be a phone number: 6–15 digits, an optional leading +' })
    .meta({ example: '13800000000' }),
});

export const SubjectSchema = z.object({
  status: z.enum(['none', 'pending', 'verified', 'rejected', 'superseded']),
  type: z.enum(['individual', 'enterprise']).nullable(),
  name: z.string().nullable().meta({ description: 'masked' }),
  idNumber: z.string().nullable().meta({ description: 'masked: resident ID number, or the credit code of an enterprise' }),
  agent: z.object({ name: z.string(), idNumber: z.string() }).optional(),
  reason: z.string().optional(),
  submittedAt: z.string().optional(),
  verifiedAt: z.string().nullable().optional(),
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
  realName: SubjectSchema,
  owner: SubjectSchema.optional(),
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

export const InvoiceItemSchema = z.object({
  name: z.string(),
  quantity: z.number().int(),
  unit: z.string(),
  unitPrice: MoneySchema,
  amount: MoneySchema,
  taxRate: z.string(),
  tax: MoneySchema,
});

export const InvoiceSchema = z.object({
  id: z.string(),
  kind: z.enum(['blue', 'red']),
  status: z.enum(['pending', 'issued', 'rejected']),
  number: z.string().nullable().meta({ description: '20 digits (数电发票)' }),
  originalNumber: z.string().nullable(),
  redReason: z.enum(['SALES_RETURN', 'SERVICE_TERMINATION']).nullable(),
  orderId: z.string(),
  externalOrderId: z.string(),
  iccid: z.string(),
  seller: z.object({ name: z.string(), taxId: z.string() }),
  buyer: z.object({ name: z.string().meta({ description: 'masked' }) }),
  currency: z.string(),
  items: z.array(InvoiceItemSchema),
  amount: MoneySchema,
  tax: MoneySchema,
  total: MoneySchema,
  createdAt: z.string(),
  issuedAt: z.string().nullable(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
});

export const RowProblemSchema = z.object({
  index: z.number().int(),
  field: z.string(),
  reason: z.string(),
  code: z.enum(['INVALID_INPUT', 'SIM_UNAVAILABLE']).meta({ description: 'SIM_UNAVAILABLE: the card is already on the platform (whoever holds it: never said)' }),
});
export const ImportErrorSchema = ErrorSchema.extend({ rejected: z.array(RowProblemSchema) });

const UnmaskedSubjectSchema = z.object({
  id: z.string(),
  role: z.enum(['holder', 'owner']),
  type: z.enum(['individual', 'enterprise']),
  status: z.string(),
  name: z.string(),
  idNumber: z.string(),
  agent: z.object({ name: z.string(), idNumber: z.string() }).optional(),
});

export const RevealSchema = z.object({
  iccid: z.string(),
  msisdn: z.string(),
  holder: UnmaskedSubjectSchema.nullable(),
  owner: UnmaskedSubjectSchema.nullable(),
  buyers: z.array(z.object({ externalOrderId: z.string(), name: z.string(), phone: z.string() })),
  auditId: z.string(),
});

export const ReasonBodySchema = z.object({ reason: z.string().trim().min(1).max(500).optional() }).nullish();

export const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema };
