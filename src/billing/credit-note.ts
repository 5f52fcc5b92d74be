import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { releaseAllocations } from '../ledger/invoicing.js';
import { conflict, notFound } from '../shared/errors.js';
import { formatMinor, toMinor } from '../shared/money.js';
import { insertInvoice, nextNumber } from './close-period.js';
import { invoiceTotals } from './rating.js';
import { formatPricePerGiB } from './usage-query.js';
import { enqueueEvent } from '../webhooks/repository.js';

/**
 * A correction is a credit note, never an edit (DESIGN 5): a new invoice whose lines negate the original's
 * exactly (bytes, amount, tax); the original becomes `void`, and its allocations are released so the next
 * close invoices them again (as adjustment lines, rated cumulatively). Idempotent per original.
 */
export async function issueCreditNote(deps: { pool: Pool; catalog: Catalog; catalogVersion: string; clock: Clock }, sponsor: string, invoiceId: string): Promise<{ id: string; number: string }> {
  return withTransaction(deps.pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('billing-close'), hashtext($1))", [sponsor]);
    const { rows } = await client.query<{ id: string; kind: string; status: string; period: string }>(
      "SELECT id::text, kind, status, to_char(period_month, 'YYYY-MM') AS period FROM invoices WHERE id = $1 AND sponsor = $2 FOR UPDATE",
      [invoiceId, sponsor],
    );
    const original = rows[0];
    if (!original) throw notFound(`invoice ${invoiceId}`);
    if (original.kind !== 'invoice') throw conflict('INVALID_STATE', 'a credit note cannot itself be credited');
    const existing = await client.query<{ id: string; number: string }>("SELECT id::text, number FROM invoices WHERE credits_invoice_id = $1", [invoiceId]);
    if (existing.rows[0]) return existing.rows[0];
    const lines = await client.query<{ app: string; kind: 'sponsored' | 'overage' | 'unreported'; usage_month: string; price: string; bytes: string; amount: string; tax_rate: string; tax: string }>(
      "SELECT app, kind, to_char(usage_month, 'YYYY-MM') AS usage_month, price_per_gib::text AS price, bytes::text, amount::text, tax_rate::text, tax::text FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no",
      [invoiceId],
    );
    const nowMs = deps.clock.now();
    const year = Number(original.period.slice(0, 4));
    const number = await nextNumber(client, sponsor, year);
    const { rows: idRows } = await client.query<{ id: string }>("SELECT nextval('invoices_id_seq')::text AS id");
    const id = idRows[0]!.id;
    const creditLines = lines.rows.map((l) => ({
      app: l.app,
      kind: l.kind,
      usageMonth: l.usage_month,
      pricePerGiB: formatPricePerGiB(l.price),
      bytes: -BigInt(l.bytes),
      amountMinor: -toMinor(l.amount),
      taxMinor: -toMinor(l.tax),
      taxRate: l.tax_rate,
    }));
    await insertInvoice(client, {
      id,
      sponsor,
      periodMonth: original.period,
      kind: 'credit_note',
      creditsInvoiceId: invoiceId,
      number,
      issuedAt: new Date(nowMs),
      catalog: deps.catalog,
      catalogVersion: deps.catalogVersion,
      lines: creditLines,
    });
    await client.query("UPDATE invoices SET status = 'void' WHERE id = $1", [invoiceId]);
    await releaseAllocations(client, invoiceId);
    // Issue 14: the sponsor's webhooks learn of the credit note from this transaction's outbox.
    const totals = invoiceTotals(creditLines);
    await enqueueEvent(client, {
      ownerKind: 'sponsor',
      ownerId: sponsor,
      type: 'credit_note.issued',
      data: { creditNoteId: id, number: number.text, creditsInvoiceId: invoiceId, sponsor, month: original.period, currency: deps.catalog.billing.currency, subtotal: formatMinor(totals.subtotalMinor), tax: formatMinor(totals.taxMinor), total: formatMinor(totals.totalMinor) },
      atMs: nowMs,
    });
    return { id, number: number.text };
  });
}
