import { createHash, randomInt } from 'node:crypto';
import { bearerAccepted } from '../shared/bearer.js';
import { listen } from '../shared/listen.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { invoiceProblem, type InvoiceDocument } from '../../src/einvoice/compose.js';
import { checkUscc } from '../../src/shared/identifiers.js';
import { formatMinor, toMinor } from '../../src/shared/money.js';
import { readJson } from '../realname/simulator.js';

/**
 * The tax platform (电子发票服务平台), played over HTTP (DESIGN 6). It issues 数电 invoice numbers —
 * 20 digits: the year's last two digits, the province code (the seller's administrative division, USCC
 * positions 3–4), the issuing channel (`1`, the platform itself), then a 15-digit sequence — and full
 * red-letter reversals (红字发票) linked to a blue invoice, with a confirmation form number (红字发票信息确认单;
 * for an invoice the buyer has not yet booked, "确认即开票": confirming issues it at once).
 *
 * Rules it enforces: the seller's tax id passes GB 32100; items and totals agree (amount = round_half_up(
 * (amount + tax) / (1 + rate), 2), sums, total = amount + tax); a red invoice names an issued blue invoice of
 * the same seller and negates it in full; a blue invoice is reversed at most once. Failure modes: an
 * `Idempotency-Key` is required (same key and body → the first answer again, same key with another body →
 * 409), and injected faults (`POST /__faults`): `unavailable` (503, nothing issued), `reject` (422, nothing
 * issued), `timeout` (issued, but the answer comes only after `slowMs`: the classic lost answer).
 */

export type TaxFault = 'unavailable' | 'timeout' | 'reject';

export interface TaxSimulatorOptions {
  host?: string;
  port?: number;
  slowMs?: number;
  failureRate?: number;
  random?: () => number;
  now?: () => number;
  onLog?: (line: Record<string, unknown>) => void;
  /** When set, API requests need `Authorization: Bearer <token>` (401 otherwise), like a real provider. */
  token?: string;
}

export interface StoredInvoice {
  number: string;
  issuedAt: string;
  document: InvoiceDocument;
  redConfirmationNumber?: string;
  reversedBy?: string;
}

export interface TaxSimulator {
  url: string;
  injectFault(mode: TaxFault, count?: number): void;
  invoices(): StoredInvoice[];
  stats(): { requests: number; issued: number; replays: number };
  close(): Promise<void>;
}

const Money = z.string().regex(/^-?[0-9]+\.[0-9]{2}$/);
const DocumentSchema = z.object({
  kind: z.enum(['blue', 'red']),
  seller: z.object({ name: z.string().min(1), taxId: z.string() }),
  buyer: z.object({ name: z.string().min(1), taxId: z.string().optional() }),
  currency: z.string().min(3).max(3),
  items: z.array(
    z.object({
      name: z.string().min(1),
      quantity: z.number().int(),
      unit: z.string(),
      unitPrice: Money,
      amount: Money,
      taxRate: z.string().regex(/^0(\.[0-9]{1,4})?$/),
      tax: Money,
    }),
  ),
  amount: Money,
  tax: Money,
  total: Money,
  originalNumber: z.string().regex(/^[0-9]{20}$/).optional(),
  redReason: z.enum(['SALES_RETURN', 'SERVICE_TERMINATION']).optional(),
});

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(body === undefined ? '' : JSON.stringify(body));
}

function shanghai(ms: number): { yy: string; iso: string } {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(ms);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '00';
  return { yy: get('year').slice(2), iso: `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}+08:00` };
}

export async function startTaxSimulator(options: TaxSimulatorOptions = {}): Promise<TaxSimulator> {
  const slowMs = options.slowMs ?? 10_000;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const log = options.onLog ?? (() => undefined);
  const answers = new Map<string, { digest: string; status: number; body: unknown }>();
  const byNumber = new Map<string, StoredInvoice>();
  const faults: TaxFault[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const counters = { requests: 0, issued: 0, replays: 0 };
  // Sequences start from the clock so a restarted simulator never repeats a number a database already holds.
  let sequence = BigInt(now()) * 100n + BigInt(randomInt(100));
  let confirmations = 0;

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  function nextNumber(sellerTaxId: string, atMs: number): string {
    sequence += 1n;
    const region = /^[0-9]{2}$/.test(sellerTaxId.slice(2, 4)) ? sellerTaxId.slice(2, 4) : '00';
    return `${shanghai(atMs).yy}${region}1${(sequence % 10n ** 15n).toString().padStart(15, '0')}`;
  }

  /** Validates and issues; returns the HTTP answer. Nothing is stored unless issued. */
  function issue(document: InvoiceDocument): { status: number; body: unknown } {
    const seller = checkUscc(document.seller.taxId);
    if (!seller.ok) return { status: 422, body: { error: { code: 'SELLER_TAX_ID_INVALID', message: `seller.taxId: ${seller.reason}` } } };
    const problem = invoiceProblem(document);
    if (problem) return { status: 422, body: { error: { code: 'INVOICE_INCONSISTENT', message: problem } } };
    let original: StoredInvoice | undefined;
    if (document.kind === 'red') {
      original = byNumber.get(document.originalNumber!);
      if (!original || original.document.kind !== 'blue' || original.document.seller.taxId !== document.seller.taxId) {
        return { status: 422, body: { error: { code: 'ORIGINAL_NOT_FOUND', message: 'no blue invoice of this seller has that number' } } };
      }
      if (original.reversedBy) return { status: 409, body: { error: { code: 'ALREADY_REVERSED', message: `already reversed by ${original.reversedBy}` } } };
      if (toMinor(original.document.total) !== -toMinor(document.total) || toMinor(original.document.tax) !== -toMinor(document.tax)) {
        return { status: 422, body: { error: { code: 'NOT_FULL_REVERSAL', message: `a full reversal of ${original.document.total} is ${formatMinor(-toMinor(original.document.total))}` } } };
      }
    }
    const atMs = now();
    const stored: StoredInvoice = { number: nextNumber(document.seller.taxId, atMs), issuedAt: shanghai(atMs).iso, document };
    if (original) {
      confirmations += 1;
      stored.redConfirmationNumber = `HZ${stored.number.slice(0, 5)}${String(confirmations).padStart(10, '0')}`;
      original.reversedBy = stored.number;
    }
    byNumber.set(stored.number, stored);
    counters.issued += 1;
    return { status: 201, body: { number: stored.number, issuedAt: stored.issuedAt, ...(stored.redConfirmationNumber ? { redConfirmationNumber: stored.redConfirmationNumber } : {}) } };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (request.method === 'GET' && path === '/health') return send(response, 200, { status: 'ok' });
    if (request.method === 'GET' && path === '/__stats') return send(response, 200, counters);
    if (request.method === 'GET' && path.startsWith('/v1/invoices/')) {
      const stored = byNumber.get(path.slice('/v1/invoices/'.length));
      return stored ? send(response, 200, stored) : send(response, 404, { error: { code: 'NOT_FOUND', message: 'no such invoice' } });
    }
    if (request.method === 'POST' && path === '/__faults') {
      const body = (await readJson(request).catch(() => null)) as { mode?: unknown; count?: unknown } | null;
      const mode = body?.mode;
      if (mode !== 'unavailable' && mode !== 'timeout' && mode !== 'reject') return send(response, 422, { error: { code: 'INVALID_FAULT', message: 'mode: unavailable | timeout | reject' } });
      simulator.injectFault(mode, typeof body?.count === 'number' ? body.count : 1);
      return send(response, 204, undefined);
    }
    if (request.method !== 'POST' || path !== '/v1/invoices') return send(response, 404, { error: { code: 'NOT_FOUND', message: 'no such endpoint' } });
    if (!bearerAccepted(request, options.token)) return send(response, 401, { error: { code: 'UNAUTHORIZED', message: 'send Authorization: Bearer <your API token>' } });
    counters.requests += 1;
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) return send(response, 400, { error: { code: 'IDEMPOTENCY_KEY_REQUIRED', message: 'send an Idempotency-Key header' } });
    let raw: unknown;
    try {
      raw = await readJson(request);
    } catch {
      return send(response, 400, { error: { code: 'INVALID_JSON', message: 'the body is not JSON' } });
    }
    const parsed = DocumentSchema.safeParse(raw);
    if (!parsed.success) return send(response, 422, { error: { code: 'INVALID_DOCUMENT', message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } });
    const digest = createHash('sha256').update(JSON.stringify(parsed.data)).digest('hex');
    const previous = answers.get(key);
    if (previous) {
      if (previous.digest !== digest) return send(response, 409, { error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this key was used for another invoice' } });
      counters.replays += 1;
      log({ key, outcome: 'replayed' });
      return send(response, previous.status === 201 ? 200 : previous.status, previous.body);
    }
    const fault = faults.shift() ?? (options.failureRate && random() < options.failureRate ? 'unavailable' : undefined);
    if (fault === 'unavailable') {
      log({ key, outcome: 'unavailable (injected)' });
      return send(response, 503, { error: { code: 'UNAVAILABLE', message: 'the platform is busy; retry later' } });
    }
    if (fault === 'reject') {
      log({ key, outcome: 'rejected (injected)' });
      return send(response, 422, { error: { code: 'PLATFORM_REJECTED', message: 'the platform refused the invoice (injected fault)' } });
    }
    const answer = issue(parsed.data as InvoiceDocument);
    // Only issued invoices are remembered under the key: a rejected request may be corrected and retried.
    if (answer.status === 201) answers.set(key, { digest, ...answer });
    log({ key, outcome: answer.status === 201 ? 'issued' : `refused ${answer.status}` });
    if (fault === 'timeout') later(slowMs, () => send(response, answer.status, answer.body));
    else send(response, answer.status, answer.body);
  }

  const server = createServer((request, response) => {
    void handle(request, response).catch(() => send(response, 500, { error: { code: 'INTERNAL', message: 'simulator failure' } }));
  });
  const url = await listen(server, options);

  const simulator: TaxSimulator = {
    url,
    injectFault(mode, count = 1) {
      for (let i = 0; i < count; i++) faults.push(mode);
    },
    invoices: () => [...byNumber.values()],
    stats: () => ({ ...counters }),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return simulator;
}
