/**
 * The wire form of DESIGN 3.1 (`tbox/{vin}/usage`), built in one place for the simulator and the benchmark.
 * Pure: no I/O, no clock.
 */

/** DESIGN 3.0: a usage payload is at most 262,144 bytes and 1,000 records; the T-Box must split. */
export const MAX_PAYLOAD_BYTES = 262_144;
export const MAX_RECORDS_PER_MESSAGE = 1_000;
/** The billing timezone of the demo catalog (Asia/Shanghai, no DST): T-Boxes in China stamp +08:00. */
export const DEFAULT_OFFSET_MINUTES = 480;

export type Iface = 'tbox' | 'hotspot';
export type Proto = 'tcp' | 'udp';

/** One metered flow as the simulator keeps it: the wire fields plus the app the catalog should give it. */
export interface SimRecord {
  seq: number;
  /** epoch ms */
  startMs: number;
  /** epoch ms */
  endMs: number;
  up: number;
  down: number;
  host?: string;
  ip?: string;
  port?: number;
  proto?: Proto;
  iface: Iface;
  pkg?: string;
  /** not sent: the app DESIGN 4.1 must classify this record as (checked against the catalog's classifier) */
  app: string;
}

/** A usage message: records of one epoch, `batch` unique among the T-Box's unacknowledged messages. */
export interface UsageMessage {
  batch: number;
  epoch: string;
  records: readonly SimRecord[];
}

/** RFC 3339 with milliseconds and a fixed UTC offset, e.g. `2026-11-03T08:15:00.000+08:00`. */
export function formatTimestamp(ms: number, offsetMinutes = DEFAULT_OFFSET_MINUTES): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 23);
  if (offsetMinutes === 0) return `${local}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The JSON object of one record, fields in the order of the DESIGN 3.1 example; `app` is not sent. */
export function toWireRecord(record: SimRecord, offsetMinutes = DEFAULT_OFFSET_MINUTES): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    seq: record.seq,
    start: formatTimestamp(record.startMs, offsetMinutes),
    end: formatTimestamp(record.endMs, offsetMinutes),
    up: record.up,
    down: record.down,
  };
  if (record.host !== undefined) wire.host = record.host;
  if (record.ip !== undefined) wire.ip = record.ip;
  if (record.port !== undefined) wire.port = record.port;
  if (record.proto !== undefined) wire.proto = record.proto;
  wire.iface = record.iface;
  if (record.pkg !== undefined) wire.pkg = record.pkg;
  return wire;
}

/** The payload of a usage message (UTF-8 JSON). */
export function buildUsagePayload(message: UsageMessage, offsetMinutes = DEFAULT_OFFSET_MINUTES): string {
  return JSON.stringify({ v: 1, batch: message.batch, epoch: message.epoch, records: message.records.map((r) => toWireRecord(r, offsetMinutes)) });
}

/**
 * Cuts records (one epoch, in seq order) into messages of at most `maxRecords` that also fit the
 * 262,144-byte limit: a message that would be too large is halved until it fits (DESIGN 3.0).
 * `nextBatch` hands out batch numbers.
 */
export function splitIntoMessages(epoch: string, records: readonly SimRecord[], maxRecords: number, nextBatch: () => number): UsageMessage[] {
  if (!Number.isInteger(maxRecords) || maxRecords < 1 || maxRecords > MAX_RECORDS_PER_MESSAGE) {
    throw new RangeError(`records per message must be 1..${MAX_RECORDS_PER_MESSAGE}, got ${maxRecords}`);
  }
  const messages: UsageMessage[] = [];
  let offset = 0;
  while (offset < records.length) {
    let count = Math.min(maxRecords, records.length - offset);
    // A record is a few hundred bytes, so this rarely loops; a probe batch number of 2^53 − 1 bounds the size.
    while (count > 1 && Buffer.byteLength(buildUsagePayload({ batch: Number.MAX_SAFE_INTEGER, epoch, records: records.slice(offset, offset + count) })) > MAX_PAYLOAD_BYTES) {
      count = Math.ceil(count / 2);
    }
    messages.push({ batch: nextBatch(), epoch, records: records.slice(offset, offset + count) });
    offset += count;
  }
  return messages;
}

/** Bytes a record bills (DESIGN 4.2: up + down). */
export const recordBytes = (record: Pick<SimRecord, 'up' | 'down'>): bigint => BigInt(record.up) + BigInt(record.down);

/** The ack of DESIGN 3.2, as the device reads it. */
export interface UsageAck {
  v: number;
  batch?: number;
  serverTime?: string;
  accepted?: number;
  duplicates?: number;
  rejected?: Array<{ index: number; seq: number | null; code: string; message: string; retryable: boolean }>;
  payloadSha256?: string;
  error?: { code: string; message: string; retryable: boolean };
}

/** Parses an ack payload; null when it is not one (the device ignores it). */
export function parseAck(payload: Buffer | string): UsageAck | null {
  try {
    const value = JSON.parse(payload.toString()) as unknown;
    if (typeof value !== 'object' || value === null || (value as { v?: unknown }).v !== 1) return null;
    return value as UsageAck;
  } catch {
    return null;
  }
}
