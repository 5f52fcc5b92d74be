import { z } from 'zod';
import { BILLED_KINDS } from '../allocate/index.js';
import { sendAll, type Pool, type PoolClient } from '../shared/db/pool.js';
import { parseRows } from '../shared/db/rows.js';
import { nextMonth } from '../shared/time.js';
import type { AllocationRow } from './records.js';

/**
 * The rollups (`rollup_app_month`, `rollup_app_day`, `rollup_vehicle_month`): each batch adds its billed
 * bytes in the ingest transaction; the usage API, the dashboard and the close read them, never a scan of
 * `allocations`.
 */

type Db = Pick<Pool | PoolClient, 'query'>;

/** One rollup row as stored: bytes exact, price as Postgres prints numeric(14,4) ("4.0000"). */
const RollupRowSchema = z.object({ app: z.string(), kind: z.enum(BILLED_KINDS), price: z.string(), bytes: z.string() });
export type RollupRow = z.output<typeof RollupRowSchema>;
const DayRowSchema = RollupRowSchema.extend({ day: z.string() });
const VehicleRowSchema = RollupRowSchema.extend({ vin: z.string() });
/** A vehicle rollup row's key (vin, app, kind, price), after which a keyset page starts. */
export type VehicleRollupKey = readonly [string, string, string, string];

/**
 * Adds the batch's sponsor bytes to the rollups the usage API reads (DESIGN 5). Keys are summed in memory
 * first and written in sorted order, so concurrent batches lock rollup rows in the same order.
 */
export async function addToRollups(client: PoolClient, rows: readonly AllocationRow[]): Promise<void> {
  const billable: RollupEntry[] = [];
  for (const row of rows) if (row.kind === 'sponsored' || row.kind === 'overage') billable.push({ row, bytes: row.bytes });
  if (billable.length === 0) return;
  const sep = '\u0000';
  const byVehicle = totals(billable, (r) => r.payer + sep + r.month + sep + r.vin + sep + r.app + sep + r.kind + sep + r.pricePerGiB);
  const byMonth = totals(byVehicle, (r) => r.payer + sep + r.month + sep + r.app + sep + r.kind + sep + r.pricePerGiB);
  const byDay = totals(billable, (r) => r.payer + sep + r.day + sep + r.app + sep + r.kind + sep + r.pricePerGiB);
  const columns = (entries: readonly RollupEntry[], fields: ReadonlyArray<(r: AllocationRow) => string | null>) => [
    ...fields.map((field) => entries.map((e) => field(e.row))),
    entries.map((e) => e.bytes.toString()),
  ];
  const payer = (r: AllocationRow) => r.payer;
  const month = (r: AllocationRow) => r.month;
  const app = (r: AllocationRow) => r.app;
  const kind = (r: AllocationRow) => r.kind;
  const price = (r: AllocationRow) => r.pricePerGiB;
  await sendAll(client, [
    () =>
      client.query(
        `INSERT INTO rollup_app_month (sponsor, usage_month, app, kind, price_per_gib, bytes)
         SELECT s, (m || '-01')::date, a, k, p, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[]) AS u(s, m, a, k, p, b)
         ON CONFLICT (sponsor, usage_month, app, kind, price_per_gib) DO UPDATE SET bytes = rollup_app_month.bytes + EXCLUDED.bytes`,
        columns(byMonth, [payer, month, app, kind, price]),
      ),
    () =>
      client.query(
        `INSERT INTO rollup_app_day (sponsor, usage_day, app, kind, price_per_gib, bytes)
         SELECT s, d::date, a, k, p, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[]) AS u(s, d, a, k, p, b)
         ON CONFLICT (sponsor, usage_day, app, kind, price_per_gib) DO UPDATE SET bytes = rollup_app_day.bytes + EXCLUDED.bytes`,
        columns(byDay, [payer, (r) => r.day, app, kind, price]),
      ),
    () =>
      client.query(
        `INSERT INTO rollup_vehicle_month (sponsor, usage_month, vin, app, kind, price_per_gib, bytes)
         SELECT s, (m || '-01')::date, v, a, k, p, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::bigint[]) AS u(s, m, v, a, k, p, b)
         ON CONFLICT (sponsor, usage_month, vin, app, kind, price_per_gib) DO UPDATE SET bytes = rollup_vehicle_month.bytes + EXCLUDED.bytes`,
        columns(byVehicle, [payer, month, (r) => r.vin, app, kind, price]),
      ),
  ]);
}

interface RollupEntry {
  /** a row of the group, for its key fields */
  row: AllocationRow;
  bytes: bigint;
}

/** Bytes summed per key, in key order (concurrent batches then lock rollup rows in the same order). */
function totals(entries: readonly RollupEntry[], key: (row: AllocationRow) => string): RollupEntry[] {
  const groups = new Map<string, RollupEntry>();
  for (const entry of entries) {
    const k = key(entry.row);
    const group = groups.get(k);
    if (group) group.bytes += entry.bytes;
    else groups.set(k, { row: entry.row, bytes: entry.bytes });
  }
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, group]) => group);
}


/**
 * The `limit` vehicles with the most bytes billed to `sponsor` in `month` (VIN breaks ties), one row per
 * (vehicle, app, kind, price) of each, largest vehicle first; `total` is the vehicle's sum.
 */
export async function topVehicleRollups(pool: Pick<Pool, 'query'>, sponsor: string, month: string, limit: number) {
  const { rows } = await pool.query<{ vin: string; app: string; kind: string; price: string; bytes: string; total: string }>(
    `WITH top AS (
       SELECT vin, sum(bytes) AS total FROM rollup_vehicle_month
        WHERE sponsor = $1 AND usage_month = $2::date GROUP BY vin ORDER BY sum(bytes) DESC, vin LIMIT $3)
     SELECT r.vin, r.app, r.kind, r.price_per_gib::text AS price, r.bytes::text AS bytes, top.total::text AS total
       FROM rollup_vehicle_month r JOIN top USING (vin)
      WHERE r.sponsor = $1 AND r.usage_month = $2::date
      ORDER BY top.total DESC, r.vin, r.app`,
    [sponsor, `${month}-01`, limit],
  );
  return rows;
}

/** Is this sponsor (as payer) or this app in any monthly rollup? (The catalog may then not remove it.) */
export async function rollupsReference(pool: Pick<Pool, 'query'>, column: 'sponsor' | 'app', id: string): Promise<boolean> {
  const sql = column === 'sponsor' ? 'SELECT 1 FROM rollup_app_month WHERE sponsor = $1 LIMIT 1' : 'SELECT 1 FROM rollup_app_month WHERE app = $1 LIMIT 1';
  return (await pool.query(sql, [id])).rows.length > 0;
}

export async function appRollups(db: Db, sponsor: string, month: string): Promise<RollupRow[]> {
  const { rows } = await db.query(
    `SELECT app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_app_month
      WHERE sponsor = $1 AND usage_month = $2::date
      ORDER BY app COLLATE "C", kind COLLATE "C", price_per_gib`,
    [sponsor, `${month}-01`],
  );
  return parseRows(RollupRowSchema, rows, 'usage by app');
}

export async function dayRollups(db: Db, sponsor: string, month: string): Promise<Array<z.output<typeof DayRowSchema>>> {
  // usage_day is the record's start date in the billing timezone, written beside its usage month.
  const { rows } = await db.query(
    `SELECT to_char(usage_day, 'YYYY-MM-DD') AS day, app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_app_day
      WHERE sponsor = $1 AND usage_day >= $2::date AND usage_day < $3::date
      ORDER BY usage_day, app COLLATE "C", kind COLLATE "C", price_per_gib`,
    [sponsor, `${month}-01`, `${nextMonth(month)}-01`],
  );
  return parseRows(DayRowSchema, rows, 'usage by day');
}

export async function vehicleRollups(db: Db, sponsor: string, month: string, limit: number, after: VehicleRollupKey | null): Promise<Array<z.output<typeof VehicleRowSchema>>> {
  // Keyset order is the primary key's (sponsor, usage_month, vin, app, kind, price_per_gib), so a page is
  // an index range scan however many vehicles the sponsor pays for; text order is the database's collation.
  const select = `SELECT vin, app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_vehicle_month
      WHERE sponsor = $1 AND usage_month = $2::date`;
  const order = 'ORDER BY vin, app, kind, price_per_gib LIMIT $3';
  const { rows } = after
    ? await db.query(`${select} AND (vin, app, kind, price_per_gib) > ($4::text, $5::text, $6::text, $7::numeric) ${order}`, [sponsor, `${month}-01`, limit, ...after])
    : await db.query(`${select} ${order}`, [sponsor, `${month}-01`, limit]);
  return parseRows(VehicleRowSchema, rows, 'usage by vehicle');
}

const VehicleMonthRowSchema = RollupRowSchema.extend({ month: z.string() });

/**
 * One vehicle's rollup lines billed to `sponsor` in `months` (the operator console's sponsor scope and the
 * vehicle's usage by month): a read of the primary key's prefix (sponsor, usage_month, vin) per month.
 */
export async function vehicleMonthRollups(db: Db, sponsor: string, months: readonly string[], vin: string): Promise<Array<z.output<typeof VehicleMonthRowSchema>>> {
  const { rows } = await db.query(
    `SELECT to_char(usage_month, 'YYYY-MM') AS month, app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_vehicle_month
      WHERE sponsor = $1 AND usage_month = ANY($2::date[]) AND vin = $3
      ORDER BY usage_month DESC, app COLLATE "C", kind COLLATE "C", price_per_gib`,
    [sponsor, months.map((m) => `${m}-01`), vin],
  );
  return parseRows(VehicleMonthRowSchema, rows, 'usage of a vehicle by month');
}

/**
 * Up to `limit` VINs starting with `prefix` that have bytes billed to `sponsor` in `months`, in order (a
 * sponsor's search: the primary key's (sponsor, usage_month) prefix, then the VIN range).
 */
export async function sponsorVinsWithPrefix(db: Db, sponsor: string, months: readonly string[], prefix: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ vin: string }>(
    `SELECT DISTINCT vin FROM rollup_vehicle_month
      WHERE sponsor = $1 AND usage_month = ANY($2::date[]) AND vin >= $3 AND vin <= $3 || 'ZZZZZZZZZZZZZZZZZ' AND left(vin, length($3)) = $3
      ORDER BY vin LIMIT $4`,
    [sponsor, months.map((m) => `${m}-01`), prefix, limit],
  );
  return rows.map((r) => r.vin);
}

/**
 * The monthly rollup lines (app, kind, price) of several sponsors in one month, one query (the usage
 * alerts' month-to-date amount, src/alerts).
 */
export async function sponsorsMonthRollups(db: Db, sponsors: readonly string[], month: string): Promise<Array<RollupRow & { sponsor: string }>> {
  if (sponsors.length === 0) return [];
  const { rows } = await db.query(
    `SELECT sponsor, app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_app_month
      WHERE sponsor = ANY($1::text[]) AND usage_month = $2::date
      ORDER BY sponsor COLLATE "C", app COLLATE "C", kind COLLATE "C", price_per_gib`,
    [[...sponsors], `${month}-01`],
  );
  return parseRows(RollupRowSchema.extend({ sponsor: z.string() }), rows, 'sponsors’ usage by app');
}
