import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { EPOCH_PATTERN } from '../shared/identifiers.js';
import { MAX_USAGE_PAYLOAD_BYTES } from '../shared/protocol.js';
import { DEFAULT_MAX_LINK_MBPS } from '../catalog/runtime.js';
import { integerMessage, protectInexactNumbers, readInteger, showValue } from './json-numbers.js';
import { MAX_SAFE, parseRecord, type RecordResult } from './usage-record.js';

/**
 * The pure ingest front end: a `tbox/{vin}/usage` payload (DESIGN 3.1) in, normalised records and
 * rejections out. The envelope is read here; each record by ./usage-record.ts (exact integers by
 * ./json-numbers.ts); the duplicate comparison of 3.2 is ./repeats.ts and the receipt-time checks of
 * 3.1 are ./record-time.ts. No I/O, no clock.
 */

/** DESIGN 3.1: `records` holds 1..1000 items. */
export const MAX_RECORDS_PER_MESSAGE = 1_000;
const DEFAULT_EPOCH = '0';
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

export interface ParsedMessage {
  ok: true;
  batch: number;
  epoch: string;
  /** one result per item of `records`, in array order */
  records: RecordResult[];
}

export type MessageResult = ParsedMessage | MessageRejection;


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
