import { lineAmountMinor, taxMinor } from '../shared/money.js';

/**
 * Invoice-line rating (DESIGN 4.3 and 5 "Period close"), pure. A line is keyed by (app, kind, usage month,
 * price); its amount is rated on the key's cumulative bytes and the amount already invoiced is subtracted:
 * `amount = round_half_up(B_cum × price / 2^30, 2) − A_prev`. So a usage month's invoices (adjustments and
 * credit notes included) always add up to the rounding of its summed bytes — the usage API's amount.
 */
export interface LineKey {
  app: string;
  kind: 'sponsored' | 'overage' | 'unreported';
  usageMonth: string;
  /** as printed by formatPricePerGiB, so equal prices give equal keys */
  pricePerGiB: string;
}

export interface PriorTotals {
  bytes: bigint;
  amountMinor: bigint;
}

export interface RatedLine extends LineKey {
  bytes: bigint;
  amountMinor: bigint;
  taxMinor: bigint;
}

export const lineKeyOf = (key: LineKey) => [key.app, key.kind, key.usageMonth, key.pricePerGiB].join('\u0000');

/** Lines in a stable order: usage month, app, kind, price (byte order), so printouts and numbers are reproducible. */
export function rateLines(stamped: ReadonlyArray<LineKey & { bytes: bigint }>, prior: ReadonlyMap<string, PriorTotals>, taxRate: string): RatedLine[] {
  return [...stamped]
    .sort((a, b) => compare(a.usageMonth, b.usageMonth) || compare(a.app, b.app) || compare(a.kind, b.kind) || compare(a.pricePerGiB, b.pricePerGiB))
    .map((line) => {
      const before = prior.get(lineKeyOf(line)) ?? { bytes: 0n, amountMinor: 0n };
      const amountMinor = lineAmountMinor(before.bytes + line.bytes, line.pricePerGiB) - before.amountMinor;
      return { ...line, amountMinor, taxMinor: taxMinor(amountMinor, taxRate) };
    });
}

/** Invoice totals: subtotal = Σ amounts, tax = Σ line taxes, total = subtotal + tax (DESIGN 4.3). */
export function invoiceTotals(lines: ReadonlyArray<{ amountMinor: bigint; taxMinor: bigint }>): { subtotalMinor: bigint; taxMinor: bigint; totalMinor: bigint } {
  const subtotalMinor = lines.reduce((sum, l) => sum + l.amountMinor, 0n);
  const taxMinorSum = lines.reduce((sum, l) => sum + l.taxMinor, 0n);
  return { subtotalMinor, taxMinor: taxMinorSum, totalMinor: subtotalMinor + taxMinorSum };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
