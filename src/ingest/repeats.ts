import type { UsageRecord } from './usage-record.js';

/** Duplicates (DESIGN 3.2): which repeats of a (vin, epoch, seq) are the same record. Pure. */

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
