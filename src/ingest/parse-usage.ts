import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { normalizeHost } from '../shared/host.js';
import { EPOCH_PATTERN } from '../shared/identifiers.js';
import { MAX_USAGE_PAYLOAD_BYTES } from '../shared/protocol.js';
import { parseIp } from '../shared/ip.js';
import { parseOffsetTimestamp } from '../shared/time.js';
import { DEFAULT_MAX_LINK_MBPS } from '../catalog/runtime.js';

/**
 * The pure ingest front end: a `tbox/{vin}/usage` payload (DESIGN 3.1) in, normalised records and
 * rejections out; the duplicate comparison of 3.2 and the receipt-time checks of 3.1. No I/O, no clock.
 */

/** DESIGN 3.1: `records` holds 1..1000 items. */
export const MAX_RECORDS_PER_MESSAGE = 1_000;
/** DESIGN 3.1: `end − start ≤ 24 h`. */
export const MAX_RECORD_SPAN_MS = 86_400_000;
/** DESIGN 3.1: `end ≤ now + 5 min`. */
export const MAX_CLOCK_AHEAD_MS = 300_000;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER); // 2^53 − 1: seq, batch
const MAX_BYTES = 2n ** 40n; // up, down
const MAX_PORT = 65_535n;
const MAX_HOST_CHARS = 253;
const MAX_PKG_CHARS = 255;
const DEFAULT_EPOCH = '0';
const MS_PER_DAY = 86_400_000;
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

/** One usage record, validated and normalised, ready for classify → allocate → ledger. */
export interface UsageRecord {
  seq: number;
  /** epoch ms */
  startMs: number;
  /** epoch ms */
  endMs: number;
  up: bigint;
  down: bigint;
  /**
   * Normalised per DESIGN 4.1; when normalisation fails, the trimmed text as sent (so two different bad
   * hosts stay different for the duplicate comparison) with `hostMatchable` false. null when absent.
   */
  host: string | null;
  /** false when `host` is absent or failed normalisation: it matches no host rule */
  hostMatchable: boolean;
  /** canonical text (RFC 5952; `::ffff:a.b.c.d` as the IPv4 address) */
  ip: string | null;
  port: number | null;
  proto: Proto | null;
  iface: Iface;
  /** absent is null; an empty string is kept as "" (DESIGN 3.2: absent ≠ empty) */
  pkg: string | null;
}

export type MessageRejectionCode = 'INVALID_PAYLOAD' | 'UNSUPPORTED_VERSION';

/** The whole message is rejected (DESIGN 3.1 table; acked as in 3.2 with `error`). */
export interface MessageRejection {
  ok: false;
  code: MessageRejectionCode;
  message: string;
  retryable: boolean;
  /** echoed when the payload has a valid `batch`, even if something else is wrong */
  batch: number | null;
  /** first 16 hex digits of the SHA-256 of the raw payload */
  payloadSha256: string;
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

export interface ParsedMessage {
  ok: true;
  batch: number;
  epoch: string;
  /** one result per item of `records`, in array order */
  records: RecordResult[];
}

export type MessageResult = ParsedMessage | MessageRejection;

// ---------------------------------------------------------------------------------------------
// JSON integer exactness.
//
// JSON.parse reads `1024.0` and `1.024e3` as 1024 and rounds integers beyond 2^53. Before parsing, one
// scan finds number tokens (outside strings) with a `.`, `e`/`E` or more than 15 characters, and
// rewrites each into a marker string holding the token's text, so the schema can tell `1.0` from `1`
// and read long integers exactly with BigInt. Messages without such tokens (the common case) are
// parsed as they are. The marker carries a per-process random nonce so that a device cannot forge one
// with a `"\u0000…"` string; the nonce never appears in a message (see `showValue`).

const MARKER_NONCE = randomBytes(8).toString('hex');
/** The marker as JSON.parse returns it (a real U+0000) … */
const MARKER = `\u0000num${MARKER_NONCE}:`;
/** … and as written into the JSON text (raw control characters are not allowed in JSON strings). */
const MARKER_JSON = `"\\u0000num${MARKER_NONCE}:`;

/** RFC 8259 section 6 number grammar; a rewritten token must match it, or the text was not JSON. */
const NUMBER_GRAMMAR = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
/** Every integer of up to 15 digits is exact as a double; a 16-character token may not be. */
const MAX_PLAIN_TOKEN_CHARS = 15;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const COLON = 0x3a;

/** Index just past the string whose opening quote is at `open` (text length if unterminated). */
function skipString(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const close = text.indexOf('"', from);
    if (close === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close + 1;
    from = close + 1;
  }
}

function isJsonWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * `text` with every inexact number token replaced by a marker string; the same string when there is
 * none. null when a rewritten token is not a JSON number or stands where a key belongs (the original
 * text is then not JSON, and must not become JSON by the rewrite).
 */
function protectInexactNumbers(text: string): string | null {
  let rewritten: string | null = null;
  let copiedUpTo = 0;
  const length = text.length;
  let i = 0;
  while (i < length) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = skipString(text, i);
      continue;
    }
    if (code !== MINUS && (code < ZERO || code > NINE)) {
      i++;
      continue;
    }
    let end = i + 1;
    let inexact = false;
    for (; end < length; end++) {
      const next = text.charCodeAt(end);
      if ((next >= ZERO && next <= NINE) || next === MINUS || next === PLUS) continue;
      if (next === DOT || next === LOWER_E || next === UPPER_E) {
        inexact = true;
        continue;
      }
      break;
    }
    if (inexact || end - i > MAX_PLAIN_TOKEN_CHARS) {
      const token = text.slice(i, end);
      if (!NUMBER_GRAMMAR.test(token)) return null;
      let after = end;
      while (after < length && isJsonWhitespace(text.charCodeAt(after))) after++;
      if (text.charCodeAt(after) === COLON) return null;
      rewritten = (rewritten ?? '') + text.slice(copiedUpTo, i) + MARKER_JSON + token + '"';
      copiedUpTo = end;
    }
    i = end;
  }
  return rewritten === null ? text : rewritten + text.slice(copiedUpTo);
}

function isMarker(value: unknown): value is string {
  return typeof value === 'string' && value.charCodeAt(0) === 0 && value.startsWith(MARKER);
}

type IntegerProblem = 'missing' | 'type' | 'fraction' | 'negative' | 'tooLarge';

/** A JSON integer in 0..max, exactly; or what is wrong with it. */
function readInteger(input: unknown, max: bigint): bigint | IntegerProblem {
  if (typeof input === 'number') {
    // Without a marker the token had ≤ 15 characters and no fraction or exponent: exact.
    if (!Number.isInteger(input)) return 'fraction';
    if (input < 0) return 'negative';
    const value = BigInt(input); // -0 becomes 0n
    return value > max ? 'tooLarge' : value;
  }
  if (isMarker(input)) {
    const token = input.slice(MARKER.length);
    if (/[.eE]/.test(token)) return 'fraction';
    if (token.startsWith('-')) return 'negative';
    // no leading zeros (grammar), so more than 20 digits exceeds every limit: skip the BigInt work
    if (token.length > 20) return 'tooLarge';
    const value = BigInt(token);
    return value > max ? 'tooLarge' : value;
  }
  return input === undefined ? 'missing' : 'type';
}

/** A bad value for a message: short, and never the marker's nonce. */
function showValue(value: unknown): string {
  if (isMarker(value)) return truncate(value.slice(MARKER.length));
  if (typeof value === 'string') return JSON.stringify(truncate(value));
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function integerMessage(problem: IntegerProblem, input: unknown, max: bigint): string {
  switch (problem) {
    case 'missing':
      return 'is required';
    case 'fraction':
      return `must be a JSON integer (no fraction or exponent), got ${showValue(input)}`;
    case 'tooLarge':
      return `must be at most ${max}, got ${showValue(input)}`;
    default:
      return `must be a non-negative integer, got ${showValue(input)}`;
  }
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

// ---------------------------------------------------------------------------------------------
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

function parseRecord(input: unknown, index: number, maxLinkMbps: number): RecordResult {
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

// ---------------------------------------------------------------------------------------------
// The message.

function payloadSha256(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 16);
}

function reject(payload: Buffer, code: MessageRejectionCode, message: string, batch: number | null): MessageRejection {
  return {
    ok: false,
    code,
    message,
    retryable: code === 'UNSUPPORTED_VERSION',
    batch,
    payloadSha256: payloadSha256(payload),
  };
}

/**
 * Parses one `tbox/{vin}/usage` payload (DESIGN 3.1). Never throws: whatever the bytes, the result is
 * a whole-message rejection or one result per record. Order of the whole-message checks: size, UTF-8,
 * JSON, an object, `v` (UNSUPPORTED_VERSION, still echoing a valid `batch`), `batch`, `epoch`, `records`.
 * A leading byte order mark is ignored (RFC 8259 section 8.1 allows it). Duplicate keys: the last wins,
 * as with JSON.parse. Unknown fields are ignored at every level.
 */
export interface ParseOptions {
  /** catalog `billing.maxLinkMbps` (default DEFAULT_MAX_LINK_MBPS): the most a record's bytes may imply */
  maxLinkMbps?: number;
}

export function parseUsageMessage(payload: Buffer, options: ParseOptions = {}): MessageResult {
  const maxLinkMbps = options.maxLinkMbps ?? DEFAULT_MAX_LINK_MBPS;
  if (payload.length > MAX_USAGE_PAYLOAD_BYTES) {
    const message = `payload: ${payload.length} bytes exceeds the limit of ${MAX_USAGE_PAYLOAD_BYTES}`;
    return reject(payload, 'INVALID_PAYLOAD', message, null);
  }
  if (!isUtf8(payload)) return reject(payload, 'INVALID_PAYLOAD', 'payload: not valid UTF-8', null);
  let text = payload.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  let parsed: unknown;
  try {
    const protectedText = protectInexactNumbers(text);
    if (protectedText === null) return reject(payload, 'INVALID_PAYLOAD', 'payload: not valid JSON', null);
    parsed = JSON.parse(protectedText);
  } catch {
    // SyntaxError, or RangeError should an engine recurse on deep nesting. Its text is not shown:
    // it quotes the input, which may hold a marker.
    return reject(payload, 'INVALID_PAYLOAD', 'payload: not valid JSON', null);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return reject(payload, 'INVALID_PAYLOAD', `payload: must be a JSON object, got ${showValue(parsed)}`, null);
  }
  const message = parsed as { v?: unknown; batch?: unknown; epoch?: unknown; records?: unknown };

  const batchValue = readInteger(message.batch, MAX_SAFE);
  const batch = typeof batchValue === 'bigint' ? Number(batchValue) : null;
  if (message.v !== 1) {
    const got = message.v === undefined ? 'none' : showValue(message.v);
    return reject(payload, 'UNSUPPORTED_VERSION', `v: unsupported version ${got}, this server speaks 1`, batch);
  }
  if (typeof batchValue !== 'bigint') {
    return reject(payload, 'INVALID_PAYLOAD', `batch: ${integerMessage(batchValue, message.batch, MAX_SAFE)}`, null);
  }

  let epoch = DEFAULT_EPOCH;
  if (message.epoch !== undefined && message.epoch !== null) {
    if (typeof message.epoch !== 'string' || !EPOCH_PATTERN.test(message.epoch)) {
      const got = showValue(message.epoch);
      return reject(payload, 'INVALID_PAYLOAD', `epoch: must be 1 to 36 characters of [A-Za-z0-9-], got ${got}`, batch);
    }
    epoch = message.epoch;
  }

  const records = message.records;
  if (!Array.isArray(records) || records.length === 0 || records.length > MAX_RECORDS_PER_MESSAGE) {
    const got = Array.isArray(records) ? `${records.length} items` : records === undefined ? 'none' : showValue(records);
    const text = `records: must be an array of 1 to ${MAX_RECORDS_PER_MESSAGE} records, got ${got}`;
    return reject(payload, 'INVALID_PAYLOAD', text, batch);
  }
  const results: RecordResult[] = new Array(records.length);
  for (let index = 0; index < records.length; index++) results[index] = parseRecord(records[index], index, maxLinkMbps);
  return { ok: true, batch: Number(batchValue), epoch, records: results };
}

// ---------------------------------------------------------------------------------------------
// Duplicates (DESIGN 3.2).

/** What DESIGN 3.2 compares between two versions of a (vin, epoch, seq): everything but seq itself. */
export type RecordContent = Pick<UsageRecord, 'startMs' | 'endMs' | 'up' | 'down' | 'host' | 'ip' | 'port' | 'pkg'> & { proto: string | null; iface: string };

/**
 * Are two records with the same (vin, epoch, seq) *the same* (a duplicate) rather than a
 * SEQ_CONFLICT? DESIGN 3.2: instants, bytes, host (normalised), ip (canonical), port, proto, iface
 * (with its default), pkg (absent ≠ empty). `seq` itself is not compared: the caller matched on it.
 * `hostMatchable` is not compared either: 3.2 names `host` only, the ledger does not store the flag, and
 * it is derived from `host` (whose kept text tells bad hosts apart).
 */
export function sameUsageRecord(a: RecordContent, b: RecordContent): boolean {
  return (
    a.startMs === b.startMs &&
    a.endMs === b.endMs &&
    a.up === b.up &&
    a.down === b.down &&
    a.host === b.host &&
    a.ip === b.ip &&
    a.port === b.port &&
    a.proto === b.proto &&
    a.iface === b.iface &&
    a.pkg === b.pkg
  );
}

/**
 * - `first`: the first non-rejected record with its seq in the message; goes on to the ledger
 * - `duplicate`: a later record with that seq, the same as the first (counted in `duplicates`)
 * - `conflict`: a later record with that seq that differs from the first (`SEQ_CONFLICT`)
 * - `rejected`: the caller rejected it (null in the input); it claims no seq
 */
export type RepeatClass = 'first' | 'duplicate' | 'conflict' | 'rejected';

/**
 * Repeated seqs within one message (DESIGN 3.2): each later occurrence compares with the first
 * occurrence that was not rejected. Pass, per index, the record if it is still a candidate or null
 * when it was rejected — by parsing or by `checkRecordTime` — because a rejected record does not
 * claim its seq:
 *
 *     classifyRepeats(results.map((r) => (r.ok && checkRecordTime(r.record, ctx) === null ? r.record : null)))
 */
export function classifyRepeats(records: ReadonlyArray<UsageRecord | null>): RepeatClass[] {
  const firsts = new Map<number, UsageRecord>();
  return records.map((record) => {
    if (record === null) return 'rejected';
    const first = firsts.get(record.seq);
    if (first === undefined) {
      firsts.set(record.seq, record);
      return 'first';
    }
    return sameUsageRecord(first, record) ? 'duplicate' : 'conflict';
  });
}

// ---------------------------------------------------------------------------------------------
// Receipt-time checks (DESIGN 3.1).

export type TimeRejectionCode = 'CLOCK_AHEAD' | 'BEFORE_ACTIVATION' | 'TOO_OLD';

export interface TimeRejection {
  code: TimeRejectionCode;
  message: string;
  retryable: boolean;
}

export interface RecordTimeContext {
  /** the server's receipt time, epoch ms (injected: this module reads no clock) */
  nowMs: number;
  /** the vehicle's activation, epoch ms; null when not activated (every record is rejected) */
  activatedAtMs: number | null;
  /** catalog `billing.maxLateDays`; null = no limit (T-Boxes go offline for months) */
  maxLateDays: number | null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The time checks of DESIGN 3.1 against the receipt time, or null when the record passes. The final
 * verdicts come first — BEFORE_ACTIVATION, then TOO_OLD, then CLOCK_AHEAD — because a record that fails
 * one of them can never be accepted: answering the retryable CLOCK_AHEAD would make the T-Box keep and
 * resend it after a time sync only to have it dropped then.
 */
export function checkRecordTime(
  record: Pick<UsageRecord, 'startMs' | 'endMs'>,
  context: RecordTimeContext,
): TimeRejection | null {
  const { nowMs, activatedAtMs, maxLateDays } = context;
  if (activatedAtMs === null) {
    return { code: 'BEFORE_ACTIVATION', message: 'start: the vehicle is not activated', retryable: false };
  }
  if (record.startMs < activatedAtMs) {
    const message = `start: ${iso(record.startMs)} is before the vehicle's activation at ${iso(activatedAtMs)}`;
    return { code: 'BEFORE_ACTIVATION', message, retryable: false };
  }
  if (maxLateDays !== null && record.startMs < nowMs - maxLateDays * MS_PER_DAY) {
    const message = `start: ${iso(record.startMs)} is more than ${maxLateDays} days before receipt at ${iso(nowMs)}`;
    return { code: 'TOO_OLD', message, retryable: false };
  }
  if (record.endMs > nowMs + MAX_CLOCK_AHEAD_MS) {
    const message = `end: ${iso(record.endMs)} is more than 5 min after receipt at ${iso(nowMs)}`;
    return { code: 'CLOCK_AHEAD', message, retryable: true };
  }
  return null;
}
