import { decodeCursor, encodeCursor } from '../api/cursor.js';
import { z } from 'zod';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { invalid, notFound } from '../shared/errors.js';
import { formatMinor, lineAmountMinor } from '../shared/money.js';
import { formatInstant, startOfMonth } from '../shared/time.js';
import { appRollups, dayRollups, vehicleRollups, type RollupRow } from '../ledger/rollups.js';
import { LineKindSchema, type AppLine, type DayLine, type SponsorUsage, type UsageOf, type VehicleLine } from './schemas.js';

/**
 * A sponsor's usage for one billing month as it stands now, invoiced or not (DESIGN 5), read from the
 * rollups the ingest transaction keeps (never from `allocations`). Lines are keyed per DESIGN 4.3 by
 * (app, kind, pricePerGiB) within the month, optionally split by day or vehicle; each line's amount is
 * `round_half_up(bytes × pricePerGiB / 2^30, 2)` on its summed bytes, so split lines are not additive and
 * the totals always come from the per-app lines (the authoritative ones).
 */

export type UsageGroupBy = 'app' | 'day' | 'vehicle';

type UsageHead = Pick<SponsorUsage, 'sponsor' | 'month' | 'currency'>;

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

function priceLine(row: RollupRow): AppLine & { amountMinor: bigint; bytesExact: bigint } {
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
  k: z.tuple([z.string().min(1).max(64), z.string().min(1).max(40), LineKindSchema, z.string().regex(/^\d{1,10}\.\d{1,4}$/)]),
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
  /** The reply's head for a sponsor and month that may be asked for: 404 unknown sponsor, 422 a month not yet started. */
  function headOf(sponsor: string, month: string): UsageHead {
    const catalog = deps.catalog();
    if (!catalog.sponsors.some((s) => s.id === sponsor)) throw notFound(`sponsor ${sponsor}`);
    const timezone = catalog.billing.timezone;
    // "Now" is read per request: a service that runs across a month boundary must accept the new month.
    const startMs = startOfMonth(month, timezone);
    if (startMs > deps.clock.now()) throw invalid('month', `${month} has not started yet (it starts ${formatInstant(startMs, timezone)})`);
    return { sponsor, month, currency: catalog.billing.currency };
  }

  /**
   * One snapshot for the lines and the totals, so a commit landing between them cannot make them disagree;
   * the totals always come from the per-app lines (the authoritative ones).
   */
  function inSnapshot<Line extends AppLine | DayLine | VehicleLine>(
    head: UsageHead,
    grouped: (db: PoolClient, appLines: Array<ReturnType<typeof priceLine>>) => Promise<{ lines: Line[]; nextCursor?: string | null }>,
  ): Promise<UsageOf<Line>> {
    return withTransaction(deps.pool, async (db) => {
      await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const appLines = (await appRollups(db, head.sponsor, head.month)).map(priceLine);
      const totals = {
        totalBytes: jsonBytes(appLines.reduce((sum, line) => sum + line.bytesExact, 0n)),
        totalAmount: formatMinor(appLines.reduce((sum, line) => sum + line.amountMinor, 0n)),
      };
      const { lines, ...page } = await grouped(db, appLines);
      return { ...head, lines, ...totals, ...page };
    });
  }

  const byApp = (head: UsageHead) => inSnapshot<AppLine>(head, async (_db, appLines) => ({ lines: appLines.map(strip) }));

  const byDay = (head: UsageHead) =>
    inSnapshot<DayLine>(head, async (db) => ({ lines: (await dayRollups(db, head.sponsor, head.month)).map((row) => ({ day: row.day, ...strip(priceLine(row)) })) }));

  const byVehicle = (head: UsageHead, limit: number, after: VehicleKey | null) =>
    inSnapshot<VehicleLine>(head, async (db) => {
      // One row more than the page tells whether another page exists.
      const rows = await vehicleRollups(db, head.sponsor, head.month, limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      const nextCursor = rows.length > limit && last ? encodeVehicleCursor(head.sponsor, head.month, [last.vin, last.app, last.kind, last.price]) : null;
      return { lines: page.map((row) => ({ vin: row.vin, ...strip(priceLine(row)) })), nextCursor };
    });

  return {
    /** DESIGN 5 `GET /v1/sponsors/{id}/usage`; callers have checked who may ask for `sponsor`. */
    async sponsorUsage(request: UsageRequest): Promise<SponsorUsage> {
      const head = headOf(request.sponsor, request.month);
      if (request.cursor !== undefined && request.groupBy !== 'vehicle') throw invalid('cursor', 'a cursor applies to groupBy=vehicle only');
      if (request.groupBy === 'app') return byApp(head);
      if (request.groupBy === 'day') return byDay(head);
      const after = request.cursor !== undefined ? decodeVehicleCursor(request.cursor, head.sponsor, head.month) : null;
      return byVehicle(head, request.limit, after);
    },
    /** The same as groupBy=app, typed as such (for the pages). */
    appUsage: async (sponsor: string, month: string): Promise<UsageOf<AppLine>> => byApp(headOf(sponsor, month)),
    /** The same as groupBy=day, typed as such (for the pages). */
    dayUsage: async (sponsor: string, month: string): Promise<UsageOf<DayLine>> => byDay(headOf(sponsor, month)),
  };
}

export type UsageQuery = ReturnType<typeof createUsageQuery>;
