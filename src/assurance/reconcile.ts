/**
 * Reconciliation per card per day (issue 13): the carrier's bytes against the ledger's bytes of the vehicle
 * that held the card at each record's start. Pure: data in, data out; bytes are bigint.
 */

export const STATUSES = ['matched', 'under', 'over', 'carrier_only', 'ledger_only'] as const;
/**
 * - `matched`: the gap is within the tolerance;
 * - `under`: the T-Box reported less than the carrier billed;
 * - `over`: the T-Box reported more than the carrier billed;
 * - `carrier_only`: the carrier billed the card, the ledger has no bytes on it that day;
 * - `ledger_only`: the ledger has bytes on a card the carrier did not bill that day (no line, or 0 bytes).
 */
export type Status = (typeof STATUSES)[number];

export interface Tolerance {
  /** hundredths of a percent of the carrier's bytes: 200 = 2 % */
  basisPoints: bigint;
  /** the smallest gap that is never a discrepancy, whatever the volume */
  floorBytes: bigint;
}

export interface CarrierFigure {
  iccid: string;
  day: string;
  bytes: bigint;
}

export interface LedgerFigure {
  iccid: string;
  vin: string;
  day: string;
  bytes: bigint;
}

export interface CardDay {
  iccid: string;
  day: string;
  /** the vehicles that held the card that day and reported on it, sorted */
  vins: string[];
  /** null: no line of the carrier for this card and day (the day itself was delivered) */
  carrierBytes: bigint | null;
  ledgerBytes: bigint;
  /** carrier − ledger: positive when the T-Box reported less than the carrier billed */
  gapBytes: bigint;
  status: Status;
}

/** The allowed gap for a carrier figure: max(floor, carrier × basis points / 10,000), rounded down. */
export function allowedGap(carrierBytes: bigint, tolerance: Tolerance): bigint {
  const relative = (carrierBytes * tolerance.basisPoints) / 10_000n;
  return relative > tolerance.floorBytes ? relative : tolerance.floorBytes;
}

export function classify(carrierBytes: bigint | null, ledgerBytes: bigint, tolerance: Tolerance): Status {
  const carrier = carrierBytes ?? 0n;
  const gap = carrier - ledgerBytes;
  const magnitude = gap < 0n ? -gap : gap;
  if (magnitude <= allowedGap(carrier, tolerance)) return 'matched';
  if (ledgerBytes === 0n) return 'carrier_only';
  if (carrier === 0n) return 'ledger_only';
  return gap > 0n ? 'under' : 'over';
}

/**
 * Every card-day of the month that can be judged: a day is judged only once the carrier delivered it (some
 * line of some card for that day); before, the ledger's bytes are not yet "unbilled". Sorted by card, day.
 */
export function reconcile(carrier: readonly CarrierFigure[], ledger: readonly LedgerFigure[], tolerance: Tolerance): CardDay[] {
  const delivered = new Set(carrier.map((c) => c.day));
  const byKey = new Map<string, { iccid: string; day: string; carrier: bigint | null; ledger: bigint; vins: Set<string> }>();
  const entry = (iccid: string, day: string) => {
    const key = `${iccid} ${day}`;
    let found = byKey.get(key);
    if (!found) byKey.set(key, (found = { iccid, day, carrier: null, ledger: 0n, vins: new Set() }));
    return found;
  };
  for (const c of carrier) {
    const e = entry(c.iccid, c.day);
    e.carrier = (e.carrier ?? 0n) + c.bytes;
  }
  for (const l of ledger) {
    if (!delivered.has(l.day)) continue;
    const e = entry(l.iccid, l.day);
    e.ledger += l.bytes;
    if (l.bytes > 0n) e.vins.add(l.vin);
  }
  return [...byKey.values()]
    .map((e) => ({
      iccid: e.iccid,
      day: e.day,
      vins: [...e.vins].sort(),
      carrierBytes: e.carrier,
      ledgerBytes: e.ledger,
      gapBytes: (e.carrier ?? 0n) - e.ledger,
      status: classify(e.carrier, e.ledger, tolerance),
    }))
    .sort((a, b) => (a.iccid < b.iccid ? -1 : a.iccid > b.iccid ? 1 : a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
}

export interface StatusTotal {
  cardDays: number;
  cards: number;
  carrierBytes: bigint;
  ledgerBytes: bigint;
  gapBytes: bigint;
}

export interface DayTotal {
  day: string;
  carrierBytes: bigint;
  ledgerBytes: bigint;
  gapBytes: bigint;
  /** Σ of the carrier's bytes beyond the ledger on discrepant card-days (under, carrier_only) */
  unexplainedBytes: bigint;
}

/** Bytes the carrier billed that no record explains: the positive gap of an `under` or `carrier_only` card-day. */
export function unexplainedBytes(cardDay: CardDay): bigint {
  return (cardDay.status === 'under' || cardDay.status === 'carrier_only') && cardDay.gapBytes > 0n ? cardDay.gapBytes : 0n;
}

export function summarize(cardDays: readonly CardDay[]): { byStatus: Record<Status, StatusTotal>; daily: DayTotal[]; total: Omit<StatusTotal, 'cards'> & { cards: number; unexplainedBytes: bigint } } {
  const byStatus = Object.fromEntries(STATUSES.map((s) => [s, { cardDays: 0, cards: 0, carrierBytes: 0n, ledgerBytes: 0n, gapBytes: 0n }])) as Record<Status, StatusTotal>;
  const cards = Object.fromEntries(STATUSES.map((s) => [s, new Set<string>()])) as Record<Status, Set<string>>;
  const days = new Map<string, DayTotal>();
  const allCards = new Set<string>();
  let unexplained = 0n;
  for (const cd of cardDays) {
    const t = byStatus[cd.status];
    t.cardDays += 1;
    t.carrierBytes += cd.carrierBytes ?? 0n;
    t.ledgerBytes += cd.ledgerBytes;
    t.gapBytes += cd.gapBytes;
    cards[cd.status].add(cd.iccid);
    allCards.add(cd.iccid);
    let d = days.get(cd.day);
    if (!d) days.set(cd.day, (d = { day: cd.day, carrierBytes: 0n, ledgerBytes: 0n, gapBytes: 0n, unexplainedBytes: 0n }));
    d.carrierBytes += cd.carrierBytes ?? 0n;
    d.ledgerBytes += cd.ledgerBytes;
    d.gapBytes += cd.gapBytes;
    d.unexplainedBytes += unexplainedBytes(cd);
    unexplained += unexplainedBytes(cd);
  }
  for (const s of STATUSES) byStatus[s].cards = cards[s].size;
  const sum = (f: (t: StatusTotal) => bigint) => STATUSES.reduce((acc, s) => acc + f(byStatus[s]), 0n);
  return {
    byStatus,
    daily: [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1)),
    total: { cardDays: cardDays.length, cards: allCards.size, carrierBytes: sum((t) => t.carrierBytes), ledgerBytes: sum((t) => t.ledgerBytes), gapBytes: sum((t) => t.gapBytes), unexplainedBytes: unexplained },
  };
}

/** The `limit` discrepant card-days with the largest gaps (either sign), largest first. */
export function largestDiscrepancies(cardDays: readonly CardDay[], limit: number): CardDay[] {
  const abs = (x: bigint) => (x < 0n ? -x : x);
  return cardDays
    .filter((cd) => cd.status !== 'matched')
    .sort((a, b) => {
      const d = abs(b.gapBytes) - abs(a.gapBytes);
      return d > 0n ? 1 : d < 0n ? -1 : a.iccid < b.iccid ? -1 : a.iccid > b.iccid ? 1 : a.day < b.day ? -1 : 1;
    })
    .slice(0, limit);
}

/** RECONCILE_TOLERANCE_PERCENT ("2", "2.5", "0.25") as basis points, exactly. */
export function percentToBasisPoints(percent: string): bigint {
  const [whole = '0', fraction = ''] = percent.split('.');
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0').slice(0, 2) || '0');
}
