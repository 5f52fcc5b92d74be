import { decodeCursor, encodeCursor } from '../api/cursor.js';
import { z } from 'zod';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { invalid, notFound } from '../shared/errors.js';
import { formatMinor, lineAmountMinor } from '../shared/money.js';
import { formatInstant, nextMonth, startOfMonth } from '../shared/time.js';

/**
 * A sponsor's usage for one billing month as it stands now, invoiced or not (DESIGN 5), read from the
 * rollups the ingest transaction keeps (never from `allocations`). Lines are keyed per DESIGN 4.3 by
 * (app, kind, pricePerGiB) within the month, optionally split by day or vehicle; each line's amount is
 * `round_half_up(bytes × pricePerGiB / 2^30, 2)` on its summed bytes, so split lines are not additive and
 * the totals always come from the per-app lines (the authoritative ones).
 */

export type UsageGroupBy = 'app' | 'day' | 'vehicle';
export type BillableKind = 'sponsored' | 'overage';

/** One rollup row as stored: bytes exact, price as Postgres prints numeric(14,4) ("4.0000"). */
interface RollupRow {
  app: string;
  kind: BillableKind;
  price: string;
  bytes: string;
}

export interface PricedLine {
  app: string;
  kind: BillableKind;
  /** JSON integer (see {@link jsonBytes}) */
  bytes: number;
  pricePerGiB: string;
  /** decimal string, 2 decimals */
  amount: string;
}
export type AppLine = PricedLine;
export type DayLine = { day: string } & PricedLine;
export type VehicleLine = { vin: string } & PricedLine;

export interface SponsorUsage {
  sponsor: string;
  month: string;
  currency: string;
  lines: AppLine[] | DayLine[] | VehicleLine[];
  totalBytes: number;
  totalAmount: string;
  /** groupBy=vehicle only: the cursor of the next page, null on the last one */
  nextCursor?: string | null;
}

export interface UsageRequest {
  sponsor: string;
  month: string;
  groupBy: UsageGroupBy;
  limit: number;
  cursor?: string | undefined;
}

/**
 * Bytes leave the service as JSON integers (DESIGN 5), exact only up to 2^53 − 1 (8 PiB). A line or total
 * sums one sponsor's traffic of one month; should it ever exceed that, failing loudly beats sending a
 * rounded number that would disagree with the invoice.
 */
export function jsonBytes(bytes: bigint): number {
  const value = Number(bytes);
  if (!Number.isSafeInteger(value)) throw new RangeError(`byte count ${bytes} exceeds 2^53 − 1 and cannot be sent as a JSON integer`);
  return value;
}

/**
 * A catalog price as people wrote it: numeric(14,4) prints "4.0000"; trailing zeros beyond the second
 * decimal are dropped ("4.00", "0.0125", "1.125").
 */
export function formatPricePerGiB(stored: string): string {
  const [whole, fraction = ''] = stored.split('.');
  return `${whole}.${fraction.replace(/0+$/, '').padEnd(2, '0')}`;
}

function priceLine(row: RollupRow): PricedLine & { amountMinor: bigint; bytesExact: bigint } {
  const bytesExact = BigInt(row.bytes);
  const amountMinor = lineAmountMinor(bytesExact, row.price);
  return { app: row.app, kind: row.kind, bytes: jsonBytes(bytesExact), pricePerGiB: formatPricePerGiB(row.price), amount: formatMinor(amountMinor), amountMinor, bytesExact };
}

const strip = <T extends { amountMinor: bigint; bytesExact: bigint }>({ amountMinor: _a, bytesExact: _b, ...line }: T) => line;

// groupBy=vehicle keyset cursor: the key of the last line sent, bound to the query it came from so a cursor
// reused on another sponsor or month is refused instead of silently starting mid-list.
const VehicleCursorSchema = z.strictObject({
  v: z.literal(1),
  s: z.string().max(40),
  m: z.string().regex(/^\d{4}-\d{2}$/),
  k: z.tuple([z.string().min(1).max(64), z.string().min(1).max(40), z.enum(['sponsored', 'overage']), z.string().regex(/^\d{1,10}\.\d{1,4}$/)]),
});
type VehicleKey = z.output<typeof VehicleCursorSchema>['k'];

function encodeVehicleCursor(sponsor: string, month: string, key: VehicleKey): string {
  return encodeCursor({ v: 1, s: sponsor, m: month, k: key });
}

/** The key after which the page starts; a cursor that is not one of ours, or is another query's, is 422. */
function decodeVehicleCursor(text: string, sponsor: string, month: string): VehicleKey {
  const cursor = decodeCursor(text, VehicleCursorSchema);
  if (cursor.s !== sponsor || cursor.m !== month) throw invalid('cursor', 'the cursor belongs to another sponsor or month');
  return cursor.k;
}

export interface UsageQueryDeps {
  pool: Pool;
  catalog(): Catalog;
  clock: Clock;
}

export function createUsageQuery(deps: UsageQueryDeps) {
  async function appRows(db: PoolClient, sponsor: string, month: string): Promise<RollupRow[]> {
    const { rows } = await db.query<RollupRow>(
      `SELECT app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_app_month
        WHERE sponsor = $1 AND usage_month = $2::date
        ORDER BY app COLLATE "C", kind COLLATE "C", price_per_gib`,
      [sponsor, `${month}-01`],
    );
    return rows;
  }

  async function dayRows(db: PoolClient, sponsor: string, month: string): Promise<Array<RollupRow & { day: string }>> {
    // usage_day is the record's start date in the billing timezone, written beside its usage month.
    const { rows } = await db.query<RollupRow & { day: string }>(
      `SELECT to_char(usage_day, 'YYYY-MM-DD') AS day, app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_app_day
        WHERE sponsor = $1 AND usage_day >= $2::date AND usage_day < $3::date
        ORDER BY usage_day, app COLLATE "C", kind COLLATE "C", price_per_gib`,
      [sponsor, `${month}-01`, `${nextMonth(month)}-01`],
    );
    return rows;
  }

  async function vehicleRows(db: PoolClient, sponsor: string, month: string, limit: number, after: VehicleKey | null): Promise<Array<RollupRow & { vin: string }>> {
    // Keyset order is the primary key's (sponsor, usage_month, vin, app, kind, price_per_gib), so a page is
    // an index range scan however many vehicles the sponsor pays for; text order is the database's collation.
    const select = `SELECT vin, app, kind, price_per_gib::text AS price, bytes::text AS bytes FROM rollup_vehicle_month
        WHERE sponsor = $1 AND usage_month = $2::date`;
    const order = 'ORDER BY vin, app, kind, price_per_gib LIMIT $3';
    const { rows } = after
      ? await db.query<RollupRow & { vin: string }>(`${select} AND (vin, app, kind, price_per_gib) > ($4::text, $5::text, $6::text, $7::numeric) ${order}`, [sponsor, `${month}-01`, limit, ...after])
      : await db.query<RollupRow & { vin: string }>(`${select} ${order}`, [sponsor, `${month}-01`, limit]);
    return rows;
  }

  /** DESIGN 5 `GET /v1/sponsors/{id}/usage`; callers have checked who may ask for `sponsor`. */
  async function sponsorUsage(request: UsageRequest): Promise<SponsorUsage> {
    const { sponsor, month, groupBy } = request;
    const catalog = deps.catalog();
    if (!catalog.sponsors.some((s) => s.id === sponsor)) throw notFound(`sponsor ${sponsor}`);
    const timezone = catalog.billing.timezone;
    // "Now" is read per request: a service that runs across a month boundary must accept the new month.
    const startMs = startOfMonth(month, timezone);
    if (startMs > deps.clock.now()) throw invalid('month', `${month} has not started yet (it starts ${formatInstant(startMs, timezone)})`);
    if (request.cursor !== undefined && groupBy !== 'vehicle') throw invalid('cursor', 'a cursor applies to groupBy=vehicle only');
    const after = request.cursor !== undefined ? decodeVehicleCursor(request.cursor, sponsor, month) : null;

    const head = { sponsor, month, currency: catalog.billing.currency };
    // One snapshot for the lines and the totals, so a commit landing between them cannot make them disagree.
    return withTransaction(deps.pool, async (db) => {
      await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const appLines = (await appRows(db, sponsor, month)).map(priceLine);
      const totals = {
        totalBytes: jsonBytes(appLines.reduce((sum, line) => sum + line.bytesExact, 0n)),
        totalAmount: formatMinor(appLines.reduce((sum, line) => sum + line.amountMinor, 0n)),
      };
      if (groupBy === 'app') return { ...head, lines: appLines.map(strip), ...totals };
      if (groupBy === 'day') {
        const rows = await dayRows(db, sponsor, month);
        return { ...head, lines: rows.map((row) => ({ day: row.day, ...strip(priceLine(row)) })), ...totals };
      }
      // One row more than the page tells whether another page exists.
      const rows = await vehicleRows(db, sponsor, month, request.limit + 1, after);
      const page = rows.slice(0, request.limit);
      const last = page.at(-1);
      const nextCursor = rows.length > request.limit && last ? encodeVehicleCursor(sponsor, month, [last.vin, last.app, last.kind, last.price]) : null;
      return { ...head, lines: page.map((row) => ({ vin: row.vin, ...strip(priceLine(row)) })), ...totals, nextCursor };
    });
  }

  return { sponsorUsage };
}

export type UsageQuery = ReturnType<typeof createUsageQuery>;
