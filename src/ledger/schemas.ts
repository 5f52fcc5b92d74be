import { z } from 'zod';
import { ALLOCATION_KINDS } from '../allocate/index.js';

/**
 * The ledger's replies of DESIGN 5 — dead letters and explain — as zod schemas: the routes serialise with
 * them, the OpenAPI at /docs is generated from them, and the pages and queries use their `z.output`.
 */

/** One rejection of DESIGN 3.1 in `GET /v1/dead-letters`. */
export const DeadLetterSchema = z.object({
  id: z.string(),
  vin: z.string().nullable(),
  topic: z.string(),
  code: z.string(),
  reason: z.string(),
  /** the record's index in its message; null for a whole-message rejection */
  index: z.number().int().nullable(),
  seq: z.number().int().nullable(),
  receivedAt: z.string(),
  payload: z.string(),
  payloadEncoding: z.enum(['utf8', 'base64']),
  payloadBytes: z.number().int(),
});
export type DeadLetterView = z.output<typeof DeadLetterSchema>;

/** A part of a record's bytes as its payer (or the admin) sees it. */
export const FullAllocationSchema = z.strictObject({
  payer: z.string(),
  kind: z.enum(ALLOCATION_KINDS),
  sponsorship: z.string().nullable(),
  packInstance: z.string().nullable(),
  bytes: z.number().int(),
  overage: z.boolean(),
  /** catalog price as written ("4.00"); null for pack and test parts */
  pricePerGiB: z.string().nullable(),
  usageMonth: z.string().meta({ example: '2026-11' }),
});
/** Another payer's part, as a sponsor sees it: only its size, so the parts still add up. */
export const HiddenAllocationSchema = z.strictObject({ payer: z.literal('other'), bytes: z.number().int() });

/** `GET /v1/vehicles/{vin}/usage/{seq}/explain`. */
export const ExplainReplySchema = z.object({
  vin: z.string(),
  epoch: z.string(),
  seq: z.number().int(),
  record: z.object({
    start: z.string(),
    end: z.string(),
    up: z.number().int(),
    down: z.number().int(),
    host: z.string().nullable(),
    ip: z.string().nullable(),
    port: z.number().int().nullable(),
    proto: z.string().nullable(),
    iface: z.string(),
    pkg: z.string().nullable(),
  }),
  app: z.string(),
  ruleId: z.string(),
  catalogVersion: z.string(),
  receivedAt: z.string(),
  allocations: z.array(z.union([FullAllocationSchema, HiddenAllocationSchema])),
});

export type ExplainedAllocation = z.output<typeof FullAllocationSchema>;
export type HiddenAllocation = z.output<typeof HiddenAllocationSchema>;
/** The explain reply; the admin's has only full parts, a sponsor's may hide others' (see `sponsorView`). */
export type RecordExplanation<A extends ExplainedAllocation | HiddenAllocation = ExplainedAllocation> = Omit<z.output<typeof ExplainReplySchema>, 'allocations'> & { allocations: A[] };
