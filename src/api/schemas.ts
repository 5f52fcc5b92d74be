import { z } from 'zod';
import { checkIccid, checkUscc, checkVin, EPOCH_PATTERN, ID_PATTERN } from '../shared/identifiers.js';
import { MONTH_PATTERN, parseOffsetTimestamp } from '../shared/time.js';

/**
 * Shared zod pieces for HTTP bodies, query strings and replies (the OpenAPI at /docs is generated from
 * them): each boundary value — an id, a key id, an epoch, a seq, a month, a page limit, a USCC — has its
 * one schema here, used by the API and the web pages alike.
 */

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
});

/** Money in a reply: a decimal string with 2 decimals (DESIGN 4.3: never a float). */
export const MoneySchema = z.string().meta({ example: '48.00', description: 'decimal string, 2 decimals' });

/** DESIGN 5: every timestamp accepted must carry an offset; stored to the millisecond. */
export const OffsetTimestampSchema = z
  .string()
  .max(64)
  .transform((text, ctx) => {
    const ms = parseOffsetTimestamp(text);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: 'must be an RFC 3339 timestamp with an offset, e.g. 2026-11-03T08:15:00+08:00' });
      return z.NEVER;
    }
    return new Date(ms);
  })
  .meta({ type: 'string', format: 'date-time', example: '2026-11-03T08:15:00.000+08:00' });

/** Wraps a pure identifier check as a zod refinement whose message is the check's reason. */
function identifier(check: (value: string) => { ok: true } | { ok: false; reason: string }, example: string) {
  return z
    .string()
    .max(64)
    .superRefine((value, ctx) => {
      const result = check(value);
      if (!result.ok) ctx.addIssue({ code: 'custom', message: result.reason });
    })
    .meta({ example });
}

export const VinSchema = identifier(checkVin, 'LSVAU218XN2183294');
export const IccidSchema = identifier(checkIccid, '89860012345678901238');
/** Credit codes on the wire: GB 32100 (DESIGN 6), the reason of a failed check in the message. */
export const UsccSchema = z
  .string()
  .max(32)
  .superRefine((value, ctx) => {
    const result = checkUscc(value);
    if (!result.ok) ctx.addIssue({ code: 'custom', message: `not a valid GB 32100 credit code: ${result.reason}` });
  })
  .meta({ example: '91310000MA1FL5LQ3E' });

/** A sponsor, merchant or plan id (DESIGN 4: `[a-z0-9-]{2,40}`). */
export const IdSchema = z.string().regex(ID_PATTERN, { message: 'must be 2–40 characters of a-z, 0-9 and -' });
/** The `<keyId>` of an API key `sk_<keyId>_<secret>`. */
export const KeyIdSchema = z.string().regex(/^[0-9a-f]{16}$/, { message: 'must be a key id: 16 hex digits' });
/** DESIGN 3.1 epoch, as in the usage message (absent there means "0"). */
export const EpochSchema = z.string().regex(EPOCH_PATTERN, { message: 'must be 1–36 characters [A-Za-z0-9-]' });
/** A DESIGN 3.1 seq as text (a path segment, a form field): plain digits, 0..2^53−1. */
export const SeqSchema = z
  .string()
  .regex(/^\d{1,16}$/, 'must be an integer from 0 to 2^53−1')
  .transform(Number)
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER, 'must be an integer from 0 to 2^53−1'));
/** A billing month, `YYYY-MM`. */
export const MonthSchema = z.string().regex(MONTH_PATTERN, { message: 'must be a month YYYY-MM' }).meta({ example: '2026-11' });
/** `limit` as a query string: plain digits only ("1e2", " 5", "0x10" are refused), 1..1000, default 100. */
export const LimitSchema = z
  .string()
  .regex(/^\d{1,4}$/, 'must be an integer from 1 to 1000')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be an integer from 1 to 1000').max(1000, 'must be an integer from 1 to 1000'))
  .default(100);
/** A sponsor's or merchant's API key as listed (never its secret). */
export const KeyInfoSchema = z.object({ keyId: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable(), revokedAt: z.string().nullable() });
/** A key just created: the only time its secret is shown. */
export const NewKeySchema = z.object({ key: z.string(), keyId: z.string() });

/** The id of a stored row (invoices, e-invoices): a positive bigint as text. */
export const RowIdSchema = z.string().regex(/^\d{1,18}$/, { message: 'must be a numeric id' });

/** A 200 that is a document, not JSON (an HTML page, a CSV file), as the OpenAPI document describes it. */
export const textResponse = (mediaType: string, description: string) => ({ description, content: { [mediaType]: { schema: z.string() } } });
