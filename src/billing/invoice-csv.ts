import type { InvoiceDocument } from './invoices.js';
import { formatPricePerGiB } from './usage-query.js';
import type { Pool } from '../shared/db/pool.js';
import { invoicedVehicleLines, invoicedVins } from '../ledger/invoicing.js';
import { formatMinor, lineAmountMinor } from '../shared/money.js';

/**
 * The invoice CSV exports, shared by the REST API (`/v1/sponsors/{id}/invoices/{invoiceId}/lines.csv` and
 * `usage.csv`) and the dashboard, so both download the same bytes.
 */

/** CSV field quoting per RFC 4180. */
const csv = (values: ReadonlyArray<string | number>) => values.map((v) => (/[",\n\r]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v))).join(',') + '\r\n';

export function invoiceLinesCsv(invoice: InvoiceDocument): string {
  return [csv(['number', 'app', 'kind', 'usage_month', 'bytes', 'price_per_gib', 'amount', 'tax_rate', 'tax', 'currency'])]
    .concat(invoice.lines.map((l) => csv([invoice.number, l.app, l.kind, l.usageMonth, l.bytes, l.pricePerGiB, l.amount, l.taxRate, l.tax, invoice.currency])))
    .join('');
}

/** Per-vehicle lines of one invoice, 500 vehicles per query (index `allocations_invoice`), so memory stays flat. */
export async function* invoiceVehicleUsageCsv(pool: Pick<Pool, 'query'>, invoice: InvoiceDocument): AsyncGenerator<string> {
  yield csv(['number', 'vin', 'app', 'kind', 'usage_month', 'bytes', 'price_per_gib', 'amount']);
  let after = '';
  for (;;) {
    const vins = await invoicedVins(pool, invoice.id, after, 500);
    const last = vins.at(-1);
    if (last === undefined) return;
    const rows = await invoicedVehicleLines(pool, invoice.id, vins);
    let chunk = '';
    for (const r of rows) chunk += csv([invoice.number, r.vin, r.app, r.kind, r.month, r.bytes, formatPricePerGiB(r.price), formatMinor(lineAmountMinor(BigInt(r.bytes), r.price))]);
    yield chunk;
    after = last;
  }
}
