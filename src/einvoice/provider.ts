import { z } from 'zod';
import { providerErrorCode, readProviderJson } from '../shared/provider-answer.js';
import type { InvoiceDocument } from './compose.js';

/**
 * The tax platform (电子发票服务平台) that issues 数电 invoice numbers (DESIGN 6). One small interface; the
 * HTTP client speaks the protocol of `simulators/einvoice`. Every call carries an idempotency key (one per
 * invoice row), so a retry after a timeout returns the number already issued instead of a second invoice.
 */

export interface IssuedInvoice {
  /** 20 digits: year (2), region (2), channel (1), sequence (15) */
  number: string;
  issuedAt: string;
  /** red-letter only: the number of the confirmation form (红字发票信息确认单) */
  redConfirmationNumber?: string;
}

export interface TaxPlatform {
  issue(requestId: string, document: InvoiceDocument): Promise<IssuedInvoice>;
}

/** `rejected` is final for this content (fix and retry explicitly); the others are retried automatically. */
export type TaxPlatformFailure = 'timeout' | 'unavailable' | 'rejected';

export class TaxPlatformError extends Error {
  constructor(
    readonly failure: TaxPlatformFailure,
    message: string,
  ) {
    super(message);
    this.name = 'TaxPlatformError';
  }
}

const IssuedSchema = z.object({
  number: z.string().regex(/^[0-9]{20}$/),
  // RFC 3339 with an offset, as the protocol says; the service keeps it as the invoice's issue time.
  issuedAt: z.iso.datetime({ offset: true }),
  redConfirmationNumber: z.string().regex(/^[0-9A-Za-z-]{1,64}$/).optional(),
});

/** `token`: our credential at the platform (EINVOICE_TOKEN), sent as `Authorization: Bearer`; required outside dev mode. */
export function createHttpTaxPlatform(options: { baseUrl: string; token?: string | undefined; timeoutMs?: number }): TaxPlatform {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    async issue(requestId, document) {
      let response: Response;
      try {
        response = await fetch(`${base}/v1/invoices`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': requestId, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
          body: JSON.stringify(document),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const name = error instanceof Error ? error.name : '';
        if (name === 'TimeoutError' || name === 'AbortError') throw new TaxPlatformError('timeout', `the tax platform did not answer within ${timeoutMs} ms`);
        throw new TaxPlatformError('unavailable', 'the tax platform could not be reached');
      }
      const payload = await readProviderJson(response);
      if (response.status >= 500 || response.status === 429) throw new TaxPlatformError('unavailable', `the tax platform answered ${response.status}`);
      // Our credential, not the invoice, was refused: retried automatically once EINVOICE_TOKEN is fixed.
      if (response.status === 401 || response.status === 403) {
        throw new TaxPlatformError('unavailable', `the tax platform refused our credentials (${response.status}); check EINVOICE_TOKEN`);
      }
      if (!response.ok) {
        // Only the platform's code and our own words: its message may quote the buyer.
        const code = providerErrorCode(payload);
        throw new TaxPlatformError('rejected', `the tax platform rejected the invoice (${response.status}${code !== null ? ` ${code}` : ''})`);
      }
      const issued = IssuedSchema.safeParse(payload);
      if (!issued.success) throw new TaxPlatformError('unavailable', 'the tax platform sent an answer of an unknown shape');
      return issued.data;
    },
  };
}

/** Outside dev mode without EINVOICE_URL: invoices wait as pending (and the log says why). */
export function unconfiguredTaxPlatform(): TaxPlatform {
  return {
    async issue() {
      throw new TaxPlatformError('unavailable', 'no tax platform is configured (set EINVOICE_URL)');
    },
  };
}
