import type { CatalogRuntime } from '../catalog/runtime.js';
import { recordKey, type DeadLetter, type LedgerRecord } from '../ledger/records.js';
import type { VehicleForIngest } from '../vehicles/fleet-repository.js';
import type { AckRejection } from './ack.js';
import type { MessageResult } from './parse-usage.js';
import { checkRecordTime, type TimeRejection } from './record-time.js';
import { classifyRepeats, sameUsageRecord, type RecordContent } from './repeats.js';
import type { UsageRecord } from './usage-record.js';

/**
 * Admission, the pure first step of a batch (DESIGN 3.1, 3.2): the record checks that need the vehicle and
 * the receipt time, repeats within a message, classification; then, once the insert has said which
 * records are new, the comparison of repeats with the version that stands. No I/O, no clock.
 */

export interface PreparedMessage {
  vin: string;
  topic: string;
  payload: Buffer;
  receivedAtMs: number;
  parsed: MessageResult;
}

/** A record that passed admission, to be inserted (and allocated if the insert keeps it). */
export interface Candidate {
  message: number;
  index: number;
  record: UsageRecord;
  ledger: LedgerRecord;
}

export interface MessageOutcome {
  accepted: number;
  duplicates: number;
  rejected: AckRejection[];
}

/** What a batch has decided so far about each message: counts and rejections, and the dead letters. */
export class Verdicts {
  readonly outcomes: MessageOutcome[];
  readonly dead: DeadLetter[] = [];

  constructor(private readonly messages: readonly PreparedMessage[]) {
    this.outcomes = messages.map(() => ({ accepted: 0, duplicates: 0, rejected: [] }));
  }

  rejectRecord(m: number, index: number, seq: number | null, code: string, message: string, retryable: boolean): void {
    this.outcomes[m]!.rejected.push({ index, seq, code, message, retryable });
    this.deadLetter(m, code, message, index, seq);
  }

  deadLetter(m: number, code: string, reason: string, recordIndex: number | null, seq: number | null): void {
    const msg = this.messages[m]!;
    this.dead.push({ vin: msg.vin, topic: msg.topic, code, reason, recordIndex, seq, payload: msg.payload, receivedAtMs: msg.receivedAtMs });
  }
}

/**
 * The records of a batch that may be inserted, in message then array order. A rejected record does not
 * claim its seq (DESIGN 3.2), so the time checks (against the receipt time, not the commit: a batch may
 * wait out an outage, DESIGN 3.1) come before repeats.
 */
export function admit(
  messages: readonly PreparedMessage[],
  vehicles: ReadonlyMap<string, Pick<VehicleForIngest, 'activatedAtMs'>>,
  runtime: Pick<CatalogRuntime, 'classifier' | 'maxLateDays'>,
  catalogVersionId: number,
  verdicts: Verdicts,
): Candidate[] {
  const candidates: Candidate[] = [];
  messages.forEach((msg, m) => {
    const parsed = msg.parsed;
    if (!parsed.ok) return verdicts.deadLetter(m, parsed.code, parsed.message, null, null);
    const timeContext = { nowMs: msg.receivedAtMs, activatedAtMs: vehicles.get(msg.vin)?.activatedAtMs ?? null, maxLateDays: runtime.maxLateDays };
    const late = new Map<number, TimeRejection>();
    const repeats = classifyRepeats(
      parsed.records.map((result) => {
        if (!result.ok) return null;
        const rejection = checkRecordTime(result.record, timeContext);
        if (rejection) late.set(result.index, rejection);
        return rejection ? null : result.record;
      }),
    );
    parsed.records.forEach((result, j) => {
      if (!result.ok) return verdicts.rejectRecord(m, result.index, result.seq, result.code, result.message, result.retryable);
      const record = result.record;
      const rejection = late.get(result.index);
      if (rejection) return verdicts.rejectRecord(m, result.index, record.seq, rejection.code, rejection.message, rejection.retryable);
      if (repeats[j] === 'duplicate') return void verdicts.outcomes[m]!.duplicates++;
      if (repeats[j] === 'conflict') {
        return verdicts.rejectRecord(m, result.index, record.seq, 'SEQ_CONFLICT', `seq ${record.seq} repeats an earlier record of this message with different content`, false);
      }
      const { app, ruleId } = runtime.classifier.classify({
        iface: record.iface,
        ...(record.hostMatchable && record.host !== null ? { host: record.host } : {}),
        ...(record.ip !== null ? { ip: record.ip } : {}),
        ...(record.port !== null ? { port: record.port } : {}),
        ...(record.pkg !== null ? { pkg: record.pkg } : {}),
      });
      candidates.push({
        message: m,
        index: result.index,
        record,
        ledger: { vin: msg.vin, epoch: parsed.epoch, record, app, ruleId, catalogVersionId, batch: parsed.batch, receivedAtMs: msg.receivedAtMs },
      });
    });
  });
  return candidates;
}

/**
 * After the insert (DESIGN 3.2: (vin, epoch, seq) is unique for ever): the first candidate of each key the
 * insert kept (`inserted`, or `'all'` when every candidate was new) is fresh and gets allocated; a later one in the same batch is compared with it; the rest
 * were stored by an earlier batch and must be compared with the stored version (`earlier`).
 */
export function splitInserted(candidates: readonly Candidate[], inserted: ReadonlySet<string> | 'all', verdicts: Verdicts): { fresh: Candidate[]; earlier: Candidate[] } {
  const firstInBatch = new Map<string, Candidate>();
  const fresh: Candidate[] = [];
  const earlier: Candidate[] = [];
  for (const candidate of candidates) {
    const key = recordKey(candidate.ledger.vin, candidate.ledger.epoch, candidate.record.seq);
    const first = firstInBatch.get(key);
    if (first) {
      compareRepeat(candidate, first.record, verdicts);
    } else if (inserted === 'all' || inserted.has(key)) {
      firstInBatch.set(key, candidate);
      fresh.push(candidate);
      verdicts.outcomes[candidate.message]!.accepted++;
    } else {
      earlier.push(candidate);
    }
  }
  return { fresh, earlier };
}

/** A repeated (vin, epoch, seq): a duplicate if the content is the same, else SEQ_CONFLICT; the first version stands. */
export function compareRepeat(candidate: Candidate, first: RecordContent, verdicts: Verdicts): void {
  if (sameUsageRecord(candidate.record, first)) {
    verdicts.outcomes[candidate.message]!.duplicates++;
  } else {
    const seq = candidate.record.seq;
    verdicts.rejectRecord(candidate.message, candidate.index, seq, 'SEQ_CONFLICT', `seq ${seq} of epoch ${candidate.ledger.epoch} was already received with different content; the first version stands`, false);
  }
}
