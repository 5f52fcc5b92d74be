import { z } from 'zod';
import { textArray } from '../shared/db/arrays.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';

/**
 * The ledger's bytes per card per day (issue 13, revenue assurance): given which vehicle held which card
 * when (the caller reads that from src/vehicles/card-history.ts), the allocations of each binding's vehicle
 * and time span, summed by the day of the record's start in `timezone`. Allocations sum to each record's
 * bytes (DESIGN 4.2; zero-byte records have none), and `allocations (vin, start_at)` serves the scan.
 */

const CardDayRowSchema = z.object({ iccid: z.string(), vin: z.string(), day: z.string(), bytes: z.string().transform(BigInt) });
export type LedgerCardDay = z.output<typeof CardDayRowSchema>;

export interface Binding {
  vin: string;
  iccid: string;
  validFrom: Date | null;
  validTo: Date | null;
}

export async function ledgerBytesByCardDay(db: Pool | PoolClient, bindings: readonly Binding[], from: Date, to: Date, timezone: string): Promise<LedgerCardDay[]> {
  if (bindings.length === 0) return [];
  const { rows } = await db.query(
    `SELECT b.iccid, b.vin, to_char((a.start_at AT TIME ZONE $7)::date, 'YYYY-MM-DD') AS day, sum(a.bytes)::text AS bytes
       FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS b(vin, iccid, valid_from, valid_to)
       JOIN allocations a ON a.vin = b.vin
        AND a.start_at >= greatest(b.valid_from, $5::timestamptz) AND a.start_at < least(b.valid_to, $6::timestamptz)
      GROUP BY 1, 2, 3`,
    [
      textArray(bindings.map((b) => b.vin)),
      textArray(bindings.map((b) => b.iccid)),
      textArray(bindings.map((b) => b.validFrom?.toISOString() ?? null)),
      textArray(bindings.map((b) => b.validTo?.toISOString() ?? null)),
      from,
      to,
      timezone,
    ],
  );
  return parseRows(CardDayRowSchema, rows, 'ledger bytes by card and day');
}
