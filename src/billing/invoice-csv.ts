import type { InvoiceDocument } from './invoices.js';
import { formatPricePerGiB } from './usage-query.js';
import type { Pool } from '../shared/db/pool.js';
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
    const { rows: vins } = await pool.query<{ vin: string }>('SELECT DISTINCT vin FROM allocations WHERE invoice_id = $1 AND vin > $2 ORDER BY vin LIMIT 500', [invoice.id, after]);
    if (vins.length === 0) return;
    const { rows } = await pool.query<{ vin: string; app: string; kind: string; month: string; price: string; bytes: string }>(
      `SELECT vin, app, kind, to_char(usage_month, 'YYYY-MM') AS month, price_per_gib::text AS price, sum(bytes)::text AS bytes
         FROM allocations WHERE invoice_id = $1 AND vin = ANY($2::text[])
        GROUP BY vin, app, kind, usage_month, price_per_gib ORDER BY vin, usage_month, app, kind, price_per_gib`,
      [invoice.id, vins.map((v) => v.vin)],
    );
    let chunk = '';
    for (const r of rows) chunk += csv([invoice.number, r.vin, r.app, r.kind, r.month, r.bytes, formatPricePerGiB(r.price), formatMinor(lineAmountMinor(BigInt(r.bytes), r.price))]);
    yield chunk;
    after = vins[vins.length - 1]!.vin;
  }
}
