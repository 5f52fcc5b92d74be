import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';

/**
 * Which vehicle held which card when (`vehicle_iccid_history`, migration 0010), for readers outside this
 * folder (revenue assurance joins the ledger to cards with it, issue 13).
 */

const BindingSchema = z.object({ vin: z.string(), iccid: z.string(), validFrom: z.date().nullable(), validTo: z.date().nullable() });
/** A card in a vehicle over [validFrom, validTo); null: since production / still bound. */
export type CardBinding = z.output<typeof BindingSchema>;

/** Every binding that overlaps [from, to). */
export async function cardBindingsOverlapping(db: Pool | PoolClient, from: Date, to: Date): Promise<CardBinding[]> {
  const { rows } = await db.query(
    `SELECT vin, iccid, valid_from AS "validFrom", valid_to AS "validTo" FROM vehicle_iccid_history
      WHERE (valid_from IS NULL OR valid_from < $2) AND (valid_to IS NULL OR valid_to > $1)
      ORDER BY vin, id`,
    [from, to],
  );
  return parseRows(BindingSchema, rows, 'card bindings');
}
