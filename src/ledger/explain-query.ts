import { z } from 'zod';
import { ALLOCATION_KINDS } from '../allocate/index.js';
import { catalogVersionName } from '../catalog/repository.js';
import type { Pool } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import { formatInstant } from '../shared/time.js';
import type { ExplainedAllocation, HiddenAllocation, RecordExplanation } from './schemas.js';

/**
 * DESIGN 5 explain: one stored usage record, the rule that classified it, the catalog version, and every
 * allocation it produced (DESIGN 4.2), in part order. A sponsor sees its own allocations in full and the
 * others only as `{payer: "other", bytes}` (so the parts still add up to the record's bytes).
 */

const RecordRowSchema = z.object({
  start_at: z.date(),
  end_at: z.date(),
  up: z.string(),
  down: z.string(),
  host: z.string().nullable(),
  ip: z.string().nullable(),
  port: z.number().int().nullable(),
  proto: z.string().nullable(),
  iface: z.string(),
  pkg: z.string().nullable(),
  app: z.string(),
  rule_id: z.string(),
  catalog_version_id: z.number().int(),
  received_at: z.date(),
});
const AllocationRowSchema = z.object({
  payer: z.string(),
  kind: z.enum(ALLOCATION_KINDS),
  sponsorship_id: z.string().nullable(),
  pack_instance_id: z.string().nullable(),
  bytes: z.string(),
  price_per_gib: z.string().nullable(),
  usage_month: z.string(),
});

export interface RecordKey {
  vin: string;
  epoch: string;
  seq: number;
}

/** numeric(14,4) prints "4.0000": trailing zeros beyond the second decimal are dropped ("4.00", "0.0125"). */
function formatPrice(stored: string): string {
  const [whole, fraction = ''] = stored.split('.');
  return `${whole}.${fraction.replace(/0+$/, '').padEnd(2, '0')}`;
}

/** int8 as a JSON integer: every value here is bounded by the record's `up + down` ≤ 2^41 (DESIGN 3.1). */
function safeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`${text} is not a safe integer`);
  return value;
}

export async function findRecordExplanation(pool: Pick<Pool, 'query'>, key: RecordKey, timezone: string): Promise<RecordExplanation | null> {
  const params = [key.vin, key.epoch, key.seq];
  const [records, allocations] = await Promise.all([
    pool.query(
      `SELECT u.start_at, u.end_at, u.up::text, u.down::text, u.host, u.ip, u.port, u.proto, u.iface, u.pkg, u.app, u.rule_id, u.catalog_version_id, u.received_at
         FROM usage_records u
        WHERE u.vin = $1 AND u.epoch = $2 AND u.seq = $3`,
      params,
    ),
    pool.query(
      // By the primary key: the usage month is the month of the record's start in the billing timezone,
      // within two days of its UTC month whatever the zone (this lets PostgreSQL skip other partitions).
      `SELECT a.payer, a.kind, a.sponsorship_id, a.pack_instance_id::text, a.bytes::text, a.price_per_gib::text, to_char(a.usage_month, 'YYYY-MM') AS usage_month
         FROM usage_records u JOIN allocations a
           ON a.vin = u.vin AND a.epoch = u.epoch AND a.seq = u.seq
          AND a.usage_month >= date_trunc('month', u.start_at - interval '2 days')::date
          AND a.usage_month <= (u.start_at + interval '2 days')::date
        WHERE u.vin = $1 AND u.epoch = $2 AND u.seq = $3 ORDER BY a.part`,
      params,
    ),
  ]);
  const row = parseFirstRow(RecordRowSchema, records.rows, 'explain: usage record');
  if (!row) return null;
  const catalogVersion = await catalogVersionName(pool, row.catalog_version_id);
  if (catalogVersion === null) throw new Error(`explain: usage record names catalog version id ${row.catalog_version_id}, which is not stored`);
  const at = (date: Date) => formatInstant(date.getTime(), timezone);
  return {
    vin: key.vin,
    epoch: key.epoch,
    seq: key.seq,
    record: {
      start: at(row.start_at),
      end: at(row.end_at),
      up: safeInteger(row.up),
      down: safeInteger(row.down),
      host: row.host,
      ip: row.ip,
      port: row.port,
      proto: row.proto,
      iface: row.iface,
      pkg: row.pkg,
    },
    app: row.app,
    ruleId: row.rule_id,
    catalogVersion,
    receivedAt: at(row.received_at),
    allocations: parseRows(AllocationRowSchema, allocations.rows, 'explain: allocations').map((a) => ({
      payer: a.payer,
      kind: a.kind,
      sponsorship: a.sponsorship_id,
      packInstance: a.pack_instance_id,
      bytes: safeInteger(a.bytes),
      overage: a.kind === 'overage',
      pricePerGiB: a.price_per_gib === null ? null : formatPrice(a.price_per_gib),
      usageMonth: a.usage_month,
    })),
  };
}

/**
 * What a sponsor may see of a record: null when it has no allocation on it (DESIGN 5: 404, so that the
 * record's existence does not leak); otherwise its own parts in full and every other part as `other`.
 */
export function sponsorView(explanation: RecordExplanation, sponsorId: string): RecordExplanation<ExplainedAllocation | HiddenAllocation> | null {
  if (!explanation.allocations.some((a) => a.payer === sponsorId)) return null;
  return {
    ...explanation,
    allocations: explanation.allocations.map((a) => (a.payer === sponsorId ? a : { payer: 'other' as const, bytes: a.bytes })),
  };
}
