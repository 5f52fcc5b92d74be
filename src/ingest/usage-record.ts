import { z } from 'zod';
import { normalizeHost } from '../shared/host.js';
import { parseIp } from '../shared/ip.js';
import { parseOffsetTimestamp } from '../shared/time.js';
import type { RecordFields } from '../ledger/records.js';
import { integerMessage, isMarker, readInteger, showValue } from './json-numbers.js';

/**
 * One usage record of a `tbox/{vin}/usage` message (DESIGN 3.1): its limits, its normalised form, and the
 * schema that reads it (field by field, so every problem is named). Pure: no I/O, no clock.
 */

/** DESIGN 3.1: `end − start ≤ 24 h`. */
export const MAX_RECORD_SPAN_MS = 86_400_000;

export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER); // 2^53 − 1: seq, batch
const MAX_BYTES = 2n ** 40n; // up, down
const MAX_PORT = 65_535n;
const MAX_HOST_CHARS = 253;
const MAX_PKG_CHARS = 255;
/**
 * Instants a record may carry: 2000-01-01T00:00Z inclusive to 2100-01-01T00:00Z exclusive. Nothing
 * before the first connected car or after this century is usage; the bound keeps device input from
 * reaching month arithmetic and partition names with a year of 0000 or 10000 (issue 10).
 */
export const MIN_RECORD_INSTANT_MS = Date.UTC(2000, 0, 1);
export const MAX_RECORD_INSTANT_MS = Date.UTC(2100, 0, 1);
/**
 * Records are judged over at least one minute: T-Box flow collectors often report minute-truncated
 * instants (start = end for a flow shorter than a minute), so a shorter span says little about the rate.
 */
export const MIN_LINK_SPAN_MS = 60_000;

export type Proto = 'tcp' | 'udp' | 'icmp' | 'other';
export type Iface = 'tbox' | 'hotspot';

/**
 * One usage record, validated and normalised, ready for classify → allocate → ledger: the ledger's record
 * fields (src/ledger/records.ts: instants as epoch ms; `host` normalised per DESIGN 4.1 or, when that
 * fails, the trimmed text as sent, so two different bad hosts stay different for the duplicate comparison;
 * `ip` canonical, RFC 5952 with `::ffff:a.b.c.d` as the IPv4 address; `pkg` absent is null, "" is kept:
 * DESIGN 3.2, absent ≠ empty), with the protocol and interface narrowed to their values.
 */
export interface UsageRecord extends RecordFields {
  /** false when `host` is absent or failed normalisation: it matches no host rule */
  hostMatchable: boolean;
  proto: Proto | null;
  iface: Iface;
}

export interface AcceptedRecord {
  index: number;
  ok: true;
  record: UsageRecord;
}

export interface RejectedRecord {
  index: number;
  ok: false;
  /** the record's seq when it is a valid one, so the ack can name it */
  seq: number | null;
  code: 'INVALID_RECORD';
  /** field first: `up: must be a non-negative integer, got -1`; several fields joined with "; " */
  message: string;
  retryable: false;
}

export type RecordResult = AcceptedRecord | RejectedRecord;

// The record schema (DESIGN 3.1). Optional fields accept JSON null as "absent": firmware JSON
// writers often emit null for an unset field, and dropping the record for it would lose billable bytes.

function customIssue(ctx: z.RefinementCtx, input: unknown, message: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', input, message });
  return z.NEVER;
}

function integerSchema(max: bigint) {
  return z.unknown().transform((input, ctx) => {
    const value = readInteger(input, max);
    return typeof value === 'bigint' ? value : customIssue(ctx, input, integerMessage(value, input, max));
  });
}

/** An optional integer field: absent (undefined) or JSON null. */
function optionalIntegerSchema(max: bigint) {
  return z
    .unknown()
    .transform((input, ctx) => {
      if (input === null) return null;
      const value = readInteger(input, max);
      return typeof value === 'bigint' ? value : customIssue(ctx, input, integerMessage(value, input, max));
    })
    .optional();
}

function expected(what: string) {
  return {
    error: (issue: { input?: unknown }) =>
      issue.input === undefined ? 'is required' : `must be ${what}, got ${showValue(issue.input)}`,
  };
}

const TIMESTAMP_EXPECTED = 'an RFC 3339 timestamp with an offset';

const TimestampSchema = z.string(expected(TIMESTAMP_EXPECTED)).transform((text, ctx) => {
  const ms = parseOffsetTimestamp(text);
  if (ms === null) return customIssue(ctx, text, `must be ${TIMESTAMP_EXPECTED}, got ${showValue(text)}`);
  if (ms < MIN_RECORD_INSTANT_MS || ms >= MAX_RECORD_INSTANT_MS) {
    return customIssue(ctx, text, `must be from ${iso(MIN_RECORD_INSTANT_MS)} up to (not including) ${iso(MAX_RECORD_INSTANT_MS)}, got ${showValue(text)}`);
  }
  return ms;
});

/**
 * What makes a string field unstorable, or null: a number rewritten to a marker (it was not a string),
 * a NUL character (PostgreSQL text refuses U+0000) or a lone surrogate (not Unicode: it would be stored
 * as U+FFFD and a resend would no longer compare equal).
 */
const LONE_SURROGATE = /\p{Cs}/u; // in `u` mode a surrogate pair is one code point, so only lone halves match

function textProblem(text: string): string | null {
  if (isMarker(text as unknown)) return `must be a string, got ${showValue(text)}`;
  if (text.includes('\u0000')) return 'must not contain a NUL character (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (no lone surrogates)';
  return null;
}

const HostSchema = z.string(expected('a string')).transform((raw, ctx) => {
  const problem = textProblem(raw);
  if (problem !== null) return customIssue(ctx, raw, problem);
  if (exceedsChars(raw, MAX_HOST_CHARS)) {
    return customIssue(ctx, raw, `must be at most ${MAX_HOST_CHARS} characters, got ${charCount(raw)}`);
  }
  const normalised = normalizeHost(raw);
  return normalised === null ? { host: raw.trim(), matchable: false } : { host: normalised, matchable: true };
});

const IpSchema = z.string(expected('an IPv4 or IPv6 address')).transform((text, ctx) => {
  const parsed = parseIp(text);
  return parsed?.canonical ?? customIssue(ctx, text, `must be an IPv4 or IPv6 address, got ${showValue(text)}`);
});

const PkgSchema = z.string(expected('a string')).transform((pkg, ctx) => {
  const problem = textProblem(pkg);
  if (problem !== null) return customIssue(ctx, pkg, problem);
  if (exceedsChars(pkg, MAX_PKG_CHARS)) return customIssue(ctx, pkg, `must be at most ${MAX_PKG_CHARS} characters, got ${charCount(pkg)}`);
  return pkg;
});

const ProtoSchema = z.enum(['tcp', 'udp', 'icmp', 'other'], expected('one of tcp, udp, icmp, other'));
const IfaceSchema = z.enum(['tbox', 'hotspot'], expected('one of tbox, hotspot'));

/** Field order of messages: the order of DESIGN 3.1. */
const RECORD_FIELDS = ['seq', 'start', 'end', 'up', 'down', 'host', 'ip', 'port', 'proto', 'iface', 'pkg'] as const;

function spanProblem(startMs: number, endMs: number): string | null {
  if (startMs > endMs) return 'must not be before start';
  if (endMs - startMs > MAX_RECORD_SPAN_MS) return `must be at most 24 h after start, got ${endMs - startMs} ms`;
  return null;
}

export const UsageRecordSchema = z
  .object({
    seq: integerSchema(MAX_SAFE),
    start: TimestampSchema,
    end: TimestampSchema,
    up: integerSchema(MAX_BYTES),
    down: integerSchema(MAX_BYTES),
    host: HostSchema.nullish(),
    ip: IpSchema.nullish(),
    port: optionalIntegerSchema(MAX_PORT),
    proto: ProtoSchema.nullish(),
    iface: IfaceSchema.nullish(),
    pkg: PkgSchema.nullish(),
  })
  .refine((fields) => spanProblem(fields.start, fields.end) === null, {
    path: ['end'],
    // only when both instants parsed: otherwise their own issues say what is wrong
    when: (payload) => !payload.issues.some((issue) => issue.path?.[0] === 'start' || issue.path?.[0] === 'end'),
    error: (issue) => {
      const fields = issue.input as { start: number; end: number };
      return spanProblem(fields.start, fields.end) ?? '';
    },
  })
  .transform(
    (fields): UsageRecord => ({
      seq: Number(fields.seq),
      startMs: fields.start,
      endMs: fields.end,
      up: fields.up,
      down: fields.down,
      host: fields.host?.host ?? null,
      hostMatchable: fields.host?.matchable ?? false,
      ip: fields.ip ?? null,
      port: fields.port == null ? null : Number(fields.port),
      proto: fields.proto ?? null,
      iface: fields.iface ?? 'tbox',
      pkg: fields.pkg ?? null,
    }),
  );

function fieldRank(issue: z.core.$ZodIssue): number {
  const rank = RECORD_FIELDS.indexOf(issue.path[0] as (typeof RECORD_FIELDS)[number]);
  return rank === -1 ? RECORD_FIELDS.length : rank;
}

function recordMessage(error: z.ZodError): string {
  return [...error.issues]
    .sort((a, b) => fieldRank(a) - fieldRank(b))
    .map((issue) => `${issue.path.map(String).join('.')}: ${issue.message}`)
    .join('; ');
}

/**
 * The most bytes (up + down) a link of `maxLinkMbps` carries over the record's span, judged over at
 * least MIN_LINK_SPAN_MS: Mbit/s × 125 = bytes per millisecond.
 */
export function maxLinkBytes(record: Pick<UsageRecord, 'startMs' | 'endMs'>, maxLinkMbps: number): bigint {
  return BigInt(maxLinkMbps) * 125n * BigInt(Math.max(MIN_LINK_SPAN_MS, record.endMs - record.startMs));
}

function linkProblem(record: UsageRecord, maxLinkMbps: number): string | null {
  const bytes = record.up + record.down;
  const limit = maxLinkBytes(record, maxLinkMbps);
  if (bytes <= limit) return null;
  const span = record.endMs - record.startMs;
  return `up + down: ${bytes} bytes in ${span} ms is more than a ${maxLinkMbps} Mbit/s link carries (at most ${limit} bytes, judged over at least ${MIN_LINK_SPAN_MS / 1000} s; catalog billing.maxLinkMbps)`;
}

export function parseRecord(input: unknown, index: number, maxLinkMbps: number): RecordResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const message = `record: must be an object, got ${showValue(input)}`;
    return { index, ok: false, seq: null, code: 'INVALID_RECORD', message, retryable: false };
  }
  const result = UsageRecordSchema.safeParse(input);
  if (result.success) {
    const implausible = linkProblem(result.data, maxLinkMbps);
    if (implausible === null) return { index, ok: true, record: result.data };
    return { index, ok: false, seq: result.data.seq, code: 'INVALID_RECORD', message: implausible, retryable: false };
  }
  const seq = readInteger((input as { seq?: unknown }).seq, MAX_SAFE);
  return {
    index,
    ok: false,
    seq: typeof seq === 'bigint' ? Number(seq) : null,
    code: 'INVALID_RECORD',
    message: recordMessage(result.error),
    retryable: false,
  };
}

/** Unicode code points, the "chars" of DESIGN 3.1 limits (a UTF-16 length over-counts astral ones). */
function charCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

function exceedsChars(text: string, max: number): boolean {
  return text.length > max && charCount(text) > max;
}

/** An instant as ISO 8601 UTC, for messages. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
