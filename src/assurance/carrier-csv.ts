import { checkIccid } from '../shared/identifiers.js';
import { isDateOnly } from '../shared/time.js';

/**
 * The carrier usage CSV, format `carrier-usage/1` (README.md of this folder): pure, no I/O.
 *
 * ```
 * iccid,date,bytes,uplink_bytes,downlink_bytes,apn,rating_group
 * 89860012345678901238,2026-11-10,1048576,52000,996576,cmiot.tbox,10
 * ```
 * - UTF-8 (an optional BOM), comma separated, LF or CRLF, one header row naming the columns (any order,
 *   case-insensitive); `iccid`, `date` and `bytes` are required, the others optional and may be empty;
 *   unknown columns are ignored (listed in the reply) so a carrier's extra columns do not break the import.
 * - Fields may be quoted per RFC 4180 (`"a,b"`, `""` for a quote), never across lines.
 * - `date` is the usage day in the carrier's timezone (CARRIER_TIMEZONE); `bytes` the day's total, up + down;
 *   when both `uplink_bytes` and `downlink_bytes` are given they must add up to `bytes`.
 * - Several lines for the same card and day (one per APN or rating group) are summed; the same
 *   (card, day, apn, rating group) twice in one file is an error.
 */

/** At most this many bytes per line (a real line is under 100): longer lines are reported, never buffered. */
export const MAX_LINE_BYTES = 4096;
/** DESIGN 3.1 caps a record at 2^40 bytes each way; a day of one card is far below 2^50. */
const MAX_DAY_BYTES = 2n ** 50n;
const MAX_RATING_GROUP = 4_294_967_295n;
const DIGITS = /^\d{1,16}$/;
const APN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/;

export const REQUIRED_COLUMNS = ['iccid', 'date', 'bytes'] as const;
export const OPTIONAL_COLUMNS = ['uplink_bytes', 'downlink_bytes', 'apn', 'rating_group'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];

export type LineErrorCode =
  | 'INVALID_HEADER'
  | 'LINE_TOO_LONG'
  | 'INVALID_UTF8'
  | 'INVALID_QUOTING'
  | 'WRONG_FIELD_COUNT'
  | 'INVALID_ICCID'
  | 'INVALID_DATE'
  | 'FUTURE_DATE'
  | 'INVALID_BYTES'
  | 'SPLIT_MISMATCH'
  | 'INVALID_APN'
  | 'INVALID_RATING_GROUP'
  | 'DUPLICATE_LINE'
  | 'LINE_CHANGED';

/** A bad line as reported to the caller: 1-based line number of the file (the header is line 1). */
export interface LineError {
  line: number;
  code: LineErrorCode;
  message: string;
}

export interface CarrierLine {
  line: number;
  iccid: string;
  /** YYYY-MM-DD in the carrier's timezone */
  day: string;
  bytes: bigint;
  uplinkBytes: bigint | null;
  downlinkBytes: bigint | null;
  apn: string | null;
  ratingGroup: bigint | null;
}

export interface CarrierHeader {
  /** column → field index */
  columns: ReadonlyMap<Column, number>;
  fieldCount: number;
  ignored: readonly string[];
}

/** RFC 4180 fields of one line (no line breaks inside), or null when its quoting is broken. */
export function splitFields(text: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const quote = text.indexOf('"', i);
        if (quote < 0) return null;
        value += text.slice(i, quote);
        if (text[quote + 1] === '"') {
          value += '"';
          i = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== ',') return null;
      i += 1;
    } else {
      const comma = text.indexOf(',', i);
      const value = comma < 0 ? text.slice(i) : text.slice(i, comma);
      if (value.includes('"')) return null;
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

/** The header row: the known columns it names, or the reason it is not a carrier-usage header. */
export function parseHeader(text: string): { ok: true; header: CarrierHeader } | { ok: false; message: string } {
  const fields = splitFields(text.replace(/^\uFEFF/, ''));
  if (fields === null) return { ok: false, message: 'the header row has broken quoting' };
  const known = new Set<string>([...REQUIRED_COLUMNS, ...OPTIONAL_COLUMNS]);
  const columns = new Map<Column, number>();
  const ignored: string[] = [];
  for (const [index, raw] of fields.entries()) {
    const name = raw.trim().toLowerCase();
    if (!known.has(name)) {
      ignored.push(raw.slice(0, 64));
      continue;
    }
    if (columns.has(name as Column)) return { ok: false, message: `column ${name} appears twice` };
    columns.set(name as Column, index);
  }
  const missing = REQUIRED_COLUMNS.filter((c) => !columns.has(c));
  if (missing.length > 0) return { ok: false, message: `the header row must name the columns ${REQUIRED_COLUMNS.join(', ')} (missing: ${missing.join(', ')})` };
  return { ok: true, header: { columns, fieldCount: fields.length, ignored } };
}

type LineResult = { ok: true; value: CarrierLine } | { ok: false; error: LineError };

function fail(line: number, code: LineErrorCode, message: string): LineResult {
  return { ok: false, error: { line, code, message } };
}

function show(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function parseCount(text: string, max: bigint): bigint | null {
  if (!DIGITS.test(text)) return null;
  const value = BigInt(text);
  return value <= max ? value : null;
}

/**
 * One data line against the header. `latestDay` is the last day that may carry usage (today in the
 * carrier's timezone): a later date is FUTURE_DATE.
 */
export function parseLine(header: CarrierHeader, line: number, text: string, latestDay: string): LineResult {
  const fields = splitFields(text);
  if (fields === null) return fail(line, 'INVALID_QUOTING', 'a quoted field is not closed, or a quote stands inside an unquoted field');
  if (fields.length !== header.fieldCount) return fail(line, 'WRONG_FIELD_COUNT', `${fields.length} fields, the header has ${header.fieldCount}`);
  const get = (column: Column): string | null => {
    const index = header.columns.get(column);
    if (index === undefined) return null;
    const value = (fields[index] ?? '').trim();
    return value === '' ? null : value;
  };
  const iccid = get('iccid') ?? '';
  const iccidCheck = checkIccid(iccid);
  if (!iccidCheck.ok) return fail(line, 'INVALID_ICCID', `iccid ${show(iccid)}: ${iccidCheck.reason}`);
  const day = get('date') ?? '';
  if (!isDateOnly(day)) return fail(line, 'INVALID_DATE', `date ${show(day)}: must be a calendar date YYYY-MM-DD`);
  if (day > latestDay) return fail(line, 'FUTURE_DATE', `date ${day} is after today (${latestDay}) in the carrier's timezone`);
  const bytesText = get('bytes') ?? '';
  const bytes = parseCount(bytesText, MAX_DAY_BYTES);
  if (bytes === null) return fail(line, 'INVALID_BYTES', `bytes ${show(bytesText)}: must be a whole number of bytes, 0 to 2^50`);
  const split: Array<bigint | null> = [];
  for (const column of ['uplink_bytes', 'downlink_bytes'] as const) {
    const text = get(column);
    if (text === null) {
      split.push(null);
      continue;
    }
    const value = parseCount(text, MAX_DAY_BYTES);
    if (value === null) return fail(line, 'INVALID_BYTES', `${column} ${show(text)}: must be a whole number of bytes, 0 to 2^50`);
    split.push(value);
  }
  const [up, down] = split as [bigint | null, bigint | null];
  if (up !== null && down !== null && up + down !== bytes) return fail(line, 'SPLIT_MISMATCH', `uplink_bytes + downlink_bytes = ${up + down}, bytes = ${bytes}`);
  if ((up !== null && up > bytes) || (down !== null && down > bytes)) return fail(line, 'SPLIT_MISMATCH', 'a direction carries more than bytes');
  const apn = get('apn');
  if (apn !== null && !APN.test(apn)) return fail(line, 'INVALID_APN', `apn ${show(apn)}: 1–100 characters of A-Z a-z 0-9 . -`);
  const ratingText = get('rating_group');
  const ratingGroup = ratingText === null ? null : parseCount(ratingText, MAX_RATING_GROUP);
  if (ratingText !== null && ratingGroup === null) return fail(line, 'INVALID_RATING_GROUP', `rating_group ${show(ratingText)}: must be an integer 0 to 4294967295`);
  return { ok: true, value: { line, iccid, day, bytes, uplinkBytes: up, downlinkBytes: down, apn, ratingGroup } };
}

/** A physical line of the file: its 1-based number and its bytes (without the line break; valid until the next line is asked for), or too long. */
export type RawLine = { line: number; bytes: Buffer; tooLong: false } | { line: number; bytes: null; tooLong: true };

/**
 * Splits a byte stream into lines in bounded memory: at most `maxLineBytes` of one line are held; the rest of
 * a longer line is skipped and the line reported as too long. A trailing CR is dropped; so is a final empty
 * line.
 */
export async function* splitLines(source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let held = 0;
  let tooLong = false;
  let line = 0;
  const finish = (): RawLine => {
    line += 1;
    if (tooLong) return { line, bytes: null, tooLong: true };
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    // A view into the input chunk, not a copy: the caller decodes it at once and keeps nothing of it.
    return { line, bytes, tooLong: false };
  };
  for await (const input of source) {
    const chunk = typeof input === 'string' ? Buffer.from(input) : input;
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline;
      if (!tooLong) {
        if (held + (end - start) > maxLineBytes + 1) {
          tooLong = true;
          parts = [];
          held = 0;
        } else if (end > start) {
          parts.push(chunk.subarray(start, end));
          held += end - start;
        }
      }
      if (newline < 0) break;
      yield finish();
      parts = [];
      held = 0;
      tooLong = false;
      start = newline + 1;
    }
  }
  if (held > 0 || tooLong) yield finish();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The line as text, or null when it is not UTF-8. */
export function decodeLine(bytes: Buffer): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}
