import { z } from 'zod';
import { textArray } from '../shared/db/arrays.js';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';

/**
 * Usage records that may be zero-rating abuse (issue 13, src/assurance/abuse-signals.ts), per vehicle, app and
 * day of the record's start in `timezone`. Read only; records of [from, to) (a scan of that month's records).
 */

const GroupSchema = z.object({
  vin: z.string(),
  app: z.string(),
  day: z.string(),
  bytes: z.string().transform(BigInt),
  records: z.coerce.number().int(),
  samples: z.array(z.string().nullable()).transform((xs) => xs.filter((x): x is string => x !== null)),
  hosts: z.array(z.string().nullable()).transform((xs) => xs.filter((x): x is string => x !== null)),
});
export type RecordGroup = z.output<typeof GroupSchema>;

const DAY = (tz: string) => `to_char((r.start_at AT TIME ZONE ${tz})::date, 'YYYY-MM-DD')`;
/** Classified by its host (DESIGN 4.1 steps 2–3), on the unit's own interface. */
const HOST_MATCHED = `r.iface = 'tbox' AND (r.rule_id LIKE r.app || '/host/%' OR r.rule_id LIKE r.app || '/suffix/%')`;

/**
 * Host-matched records of the apps, grouped per vehicle, app and day, whose `column` (ip, pkg) is set and
 * falls outside the app's list in `allowed` (app → CIDRs or packages); up to 5 distinct values as samples.
 */
async function hostMatchedOutside(db: Pool | PoolClient, from: Date, to: Date, timezone: string, allowed: ReadonlyMap<string, readonly string[]>, column: 'ip' | 'pkg'): Promise<RecordGroup[]> {
  if (allowed.size === 0) return [];
  // The column and the test are chosen here from two constants, never from input.
  const outside =
    column === 'ip'
      ? 'NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text($5::jsonb -> r.app) c WHERE r.ip::inet <<= c::cidr)'
      : 'NOT (r.pkg = ANY(ARRAY(SELECT jsonb_array_elements_text($5::jsonb -> r.app))))';
  const { rows } = await db.query(
    `SELECT r.vin, r.app, ${DAY('$4')} AS day, sum(r.up + r.down)::text AS bytes, count(*) AS records,
            (array_agg(DISTINCT r.${column}))[1:5] AS samples, (array_agg(DISTINCT r.host))[1:5] AS hosts
       FROM usage_records r
      WHERE r.start_at >= $1 AND r.start_at < $2 AND r.app = ANY($3::text[]) AND r.${column} IS NOT NULL AND ${HOST_MATCHED} AND ${outside}
      GROUP BY 1, 2, 3 ORDER BY 3, 1, 2`,
    [from, to, textArray([...allowed.keys()]), timezone, JSON.stringify(Object.fromEntries(allowed))],
  );
  return parseRows(GroupSchema, rows, `records outside the apps' ${column === 'ip' ? 'ranges' : 'packages'}`);
}

/** Host-matched records of the apps whose destination IP lies outside every CIDR the catalog lists for the app. */
export function hostMatchedOutsideRanges(db: Pool | PoolClient, from: Date, to: Date, timezone: string, ranges: ReadonlyMap<string, readonly string[]>): Promise<RecordGroup[]> {
  return hostMatchedOutside(db, from, to, timezone, ranges, 'ip');
}

/** Host-matched records of the apps opened by an in-car package that is not one of the app's (a tethered phone, a browser). */
export function hostMatchedForeignPackage(db: Pool | PoolClient, from: Date, to: Date, timezone: string, packages: ReadonlyMap<string, readonly string[]>): Promise<RecordGroup[]> {
  return hostMatchedOutside(db, from, to, timezone, packages, 'pkg');
}

const OutlierSchema = z.object({ vin: z.string(), app: z.string(), day: z.string(), bytes: z.string().transform(BigInt), records: z.coerce.number().int(), median: z.string().transform(BigInt), samples: z.coerce.number().int() });
export type VolumeOutlier = z.output<typeof OutlierSchema>;

/**
 * Vehicle-days of the apps whose bytes exceed `factor` × the median vehicle-day of that app over [from, to)
 * (and `floorBytes`), for apps with at least `minSamples` vehicle-days.
 */
export async function volumeOutliers(db: Pool | PoolClient, from: Date, to: Date, timezone: string, apps: readonly string[], options: { factor: number; floorBytes: bigint; minSamples: number }): Promise<VolumeOutlier[]> {
  if (apps.length === 0) return [];
  const { rows } = await db.query(
    `WITH v AS (
       SELECT r.vin, r.app, ${DAY('$4')} AS day, sum(r.up + r.down) AS bytes, count(*) AS records
         FROM usage_records r WHERE r.start_at >= $1 AND r.start_at < $2 AND r.app = ANY($3::text[])
        GROUP BY 1, 2, 3),
     m AS (SELECT app, percentile_disc(0.5) WITHIN GROUP (ORDER BY bytes) AS median, count(*) AS samples FROM v GROUP BY app)
     SELECT v.vin, v.app, v.day, v.bytes::text AS bytes, v.records, m.median::text AS median, m.samples
       FROM v JOIN m ON m.app = v.app
      WHERE m.samples >= $5 AND v.bytes > m.median * $6 AND v.bytes >= $7
      ORDER BY v.day, v.vin, v.app`,
    [from, to, textArray(apps), timezone, options.minSamples, options.factor, options.floorBytes.toString()],
  );
  return parseRows(OutlierSchema, rows, 'volume outliers');
}
