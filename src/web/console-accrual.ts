import type { InvoiceDocument } from '../billing/invoices.js';
import type { AppLine } from '../billing/schemas.js';
import type { Catalog } from '../catalog/index.js';
import { formatMinor, toMinor } from '../shared/money.js';
import type { AccrualMonth } from './pages/console.js';

/**
 * A sponsor's accrual (issue 14), pure: for each month shown, what its traffic has accrued so far (the usage
 * API's per-line amounts: `round_half_up(bytes × price / 2^30, 2)` on each line's summed bytes, tax
 * exclusive), what the issued documents invoiced of that usage month (every invoice and credit note line
 * whose usage month it is: a credit note's lines negate its invoice's, so a voided invoice counts zero, and
 * late usage billed as an adjustment on a later invoice counts for its own month), and the difference — the
 * amount not yet invoiced. Lines are matched on (app, kind, price per GiB) and named by the catalog's
 * sponsorship of that app and price (the overage as `overage`). Exact: bigint minor units, never floats.
 */
export function accrualOf(month: string, sponsor: string, usage: readonly AppLine[], documents: readonly InvoiceDocument[], catalog: Catalog): AccrualMonth {
  const key = (app: string, kind: string, price: string) => `${app}\u0000${kind}\u0000${toMinor(price, 4)}`;
  const lines = new Map<string, { app: string; kind: string; price: string; bytes: bigint; accrued: bigint; invoiced: bigint }>();
  const lineOf = (app: string, kind: string, price: string) => {
    const k = key(app, kind, price);
    let line = lines.get(k);
    if (!line) lines.set(k, (line = { app, kind, price, bytes: 0n, accrued: 0n, invoiced: 0n }));
    return line;
  };
  for (const u of usage) {
    const line = lineOf(u.app, u.kind, u.pricePerGiB);
    line.bytes += BigInt(u.bytes);
    line.accrued += toMinor(u.amount);
  }
  for (const doc of documents) {
    for (const l of doc.lines) if (l.usageMonth === month) lineOf(l.app, l.kind, l.pricePerGiB).invoiced += toMinor(l.amount);
  }
  const label = (app: string, kind: string, price: string) => {
    if (kind !== 'sponsored') return `${kind} · ${app} · ${price}`;
    const ids = catalog.sponsorships.filter((s) => s.sponsor === sponsor && s.app === app && toMinor(s.pricePerGiB, 4) === toMinor(price, 4)).map((s) => s.id);
    return ids.length > 0 ? ids.join(', ') : `${app} · ${price}`;
  };
  const rows = [...lines.values()].map((l) => ({
    label: label(l.app, l.kind, l.price),
    bytes: l.bytes,
    accrued: l.accrued,
    invoiced: l.invoiced,
  }));
  const sum = (pick: (r: (typeof rows)[number]) => bigint) => rows.reduce((s, r) => s + pick(r), 0n);
  return {
    month,
    accrued: formatMinor(sum((r) => r.accrued)),
    invoiced: formatMinor(sum((r) => r.invoiced)),
    notInvoiced: formatMinor(sum((r) => r.accrued - r.invoiced)),
    lines: rows
      .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))
      .map((r) => ({ label: r.label, bytes: r.bytes, accrued: formatMinor(r.accrued), invoiced: formatMinor(r.invoiced), notInvoiced: formatMinor(r.accrued - r.invoiced) })),
  };
}
