import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../shared/clock.js';
import { isUniqueViolation, withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { enqueueEvent } from '../webhooks/repository.js';
import { maskName, type PiiVault } from '../shared/pii.js';
import { parseOffsetTimestamp } from '../shared/time.js';
import { z } from 'zod';
import { reencryptColumn } from '../shared/db/reencrypt.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import { composeBlueInvoice, composeRedInvoice, type InvoiceDocument } from './compose.js';
import { InvoiceItemSchema, InvoiceStatusSchema, RedReasonSchema, type InvoiceView, type RedReason } from './schemas.js';
import { TaxPlatformError, type TaxPlatform } from './provider.js';

/**
 * E-invoices for SIM orders (DESIGN 6). The invoice row is written in the transaction of the order (blue)
 * or of the refund (red, linked to the blue one) as `pending`, with its own idempotency key; issuing
 * happens after the commit and may fail without touching the order:
 * - timeout / unavailable → stays `pending`, retried with the same key (backoff 5 s doubling to 10 min),
 *   so the platform returns the number it already issued instead of a second invoice;
 * - rejected → `rejected`, retried only on request (`POST /v1/einvoices/{id}/retry`);
 * - a red-letter invoice waits until its blue invoice has a number.
 */

/** A row of `einvoices` (`SELECT *`), parsed at the edge. */
const InvoiceRowSchema = z.object({
  id: z.string(),
  merchant_id: z.string(),
  order_id: z.string(),
  kind: z.enum(['blue', 'red']),
  original_id: z.string().nullable(),
  status: InvoiceStatusSchema,
  request_id: z.string(),
  number: z.string().nullable(),
  red_reason: RedReasonSchema.nullable(),
  seller_tax_id: z.string(),
  seller_name: z.string(),
  buyer_name_enc: z.string(),
  currency: z.string(),
  items: z.array(InvoiceItemSchema),
  amount: z.string(),
  tax: z.string(),
  total: z.string(),
  created_at: z.date(),
  issued_at: z.date().nullable(),
  attempts: z.number().int(),
  last_attempt_at: z.date().nullable(),
  last_error: z.string().nullable(),
});
export type InvoiceRow = z.output<typeof InvoiceRowSchema>;
/** With the reversed invoice's number, which a reply shows beside the row. */
const InvoiceWithOriginalSchema = InvoiceRowSchema.extend({ original_number: z.string().nullable() });

type Db = Pool | PoolClient;

const WITH_ORIGINAL = 'SELECT e.*, b.number AS original_number FROM einvoices e LEFT JOIN einvoices b ON b.id = e.original_id';

/** What a reply shows of an invoice's order: its external id and its card (the orders are src/sims's). */
export interface OrderReference {
  externalOrderId: string;
  iccid: string;
}

const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 600_000;

/** Delay before the next automatic attempt after `attempts` failures. */
export function retryDelayMs(attempts: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

export function createEinvoiceService(deps: {
  pool: Pool;
  vault: PiiVault;
  platform: () => TaxPlatform;
  clock: Clock;
  logger: Logger;
  /** the orders' references by order id (wired by the composition root to src/sims's repository) */
  orderReferences: (orderIds: readonly string[]) => Promise<ReadonlyMap<string, OrderReference>>;
}) {
  const log = deps.logger.child({ component: 'einvoice' });

  const documentOf = (row: InvoiceRow, originalNumber: string | null): InvoiceDocument => ({
    kind: row.kind,
    seller: { name: row.seller_name, taxId: row.seller_tax_id },
    buyer: { name: deps.vault.decrypt(row.buyer_name_enc, 'name') },
    currency: row.currency,
    items: row.items,
    amount: row.amount,
    tax: row.tax,
    total: row.total,
    ...(row.kind === 'red' && originalNumber ? { originalNumber } : {}),
    ...(row.kind === 'red' && row.red_reason ? { redReason: row.red_reason } : {}),
  });

  async function insert(client: PoolClient, row: Omit<InvoiceRow, 'id' | 'status' | 'request_id' | 'number' | 'issued_at' | 'attempts' | 'last_attempt_at' | 'last_error'>): Promise<string> {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO einvoices (merchant_id, order_id, kind, original_id, status, request_id, red_reason, seller_tax_id, seller_name, buyer_name_enc, currency, items, amount, tax, total, created_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (order_id, kind) DO UPDATE SET order_id = EXCLUDED.order_id RETURNING id`,
      [
        row.merchant_id,
        row.order_id,
        row.kind,
        row.original_id,
        `einv-${randomUUID()}`,
        row.red_reason,
        row.seller_tax_id,
        row.seller_name,
        row.buyer_name_enc,
        row.currency,
        JSON.stringify(row.items),
        row.amount,
        row.tax,
        row.total,
        row.created_at,
      ],
    );
    return rows[0]!.id;
  }

  async function find(db: Db, id: string): Promise<InvoiceRow | null> {
    const { rows } = await db.query('SELECT * FROM einvoices WHERE id = $1', [id]);
    return parseFirstRow(InvoiceRowSchema, rows, 'e-invoice');
  }

  /** Rows of {@link WITH_ORIGINAL} as the API shows them, with their orders' references; order kept. */
  async function viewsInContext(rows: readonly unknown[], query: string): Promise<InvoiceView[]> {
    const parsed = parseRows(InvoiceWithOriginalSchema, rows, query);
    const orders = await deps.orderReferences([...new Set(parsed.map((row) => row.order_id))]);
    // Every invoice has its order (a foreign key); one without would not be shown, as with a join.
    return parsed.flatMap((row) => {
      const order = orders.get(row.order_id);
      return order ? [service.view(row, { externalOrderId: order.externalOrderId, iccid: order.iccid, originalNumber: row.original_number })] : [];
    });
  }

  const service = {
    /** The blue invoice of a paid order, in the order's transaction. */
    async createBlue(
      client: PoolClient,
      order: { id: string; merchant_id: string; plan_id: string; retail: string; tax_rate: string; currency: string; buyer_name_enc: string },
      seller: { name: string; taxId: string },
      at: Date,
    ): Promise<string> {
      const doc = composeBlueInvoice({
        seller,
        buyerName: deps.vault.decrypt(order.buyer_name_enc, 'name'),
        currency: order.currency,
        planId: order.plan_id,
        retail: order.retail,
        taxRate: order.tax_rate,
      });
      return insert(client, {
        merchant_id: order.merchant_id,
        order_id: order.id,
        kind: 'blue',
        original_id: null,
        red_reason: null,
        seller_tax_id: seller.taxId,
        seller_name: seller.name,
        buyer_name_enc: order.buyer_name_enc,
        currency: doc.currency,
        items: doc.items,
        amount: doc.amount,
        tax: doc.tax,
        total: doc.total,
        created_at: at,
      });
    },

    /** The red-letter reversal of an order's blue invoice, in the refund's transaction. */
    async createRed(client: PoolClient, orderId: string, reason: RedReason, at: Date): Promise<string | null> {
      const { rows } = await client.query(`SELECT * FROM einvoices WHERE order_id = $1 AND kind = 'blue'`, [orderId]);
      const blue = parseFirstRow(InvoiceRowSchema, rows, 'blue e-invoice');
      if (!blue) return null;
      const red = composeRedInvoice(documentOf(blue, null), blue.number, reason);
      return insert(client, {
        merchant_id: blue.merchant_id,
        order_id: orderId,
        kind: 'red',
        original_id: blue.id,
        red_reason: reason,
        seller_tax_id: blue.seller_tax_id,
        seller_name: blue.seller_name,
        buyer_name_enc: blue.buyer_name_enc,
        currency: blue.currency,
        items: red.items,
        amount: red.amount,
        tax: red.tax,
        total: red.total,
        created_at: at,
      });
    },

    /**
     * One attempt to issue invoice `id` now; never throws for provider failures (the row records them).
     * Returns the row as it stands afterwards.
     */
    async issue(id: string): Promise<InvoiceRow | null> {
      const row = await find(deps.pool, id);
      if (!row || row.status !== 'pending') return row;
      let originalNumber: string | null = null;
      if (row.kind === 'red') {
        const original = row.original_id ? await find(deps.pool, row.original_id) : null;
        if (original?.status !== 'issued') {
          await deps.pool.query('UPDATE einvoices SET last_error = $2 WHERE id = $1', [id, 'waiting for the blue invoice to be issued']);
          return find(deps.pool, id);
        }
        originalNumber = original.number;
      }
      const attemptAt = new Date(deps.clock.now());
      try {
        const issued = await deps.platform().issue(row.request_id, documentOf(row, originalNumber));
        const issuedAtMs = parseOffsetTimestamp(issued.issuedAt) ?? attemptAt.getTime();
        await withTransaction(deps.pool, async (client) => {
          const updated = await client.query(
            `UPDATE einvoices SET status = 'issued', number = $2, issued_at = $3, attempts = attempts + 1, last_attempt_at = $4, last_error = NULL WHERE id = $1 AND status = 'pending'`,
            [id, issued.number, new Date(issuedAtMs), attemptAt],
          );
          // Issue 14: the merchant's webhooks learn of the number in the transaction that records it.
          // Its data is the invoice as `GET /v1/einvoices/{id}` shows it (the buyer masked).
          if (updated.rowCount === 1) {
            const query = `${WITH_ORIGINAL} WHERE e.id = $1`;
            const [view] = await viewsInContext((await client.query(query, [id])).rows, query);
            if (view) await enqueueEvent(client, { ownerKind: 'merchant', ownerId: row.merchant_id, type: 'einvoice.issued', data: view, atMs: attemptAt.getTime() });
          }
        }).catch((error: unknown) => {
          // A number another invoice already holds: the platform's answer is wrong, not our row. The
          // invoice stays pending (retried with backoff) instead of failing the order or the retry job.
          if (isUniqueViolation(error)) throw new TaxPlatformError('unavailable', `the tax platform returned number ${issued.number}, which another invoice already holds`);
          throw error;
        });
        log.info({ invoice: id, kind: row.kind, number: issued.number }, 'e-invoice issued');
      } catch (error) {
        if (!(error instanceof TaxPlatformError)) throw error;
        const status = error.failure === 'rejected' ? 'rejected' : 'pending';
        await deps.pool.query(`UPDATE einvoices SET status = $2, attempts = attempts + 1, last_attempt_at = $3, last_error = $4 WHERE id = $1 AND status = 'pending'`, [
          id,
          status,
          attemptAt,
          error.message,
        ]);
        log.warn({ invoice: id, kind: row.kind, failure: error.failure, err: error.message }, status === 'rejected' ? 'e-invoice rejected' : 'e-invoice not issued yet; will retry');
      }
      return find(deps.pool, id);
    },

    /** Like {@link issue}, but a rejected invoice is put back to pending first (after its cause was fixed). */
    async retry(id: string): Promise<InvoiceRow | null> {
      await deps.pool.query(`UPDATE einvoices SET status = 'pending' WHERE id = $1 AND status = 'rejected'`, [id]);
      return service.issue(id);
    },

    /** Automatic retries: pending invoices whose backoff has passed, blue before red. Returns how many were attempted. */
    async retryDue(nowMs: number, limit = 200): Promise<number> {
      const { rows } = await deps.pool.query<{ id: string; attempts: number; last_attempt_at: Date | null; original_id: string | null }>(
        `SELECT id, attempts, last_attempt_at, original_id FROM einvoices WHERE status = 'pending' ORDER BY (kind = 'red'), id LIMIT $1`,
        [limit],
      );
      let attempted = 0;
      for (const row of rows) {
        if (row.last_attempt_at && row.last_attempt_at.getTime() + retryDelayMs(row.attempts) > nowMs) continue;
        // A red-letter invoice goes only after its blue one (issued earlier in this loop, or not yet).
        if (row.original_id && (await find(deps.pool, row.original_id))?.status !== 'issued') continue;
        await service.issue(row.id);
        attempted += 1;
      }
      return attempted;
    },

    find: (id: string) => find(deps.pool, id),

    /** Key rotation: the buyers' names moved to the current key; how many values moved. */
    reencrypt: () => reencryptColumn(deps.pool, deps.vault, { table: 'einvoices', key: 'id', column: 'buyer_name_enc', purpose: 'name' }),

    async forOrder(db: Db, orderId: string): Promise<InvoiceRow[]> {
      const { rows } = await db.query('SELECT * FROM einvoices WHERE order_id = $1 ORDER BY id', [orderId]);
      return parseRows(InvoiceRowSchema, rows, 'e-invoices of an order');
    },

    /** A merchant's invoices created in [fromMs, toMs) (blue: the order's month; red: the refund's month). */
    async listForMerchant(merchantId: string, fromMs: number, toMs: number): Promise<InvoiceView[]> {
      const { rows } = await deps.pool.query(`${WITH_ORIGINAL} WHERE e.merchant_id = $1 AND e.created_at >= $2 AND e.created_at < $3 ORDER BY e.created_at, e.id`, [
        merchantId,
        new Date(fromMs),
        new Date(toMs),
      ]);
      return viewsInContext(rows, 'e-invoices of a merchant');
    },

    /** One invoice as the API shows it, or null when there is none. */
    async viewOf(id: string): Promise<InvoiceView | null> {
      const { rows } = await deps.pool.query(`${WITH_ORIGINAL} WHERE e.id = $1`, [id]);
      return (await viewsInContext(rows.slice(0, 1), 'e-invoice'))[0] ?? null;
    },

    /** The response shape: the buyer masked (DESIGN 6), everything else as issued. */
    view(row: InvoiceRow, context: { externalOrderId: string; iccid: string; originalNumber: string | null }): InvoiceView {
      return {
        id: row.id,
        kind: row.kind,
        status: row.status,
        number: row.number,
        originalNumber: context.originalNumber,
        redReason: row.red_reason,
        orderId: row.order_id,
        externalOrderId: context.externalOrderId,
        iccid: context.iccid,
        seller: { name: row.seller_name, taxId: row.seller_tax_id },
        buyer: { name: maskName(deps.vault.decrypt(row.buyer_name_enc, 'name')) },
        currency: row.currency,
        items: row.items,
        amount: row.amount,
        tax: row.tax,
        total: row.total,
        createdAt: row.created_at.toISOString(),
        issuedAt: row.issued_at?.toISOString() ?? null,
        attempts: row.attempts,
        lastError: row.last_error,
      };
    },
  };
  return service;
}

export type EinvoiceService = ReturnType<typeof createEinvoiceService>;
