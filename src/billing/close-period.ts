import type { Logger } from 'pino';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { payersWithUsage, stampAllocations } from '../ledger/invoicing.js';
import { formatMinor, toMinor } from '../shared/money.js';
import { dateOnlyToInstant, monthOf, nextMonth, parseMonth, previousMonth, startOfMonth } from '../shared/time.js';
import { invoiceTotals, lineKeyOf, rateLines, type LineKey, type PriorTotals } from './rating.js';
import { formatPricePerGiB } from './usage-query.js';
import { enqueueEvent } from '../webhooks/repository.js';

export interface ClosedPeriod {
  sponsor: string;
  month: string;
  invoiceId: string | null;
  number: string | null;
}

/** When month M may close: 00:00 (billing timezone) on day `closeAfterDays + 1` of month M+1 (DESIGN 5). */
export function closeTimeOf(month: string, catalog: Catalog): number {
  const { year, month: mon } = parseMonth(nextMonth(month));
  const day = new Date(Date.UTC(year, mon - 1, 1 + catalog.billing.closeAfterDays)).toISOString().slice(0, 10);
  return dateOnlyToInstant(day, catalog.billing.timezone);
}

/** The latest month whose close time has come at `nowMs`. */
export function latestClosableMonth(nowMs: number, catalog: Catalog): string {
  let month = previousMonth(monthOf(nowMs, catalog.billing.timezone));
  while (closeTimeOf(month, catalog) > nowMs) month = previousMonth(month);
  return month;
}

/**
 * Issue 13: the carrier bytes no record explains that `sponsor` pays as overage payer, per usage month ≤ `month`
 * and price, as they stand now (totals, not increments): the close invoices the difference to what was
 * invoiced before, rated cumulatively like any adjustment.
 */
export type UnreportedTotals = (sponsor: string, month: string) => Promise<Array<{ usageMonth: string; pricePerGiB: string; bytes: bigint }>>;

export function createPeriodCloser(deps: { pool: Pool; catalog: () => Catalog; catalogVersion: () => string; clock: Clock; logger: Logger; unreported?: UnreportedTotals }) {
  const log = deps.logger.child({ component: 'billing' });

  /**
   * Closes (sponsor, month) in one transaction under the sponsor's lock (DESIGN 5): stamps every
   * not-yet-invoiced allocation with usage month ≤ month onto one new invoice. The stamp and the sums come
   * from one statement, so an allocation committed after its snapshot waits for the next close, and none
   * lands on two invoices. Idempotent: a closed period returns what it produced.
   */
  async function closeSponsorMonth(sponsor: string, month: string): Promise<ClosedPeriod> {
    const catalog = deps.catalog();
    return withTransaction(deps.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('billing-close'), hashtext($1))", [sponsor]);
      const existing = await client.query<{ invoice_id: string | null; number: string | null }>(
        'SELECT p.invoice_id, i.number FROM billing_periods p LEFT JOIN invoices i ON i.id = p.invoice_id WHERE p.sponsor = $1 AND p.month = $2',
        [sponsor, `${month}-01`],
      );
      if (existing.rows[0]) return { sponsor, month, invoiceId: existing.rows[0].invoice_id, number: existing.rows[0].number };

      const nowMs = deps.clock.now();
      const { rows: idRows } = await client.query<{ id: string }>("SELECT nextval('invoices_id_seq')::text AS id");
      const invoiceId = idRows[0]!.id;
      const stamped = await stampAllocations(client, invoiceId, sponsor, month);
      const closedAt = new Date(nowMs);
      const usageKeys: Array<LineKey & { bytes: bigint }> = stamped.map((r) => ({ app: r.app, kind: r.kind, usageMonth: r.usageMonth, pricePerGiB: formatPricePerGiB(r.price), bytes: r.bytes }));
      const unreported = catalog.billing.unreported === 'overage' && deps.unreported ? await deps.unreported(sponsor, month) : [];
      const unreportedTotals = unreported.map((u) => ({ app: 'unreported', kind: 'unreported' as const, usageMonth: u.usageMonth, pricePerGiB: formatPricePerGiB(u.pricePerGiB), bytes: u.bytes }));
      const prior = await priorTotals(client, sponsor, [...usageKeys, ...unreportedTotals]);
      // What is still to invoice: the total now, less the bytes already invoiced for the key (negative after a
      // carrier correction: a credit on this invoice).
      const unreportedKeys = unreportedTotals.map((k) => ({ ...k, bytes: k.bytes - (prior.get(lineKeyOf(k))?.bytes ?? 0n) })).filter((k) => k.bytes !== 0n);
      const keys = [...usageKeys, ...unreportedKeys];
      if (keys.length === 0) {
        // DESIGN 5: a sponsor with no lines gets no invoice (and consumes no number).
        await client.query('INSERT INTO billing_periods (sponsor, month, closed_at, invoice_id) VALUES ($1, $2, $3, NULL)', [sponsor, `${month}-01`, closedAt]);
        return { sponsor, month, invoiceId: null, number: null };
      }
      const lines = rateLines(keys, prior, catalog.billing.taxRate);
      const number = await nextNumber(client, sponsor, Number(month.slice(0, 4)));
      await insertInvoice(client, {
        id: invoiceId,
        sponsor,
        periodMonth: month,
        kind: 'invoice',
        creditsInvoiceId: null,
        number,
        issuedAt: closedAt,
        catalog,
        catalogVersion: deps.catalogVersion(),
        lines: lines.map((l) => ({ ...l, taxRate: catalog.billing.taxRate })),
      });
      await client.query('INSERT INTO billing_periods (sponsor, month, closed_at, invoice_id) VALUES ($1, $2, $3, $4)', [sponsor, `${month}-01`, closedAt, invoiceId]);
      // Issue 14: the sponsor's webhooks learn of the invoice from this transaction's outbox.
      const totals = invoiceTotals(lines);
      await enqueueEvent(client, {
        ownerKind: 'sponsor',
        ownerId: sponsor,
        type: 'invoice.issued',
        data: { invoiceId, number: number.text, sponsor, month, currency: catalog.billing.currency, subtotal: formatMinor(totals.subtotalMinor), tax: formatMinor(totals.taxMinor), total: formatMinor(totals.totalMinor) },
        atMs: nowMs,
      });
      log.info({ sponsor, month, number, lines: lines.length }, 'invoice issued');
      return { sponsor, month, invoiceId, number: number.text };
    });
  }

  /** Closes every open month of every sponsor up to `month`, earliest first (DESIGN 5: closing M first closes earlier months). */
  async function closeThrough(month: string): Promise<ClosedPeriod[]> {
    const closed: ClosedPeriod[] = [];
    const catalog = deps.catalog();
    const known = new Set(catalog.sponsors.map((s) => s.id));
    for (const { payer: sponsor, firstMonth: first } of await payersWithUsage(deps.pool, month)) {
      if (!known.has(sponsor)) continue;
      const done = await deps.pool.query<{ month: string }>("SELECT to_char(month, 'YYYY-MM') AS month FROM billing_periods WHERE sponsor = $1 AND month >= $2", [sponsor, `${first}-01`]);
      const closedMonths = new Set(done.rows.map((r) => r.month));
      for (let m = first; m <= month; m = nextMonth(m)) {
        if (!closedMonths.has(m)) closed.push(await closeSponsorMonth(sponsor, m));
      }
    }
    return closed;
  }

  return {
    closeSponsorMonth,
    closeThrough,
    /** The scheduler's step: close what is due at the clock's now (read now, never cached). */
    async closeDue(): Promise<ClosedPeriod[]> {
      return closeThrough(latestClosableMonth(deps.clock.now(), deps.catalog()));
    },
    /**
     * `POST /v1/billing/periods/{month}/close`: an ended month, at once (earlier open months first).
     * Answers every closed period of that month, so a repeat returns the same result.
     */
    async closeEnded(month: string): Promise<ClosedPeriod[] | 'NOT_ENDED'> {
      const catalog = deps.catalog();
      if (startOfMonth(nextMonth(month), catalog.billing.timezone) > deps.clock.now()) return 'NOT_ENDED';
      await closeThrough(month);
      const { rows } = await deps.pool.query<{ sponsor: string; invoice_id: string | null; number: string | null }>(
        'SELECT p.sponsor, p.invoice_id::text, i.number FROM billing_periods p LEFT JOIN invoices i ON i.id = p.invoice_id WHERE p.month = $1 ORDER BY p.sponsor',
        [`${month}-01`],
      );
      return rows.map((r) => ({ sponsor: r.sponsor, month, invoiceId: r.invoice_id, number: r.number }));
    },
  };
}

export type PeriodCloser = ReturnType<typeof createPeriodCloser>;

async function priorTotals(client: PoolClient, sponsor: string, keys: readonly LineKey[]): Promise<Map<string, PriorTotals>> {
  const { rows } = await client.query<{ app: string; kind: LineKey['kind']; usage_month: string; price: string; bytes: string; amount: string }>(
    `SELECT l.app, l.kind, to_char(l.usage_month, 'YYYY-MM') AS usage_month, l.price_per_gib::text AS price, sum(l.bytes)::text AS bytes, sum(l.amount)::text AS amount
       FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
      WHERE i.sponsor = $1 AND l.usage_month = ANY($2::date[])
      GROUP BY l.app, l.kind, l.usage_month, l.price_per_gib`,
    [sponsor, [...new Set(keys.map((k) => `${k.usageMonth}-01`))]],
  );
  return new Map(
    rows.map((r) => [
      lineKeyOf({ app: r.app, kind: r.kind, usageMonth: r.usage_month, pricePerGiB: formatPricePerGiB(r.price) }),
      { bytes: BigInt(r.bytes), amountMinor: toMinor(r.amount) },
    ]),
  );
}

/** Gapless per sponsor per year: the counter row is locked until the invoice commits (or rolls back). */
export async function nextNumber(client: PoolClient, sponsor: string, year: number): Promise<{ year: number; seq: number; text: string }> {
  const { rows } = await client.query<{ last: number }>(
    'INSERT INTO invoice_counters (sponsor, year, last) VALUES ($1, $2, 1) ON CONFLICT (sponsor, year) DO UPDATE SET last = invoice_counters.last + 1 RETURNING last',
    [sponsor, year],
  );
  const seq = rows[0]!.last;
  return { year, seq, text: `INV-${sponsor}-${year}-${String(seq).padStart(6, '0')}` };
}

export interface NewInvoice {
  id: string;
  sponsor: string;
  periodMonth: string;
  kind: 'invoice' | 'credit_note';
  creditsInvoiceId: string | null;
  number: { year: number; seq: number; text: string };
  issuedAt: Date;
  catalog: Catalog;
  catalogVersion: string;
  lines: ReadonlyArray<LineKey & { bytes: bigint; amountMinor: bigint; taxMinor: bigint; taxRate: string }>;
}

export async function insertInvoice(client: PoolClient, invoice: NewInvoice): Promise<void> {
  const totals = invoiceTotals(invoice.lines);
  const buyer = invoice.catalog.sponsors.find((s) => s.id === invoice.sponsor);
  const seller = invoice.catalog.billing.seller ?? { name: 'Platform operator (billing.seller not configured)', taxId: null };
  await client.query(
    `INSERT INTO invoices (id, sponsor, period_month, kind, credits_invoice_id, number, number_year, number_seq, status, issued_at, currency, subtotal, tax, total, catalog_version, seller, buyer)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'issued', $9, $10, $11, $12, $13, $14, $15, $16)`,
    [
      invoice.id,
      invoice.sponsor,
      `${invoice.periodMonth}-01`,
      invoice.kind,
      invoice.creditsInvoiceId,
      invoice.number.text,
      invoice.number.year,
      invoice.number.seq,
      invoice.issuedAt,
      invoice.catalog.billing.currency,
      formatMinor(totals.subtotalMinor),
      formatMinor(totals.taxMinor),
      formatMinor(totals.totalMinor),
      invoice.catalogVersion,
      JSON.stringify(seller),
      JSON.stringify({ id: invoice.sponsor, name: buyer?.name ?? invoice.sponsor, taxId: buyer?.taxId ?? null }),
    ],
  );
  const lines = invoice.lines;
  await client.query(
    `INSERT INTO invoice_lines (invoice_id, line_no, app, kind, usage_month, price_per_gib, bytes, amount, tax_rate, tax)
     SELECT $1, n, app, kind, (m || '-01')::date, price, bytes, amount, rate, tax
       FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::bigint[], $8::numeric[], $9::numeric[], $10::numeric[]) AS u(n, app, kind, m, price, bytes, amount, rate, tax)`,
    [
      invoice.id,
      lines.map((_, i) => i + 1),
      lines.map((l) => l.app),
      lines.map((l) => l.kind),
      lines.map((l) => l.usageMonth),
      lines.map((l) => l.pricePerGiB),
      lines.map((l) => l.bytes.toString()),
      lines.map((l) => formatMinor(l.amountMinor)),
      lines.map((l) => l.taxRate),
      lines.map((l) => formatMinor(l.taxMinor)),
    ],
  );
}
