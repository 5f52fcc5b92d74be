import { z } from 'zod';
import { checkIccid, checkVin } from '../shared/identifiers.js';
import { parseOffsetTimestamp } from '../shared/time.js';

/** Shared zod pieces for HTTP bodies and replies (the OpenAPI at /docs is generated from them). */

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
});

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
export const SponsorIdSchema = z.string().regex(/^[a-z0-9-]{2,40}$/);
