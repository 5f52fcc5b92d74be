import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';
import { formatInstant } from '../shared/time.js';

/**
 * A vehicle's latest usage records for the operator console (src/web), each with what each payer was
 * allocated: the last `limit` keys of the vehicle in primary-key order (epoch, seq descending) — one
 * backward range read of `usage_records`' primary key in the vehicle's hash partition, and the allocations
 * of those records by their primary key (usage month within two days of the start, as explain finds them).
 * Never a scan: the page shows at most `limit` records, and "explain" opens any one of them.
 */

const RowSchema = z.object({
  epoch: z.string(),
  seq: z.string(),
  start_at: z.date(),
  bytes: z.string(),
  app: z.string(),
  received_at: z.date(),
  payers: z.array(z.object({ payer: z.string(), bytes: z.union([z.string(), z.number()]) })).nullable(),
});

export interface RecentRecord {
  epoch: string;
  seq: number;
  /** the record's start in the billing timezone */
  start: string;
  receivedAt: string;
  app: string;
  bytes: bigint;
  /** bytes allocated to each payer, in payer order */
  payers: Array<{ payer: string; bytes: bigint }>;
}

export async function recentRecords(db: Pick<Pool | PoolClient, 'query'>, vin: string, limit: number, timezone: string): Promise<RecentRecord[]> {
  const { rows } = await db.query(
    `SELECT u.epoch, u.seq::text, u.start_at, (u.up + u.down)::text AS bytes, u.app, u.received_at,
            (SELECT json_agg(json_build_object('payer', p.payer, 'bytes', p.bytes::text) ORDER BY p.payer COLLATE "C")
               FROM (SELECT a.payer, sum(a.bytes) AS bytes FROM allocations a
                      WHERE a.vin = u.vin AND a.epoch = u.epoch AND a.seq = u.seq
                        AND a.usage_month >= date_trunc('month', u.start_at - interval '2 days')::date
                        AND a.usage_month <= (u.start_at + interval '2 days')::date
                      GROUP BY a.payer) p) AS payers
       FROM (SELECT * FROM usage_records WHERE vin = $1 ORDER BY epoch DESC, seq DESC LIMIT $2) u
      ORDER BY u.epoch DESC, u.seq DESC`,
    [vin, limit],
  );
  return parseRows(RowSchema, rows, 'recent records of a vehicle').map((r) => ({
    epoch: r.epoch,
    seq: Number(r.seq),
    start: formatInstant(r.start_at.getTime(), timezone),
    receivedAt: formatInstant(r.received_at.getTime(), timezone),
    app: r.app,
    bytes: BigInt(r.bytes),
    payers: (r.payers ?? []).map((p) => ({ payer: p.payer, bytes: BigInt(p.bytes) })),
  }));
}
