import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';

/**
 * Which vehicle held which card when (`vehicle_iccid_history`, migration 0010), for readers outside this
 * folder (revenue assurance joins the ledger to cards with it, issue 13).
 */

const BindingSchema = z.object({ vin: z.string(), automaker: z.string(), iccid: z.string(), validFrom: z.date().nullable(), validTo: z.date().nullable() });
/** A card in a vehicle (and the vehicle's automaker) over [validFrom, validTo); null: since production / still bound. */
export type CardBinding = z.output<typeof BindingSchema>;

/** Every binding that overlaps [from, to). */
export async function cardBindingsOverlapping(db: Pool | PoolClient, from: Date, to: Date): Promise<CardBinding[]> {
  const { rows } = await db.query(
    `SELECT h.vin, v.automaker, h.iccid, h.valid_from AS "validFrom", h.valid_to AS "validTo"
       FROM vehicle_iccid_history h JOIN vehicles v ON v.vin = h.vin
      WHERE (h.valid_from IS NULL OR h.valid_from < $2) AND (h.valid_to IS NULL OR h.valid_to > $1)
      ORDER BY h.vin, h.id`,
    [from, to],
  );
  return parseRows(BindingSchema, rows, 'card bindings');
}

const VehicleBindingSchema = z.object({ iccid: z.string(), validFrom: z.date().nullable(), validTo: z.date().nullable(), boundBy: z.string(), boundAt: z.date(), reason: z.string() });
/** One card binding of a vehicle, as the ICCID history audits it (who bound it, when, why). */
export type VehicleBinding = z.output<typeof VehicleBindingSchema>;

/** A vehicle's card bindings, oldest first (the operator console's audit trail; a vehicle has a handful). */
export async function cardBindingsOf(db: Pool | PoolClient, vin: string): Promise<VehicleBinding[]> {
  const { rows } = await db.query(
    `SELECT iccid, valid_from AS "validFrom", valid_to AS "validTo", bound_by AS "boundBy", bound_at AS "boundAt", reason
       FROM vehicle_iccid_history WHERE vin = $1 ORDER BY id`,
    [vin],
  );
  return parseRows(VehicleBindingSchema, rows, 'card bindings of a vehicle');
}
