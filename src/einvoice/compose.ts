import { formatMinor, netOfTaxMinor, parseDecimal, toMinor } from '../shared/money.js';
import type { InvoiceItem, RedReason } from './schemas.js';

/**
 * Pure composition of e-invoices (数电发票, fully digitalised e-invoices) for SIM orders (DESIGN 6).
 *
 * - One item per order, quantity 1: `amount = round_half_up(retail / (1 + rate), 2)`, `tax = retail − amount`
 *   (retail is tax-inclusive, DESIGN 4.3), total = retail. Computing the tax as the difference keeps
 *   amount + tax equal to what the buyer paid, to the fen.
 * - Item names follow the 数电 convention `*<tax classification short name>*<item>`; IoT data plans are
 *   value-added telecom services (增值电信服务, 6 % VAT unless the plan says otherwise).
 * - A red-letter invoice (红字发票) reverses a blue one in full: every item and total negated, linked to the
 *   original number, with the reason of the reversal (销货退回 before activation, 服务中止 after).
 */

export interface InvoiceParty {
  name: string;
  /** the buyer's tax id when the buyer is an enterprise; absent for individuals */
  taxId?: string;
}

export interface InvoiceDocument {
  kind: 'blue' | 'red';
  seller: { name: string; taxId: string };
  buyer: InvoiceParty;
  currency: string;
  items: InvoiceItem[];
  amount: string;
  tax: string;
  total: string;
  /** red-letter only: the blue invoice it reverses */
  originalNumber?: string;
  redReason?: RedReason;
}

/** "0.0600" → "0.06", "0" → "0": one spelling per rate, so equal rates compare equal as strings. */
export function canonicalRate(rate: string): string {
  const { units, scale } = parseDecimal(rate);
  let u = units;
  let s = scale;
  while (s > 0 && u % 10n === 0n) {
    u /= 10n;
    s -= 1;
  }
  const text = u.toString().padStart(s + 1, '0');
  return s === 0 ? text : `${text.slice(0, text.length - s)}.${text.slice(text.length - s)}`;
}

/** Splits a tax-inclusive retail price into amount and tax (DESIGN 6). */
export function splitRetail(retail: string, taxRate: string): { amount: string; tax: string; total: string } {
  const totalMinor = toMinor(retail);
  const amountMinor = netOfTaxMinor(totalMinor, taxRate);
  return { amount: formatMinor(amountMinor), tax: formatMinor(totalMinor - amountMinor), total: formatMinor(totalMinor) };
}

export function composeBlueInvoice(input: {
  seller: { name: string; taxId: string };
  buyerName: string;
  currency: string;
  planId: string;
  retail: string;
  taxRate: string;
}): InvoiceDocument {
  const rate = canonicalRate(input.taxRate);
  const split = splitRetail(input.retail, rate);
  return {
    kind: 'blue',
    seller: input.seller,
    buyer: { name: input.buyerName },
    currency: input.currency,
    items: [{ name: `*电信服务*物联网卡服务 ${input.planId}`, quantity: 1, unit: '套', unitPrice: split.amount, amount: split.amount, taxRate: rate, tax: split.tax }],
    amount: split.amount,
    tax: split.tax,
    total: split.total,
  };
}

const negate = (decimal: string) => formatMinor(-toMinor(decimal));

/**
 * The full red-letter reversal of `blue` (every figure negated), linked to its number — which may not be
 * known yet when the refund is recorded (the blue invoice still pending); it is filled in when issuing.
 */
export function composeRedInvoice(blue: InvoiceDocument, originalNumber: string | null, reason: RedReason): InvoiceDocument {
  return {
    ...blue,
    kind: 'red',
    items: blue.items.map((item) => ({ ...item, quantity: -item.quantity, amount: negate(item.amount), tax: negate(item.tax) })),
    amount: negate(blue.amount),
    tax: negate(blue.tax),
    total: negate(blue.total),
    ...(originalNumber ? { originalNumber } : {}),
    redReason: reason,
  };
}

/** Consistency rules a tax platform enforces; shared by the simulator. Returns a problem or null. */
export function invoiceProblem(doc: InvoiceDocument): string | null {
  if (doc.items.length === 0) return 'an invoice needs at least one item';
  let amount = 0n;
  let tax = 0n;
  for (const [i, item] of doc.items.entries()) {
    const itemAmount = toMinor(item.amount);
    const itemTax = toMinor(item.tax);
    const expected = netOfTaxMinor(itemAmount + itemTax, item.taxRate);
    if (expected !== itemAmount) return `items[${i}]: amount ${item.amount} is not round_half_up((amount + tax) / (1 + ${item.taxRate}), 2)`;
    amount += itemAmount;
    tax += itemTax;
  }
  if (formatMinor(amount) !== doc.amount) return `amount ${doc.amount} is not the sum of the items (${formatMinor(amount)})`;
  if (formatMinor(tax) !== doc.tax) return `tax ${doc.tax} is not the sum of the items (${formatMinor(tax)})`;
  if (formatMinor(amount + tax) !== doc.total) return `total ${doc.total} is not amount + tax`;
  const sign = doc.kind === 'blue' ? 1n : -1n;
  if (toMinor(doc.total) * sign < 0n) return doc.kind === 'blue' ? 'a blue invoice cannot be negative' : 'a red-letter invoice must be negative';
  if (doc.kind === 'red' && !doc.originalNumber) return 'a red-letter invoice names the blue invoice it reverses';
  return null;
}
