import { z } from 'zod';
import { MoneySchema } from '../api/schemas.js';
import { STATUSES } from './reconcile.js';

/**
 * Replies of the revenue-assurance API (issue 13); `z.output` of each is the type the services return.
 * Bytes are JSON integers (as in the usage API, exact up to 2^53 − 1), money decimal strings.
 */

const Bytes = z.number().int();

export const LineErrorSchema = z.object({ line: z.number().int(), code: z.string(), message: z.string() });

export const ImportReplySchema = z.object({
  fileId: z.string(),
  /** the same file id with the same bytes was imported before: nothing changed */
  duplicate: z.boolean(),
  /** data lines (the header and blank lines not counted) */
  lines: z.number().int(),
  applied: z.number().int(),
  /** good lines an earlier delivery of this file id had applied already */
  alreadyApplied: z.number().int(),
  /** (card, day) figures written */
  days: z.number().int(),
  /** figures of another file replaced (each audited) */
  corrections: z.number().int(),
  ignoredColumns: z.array(z.string()),
  rejectedCount: z.number().int(),
  /** the first 1,000 bad lines */
  rejected: z.array(LineErrorSchema),
});
export type ImportReply = z.output<typeof ImportReplySchema>;

export const ImportErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
}).extend(ImportReplySchema.shape);

export const StatusSchema = z.enum(STATUSES);

const TotalSchema = z.object({ cardDays: z.number().int(), cards: z.number().int(), carrierBytes: Bytes, ledgerBytes: Bytes, gapBytes: Bytes });

export const CardDaySchema = z.object({
  iccid: z.string(),
  day: z.string(),
  vins: z.array(z.string()),
  carrierBytes: Bytes.nullable(),
  ledgerBytes: Bytes,
  gapBytes: Bytes,
  status: StatusSchema,
});
export type CardDayJson = z.output<typeof CardDaySchema>;

export const ToleranceSchema = z.object({ percent: z.string(), floorBytes: Bytes });

export const ReconciliationSchema = z.object({
  month: z.string(),
  timezone: z.string(),
  tolerance: ToleranceSchema,
  /** days of the month for which the carrier delivered figures */
  daysDelivered: z.number().int(),
  totals: z.object({
    matched: TotalSchema,
    under: TotalSchema,
    over: TotalSchema,
    carrier_only: TotalSchema,
    ledger_only: TotalSchema,
    all: TotalSchema.extend({ unexplainedBytes: Bytes }),
  }),
  daily: z.array(z.object({ day: z.string(), carrierBytes: Bytes, ledgerBytes: Bytes, gapBytes: Bytes, unexplainedBytes: Bytes })),
  largest: z.array(CardDaySchema),
  corrections: z.array(z.object({ iccid: z.string(), day: z.string(), oldBytes: Bytes, newBytes: Bytes, oldFileId: z.string(), newFileId: z.string(), correctedAt: z.string() })),
});
export type Reconciliation = z.output<typeof ReconciliationSchema>;

export const CardReconciliationSchema = z.object({ month: z.string(), iccid: z.string(), tolerance: ToleranceSchema, days: z.array(CardDaySchema) });

export const BreakageLineSchema = z.object({
  pack: z.string(),
  price: MoneySchema,
  sizeBytes: Bytes,
  sold: z.object({ packs: z.number().int(), bytes: Bytes, revenue: MoneySchema }),
  expired: z.object({ packs: z.number().int(), bytesSold: Bytes, bytesUsed: Bytes, bytesUnused: Bytes, unusedRevenue: MoneySchema }),
});
export type BreakageLine = z.output<typeof BreakageLineSchema>;

export const BreakageSchema = z.object({
  month: z.string(),
  currency: z.string(),
  packs: z.array(BreakageLineSchema),
  totals: z.object({ soldRevenue: MoneySchema, unusedRevenue: MoneySchema, bytesUnused: Bytes }),
});
export type Breakage = z.output<typeof BreakageSchema>;

export const SignalSchema = z.object({
  kind: z.enum(['ip_outside_app_ranges', 'hotspot_on_sponsored_host', 'volume_outlier']),
  vin: z.string(),
  app: z.string(),
  sponsors: z.array(z.string()),
  day: z.string(),
  bytes: Bytes,
  records: z.number().int(),
  evidence: z.record(z.string(), z.union([z.string(), z.number(), z.array(z.string())])),
});
export type Signal = z.output<typeof SignalSchema>;

export const SignalsSchema = z.object({ month: z.string(), signals: z.array(SignalSchema) });
