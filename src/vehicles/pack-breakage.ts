import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';

/**
 * Pack figures for breakage (issue 13, revenue assurance): `pack_instances` summed per pack product (and
 * instance size, so a pro rata stays exact when a product's size changed between sales).
 */

const GroupSchema = z.object({
  pack: z.string(),
  sizeBytes: z.string().transform(BigInt),
  packs: z.coerce.number().int(),
  bytes: z.string().transform(BigInt),
  unusedBytes: z.string().transform(BigInt),
});
export type PackGroup = z.output<typeof GroupSchema>;

/** Packs bought in [from, to): per product and size, how many, their bytes, and the balance left now. */
export async function packsPurchasedBetween(db: Pool | PoolClient, from: Date, to: Date): Promise<PackGroup[]> {
  const { rows } = await db.query(
    `SELECT pack_id AS pack, size_bytes::text AS "sizeBytes", count(*) AS packs, sum(size_bytes)::text AS bytes, sum(balance_bytes)::text AS "unusedBytes"
       FROM pack_instances WHERE purchased_at >= $1 AND purchased_at < $2 GROUP BY pack_id, size_bytes ORDER BY pack_id, size_bytes`,
    [from, to],
  );
  return parseRows(GroupSchema, rows, 'packs purchased');
}

/** Packs that expired in [from, to) (before `now`): per product and size, how many, their bytes, and the balance they expired with. */
export async function packsExpiredBetween(db: Pool | PoolClient, from: Date, to: Date, now: Date): Promise<PackGroup[]> {
  const { rows } = await db.query(
    `SELECT pack_id AS pack, size_bytes::text AS "sizeBytes", count(*) AS packs, sum(size_bytes)::text AS bytes, sum(balance_bytes)::text AS "unusedBytes"
       FROM pack_instances WHERE expires_at >= $1 AND expires_at < least($2::timestamptz, $3::timestamptz)
      GROUP BY pack_id, size_bytes ORDER BY pack_id, size_bytes`,
    [from, to, now],
  );
  return parseRows(GroupSchema, rows, 'packs expired');
}
