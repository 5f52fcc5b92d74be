import type { Pool } from '../shared/db/pool.js';
import { formatMinor, toMinor } from '../shared/money.js';
import { settlementLines } from './repository.js';

/**
 * The monthly settlement statement of a merchant (DESIGN 6), billing timezone:
 * - an order counts in the month it was created: +retail, +wholesale;
 * - a refund counts in the month it was made, negative: −retail, −wholesale (a refunded card owes the
 *   platform nothing);
 * - `gross` = Σ retail and `wholesaleCost` = Σ wholesale over both, `margin` = gross − wholesaleCost (the
 *   merchant's), `refunds` = the refunds' part of gross (≤ 0), `orders` = orders created in the month.
 * Exact: every figure is a sum of fen (bigint), so the statements of all months add up to the orders.
 */

export interface SettlementLine {
  retail: string;
  wholesale: string;
}

export interface SettlementTotals {
  orders: number;
  gross: string;
  wholesaleCost: string;
  margin: string;
  refunds: string;
}

export function computeSettlement(orders: readonly SettlementLine[], refunds: readonly SettlementLine[]): SettlementTotals {
  const sum = (lines: readonly SettlementLine[], pick: (l: SettlementLine) => string) => lines.reduce((acc, line) => acc + toMinor(pick(line)), 0n);
  const retail = sum(orders, (l) => l.retail);
  const wholesale = sum(orders, (l) => l.wholesale);
  const refundedRetail = sum(refunds, (l) => l.retail);
  const refundedWholesale = sum(refunds, (l) => l.wholesale);
  const gross = retail - refundedRetail;
  const wholesaleCost = wholesale - refundedWholesale;
  return {
    orders: orders.length,
    gross: formatMinor(gross),
    wholesaleCost: formatMinor(wholesaleCost),
    margin: formatMinor(gross - wholesaleCost),
    refunds: formatMinor(-refundedRetail),
  };
}

/** Reads the month's lines ([fromMs, toMs) = the month in the billing timezone) and totals them. */
export async function merchantSettlement(pool: Pool, merchantId: string, fromMs: number, toMs: number): Promise<SettlementTotals> {
  const { orders, refunds } = await settlementLines(pool, merchantId, fromMs, toMs);
  return computeSettlement(orders, refunds);
}
