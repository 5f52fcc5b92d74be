import { jsonBytes } from '../billing/usage-query.js';
import { ledgerBytesByCardDay } from '../ledger/card-usage.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { formatInstant, nextMonth } from '../shared/time.js';
import { cardBindingsOverlapping, type CardBinding } from '../vehicles/card-history.js';
import { startedMonth } from './month.js';
import { largestDiscrepancies, reconcile, summarize, type CardDay, type Tolerance } from './reconcile.js';
import { carrierDays, corrections } from './repository.js';
import type { CardDayJson, Reconciliation } from './schemas.js';

export interface ReconciliationDeps {
  pool: Pool;
  clock: Clock;
  carrierTimezone: string;
  tolerance: Tolerance;
  /** RECONCILE_TOLERANCE_PERCENT as configured, for the reply */
  tolerancePercent: string;
  /** called with each month's gap (the Prometheus gauge) */
  onGap?: (month: string, unexplainedBytes: bigint, gapBytes: bigint) => void;
}

export function cardDayJson(cd: CardDay): CardDayJson {
  return { iccid: cd.iccid, day: cd.day, vins: cd.vins, carrierBytes: cd.carrierBytes === null ? null : jsonBytes(cd.carrierBytes), ledgerBytes: jsonBytes(cd.ledgerBytes), gapBytes: jsonBytes(cd.gapBytes), status: cd.status };
}


export function createReconciliation(deps: ReconciliationDeps) {
  const tz = deps.carrierTimezone;
  const tolerance = { percent: deps.tolerancePercent, floorBytes: jsonBytes(deps.tolerance.floorBytes) };

  /** Every judged card-day of the month, read in one snapshot. */
  async function cardDays(month: string, iccid?: string): Promise<{ cardDays: CardDay[]; corrections: Awaited<ReturnType<typeof corrections>>; bindings: CardBinding[] }> {
    // The month's instants and its days (YYYY-MM-DD of the carrier timezone).
    const range = { ...startedMonth(month, tz, deps.clock.now()), fromDay: `${month}-01`, toDay: `${nextMonth(month)}-01` };
    return withTransaction(deps.pool, async (db) => {
      await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const carrier = await carrierDays(db, range.fromDay, range.toDay);
      let bindings = await cardBindingsOverlapping(db, range.from, range.to);
      if (iccid !== undefined) bindings = bindings.filter((b) => b.iccid === iccid);
      const ledger = await ledgerBytesByCardDay(db, bindings, range.from, range.to, tz);
      const all = reconcile(carrier, ledger, deps.tolerance);
      return { cardDays: iccid === undefined ? all : all.filter((cd) => cd.iccid === iccid), corrections: await corrections(db, range.fromDay, range.toDay), bindings };
    });
  }

  return {
    cardDays,

    async month(month: string, largest: number): Promise<Reconciliation> {
      const { cardDays: days, corrections: fixes } = await cardDays(month);
      const summary = summarize(days);
      deps.onGap?.(month, summary.total.unexplainedBytes, summary.total.gapBytes);
      const total = (t: (typeof summary.byStatus)['matched']) => ({ cardDays: t.cardDays, cards: t.cards, carrierBytes: jsonBytes(t.carrierBytes), ledgerBytes: jsonBytes(t.ledgerBytes), gapBytes: jsonBytes(t.gapBytes) });
      return {
        month,
        timezone: tz,
        tolerance,
        daysDelivered: summary.daily.length,
        totals: {
          matched: total(summary.byStatus.matched),
          under: total(summary.byStatus.under),
          over: total(summary.byStatus.over),
          carrier_only: total(summary.byStatus.carrier_only),
          ledger_only: total(summary.byStatus.ledger_only),
          all: { ...total(summary.total), unexplainedBytes: jsonBytes(summary.total.unexplainedBytes) },
        },
        daily: summary.daily.map((d) => ({ day: d.day, carrierBytes: jsonBytes(d.carrierBytes), ledgerBytes: jsonBytes(d.ledgerBytes), gapBytes: jsonBytes(d.gapBytes), unexplainedBytes: jsonBytes(d.unexplainedBytes) })),
        largest: largestDiscrepancies(days, largest).map(cardDayJson),
        corrections: fixes.map((c) => ({ iccid: c.iccid, day: c.day, oldBytes: jsonBytes(BigInt(c.oldBytes)), newBytes: jsonBytes(BigInt(c.newBytes)), oldFileId: c.oldFileId, newFileId: c.newFileId, correctedAt: formatInstant(c.correctedAt.getTime(), tz) })),
      };
    },

    async card(month: string, iccid: string) {
      const { cardDays: days } = await cardDays(month, iccid);
      return { month, iccid, tolerance, days: days.map(cardDayJson) };
    },
  };
}

export type ReconciliationService = ReturnType<typeof createReconciliation>;

const CSV_HEADER = 'iccid,date,vins,carrier_bytes,ledger_bytes,gap_bytes,status\n';

/** The month's card-days as CSV (one line each, matched ones too). */
export function* cardDaysCsv(days: readonly CardDay[]): Generator<string> {
  yield CSV_HEADER;
  for (const cd of days) yield `${cd.iccid},${cd.day},${cd.vins.join(' ')},${cd.carrierBytes ?? ''},${cd.ledgerBytes},${cd.gapBytes},${cd.status}\n`;
}
