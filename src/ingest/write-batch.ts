import { allocateRecord, type FundingState, type VehicleInput } from '../allocate/index.js';
import { fundingChanges } from '../controls/funding.js';
import { inTestAt, loadSimTestWindows } from '../sims/test-windows.js';
import { lockControlStates, writeControlChanges, type ControlChange, type ControlStates, type OutboxEntry } from '../controls/repository.js';
import {
  addToRollups,
  findRecords,
  insertAllocations,
  insertDeadLetters,
  insertRecords,
  loadFunding,
  lockVehicles,
  MissingPartitionsError,
  recordKey,
  saveFunding,
  type AllocationPartitions,
  type AllocationRow,
  type DeadLetter,
  type LedgerRecord,
} from '../ledger/repository.js';
import { sendAll, type WriteTransaction } from '../shared/db/pool.js';
import { dayOf, formatInstant, monthOf } from '../shared/time.js';
import { messageErrorAck, usageAck, type Ack, type AckRejection } from './ack.js';
import { checkRecordTime, classifyRepeats, sameUsageRecord, type MessageResult, type TimeRejection, type UsageRecord } from './parse-usage.js';
import type { CatalogRuntime } from './runtime.js';

export interface PreparedMessage {
  vin: string;
  topic: string;
  payload: Buffer;
  receivedAtMs: number;
  parsed: MessageResult;
}

export interface BatchContext {
  runtime: CatalogRuntime;
  /** the running catalog's `catalog_versions.id` */
  catalogVersionId: number;
  partitions: Pick<AllocationPartitions, 'missing'>;
}

export interface BatchOutcome {
  /** one ack per message, in message order */
  acks: Ack[];
  /** control messages committed with the batch, to publish now */
  outbox: OutboxEntry[];
  counts: { accepted: number; duplicates: number; rejected: number; messagesRejected: number };
}

interface Candidate {
  message: number;
  index: number;
  record: UsageRecord;
  ledger: LedgerRecord;
}

/**
 * One micro-batch in one transaction (DESIGN 3.1, 3.2, 4.2, 7): lock the vehicles in VIN order, validate
 * times, insert the records with ON CONFLICT DO NOTHING, allocate only what was actually inserted (so a
 * replay changes nothing), update counters, rollups and controls, store every rejection as a dead letter.
 * Returns the acks to send after the commit.
 *
 * Round trips on a pipelined connection: BEGIN + vehicle locks; record insert; (stored versions of
 * repeats, only when there are some); funding, test windows and control locks together; every write and
 * COMMIT together.
 */
export async function writeBatch(tx: WriteTransaction, context: BatchContext, messages: readonly PreparedMessage[], nowMs: number): Promise<BatchOutcome> {
  const { runtime, partitions } = context;
  const { client } = tx;
  const serverTime = formatInstant(nowMs, runtime.timezone);
  const vins = [...new Set(messages.filter((m) => m.parsed.ok).map((m) => m.vin))].sort();
  const vehicles = await lockVehicles(client, vins);
  const dead: DeadLetter[] = [];
  const outcomes = messages.map(() => ({ accepted: 0, duplicates: 0, rejected: [] as AckRejection[] }));
  const reject = (m: number, index: number, seq: number | null, code: string, message: string, retryable: boolean) => {
    outcomes[m]!.rejected.push({ index, seq, code, message, retryable });
    const msg = messages[m]!;
    dead.push({ vin: msg.vin, topic: msg.topic, code, reason: message, recordIndex: index, seq, payload: msg.payload, receivedAtMs: msg.receivedAtMs });
  };

  // 1. Record checks that need the vehicle and the clock; repeated seqs within a message.
  const candidates: Candidate[] = [];
  messages.forEach((msg, m) => {
    const parsed = msg.parsed;
    if (!parsed.ok) {
      dead.push({ vin: msg.vin, topic: msg.topic, code: parsed.code, reason: parsed.message, recordIndex: null, seq: null, payload: msg.payload, receivedAtMs: msg.receivedAtMs });
      return;
    }
    const vehicle = vehicles.get(msg.vin);
    // DESIGN 3.1: the time checks are against the receipt time, not the commit (a batch may wait out an outage).
    const timeContext = { nowMs: msg.receivedAtMs, activatedAtMs: vehicle?.activatedAtMs ?? null, maxLateDays: runtime.maxLateDays };
    const late = new Map<number, TimeRejection>();
    // A rejected record does not claim its seq (DESIGN 3.2), so time checks come before repeats.
    const repeats = classifyRepeats(
      parsed.records.map((result) => {
        if (!result.ok) return null;
        const rejection = checkRecordTime(result.record, timeContext);
        if (rejection) late.set(result.index, rejection);
        return rejection ? null : result.record;
      }),
    );
    parsed.records.forEach((result, j) => {
      if (!result.ok) return reject(m, result.index, result.seq, result.code, result.message, result.retryable);
      const rejection = late.get(result.index);
      if (rejection) return reject(m, result.index, result.record.seq, rejection.code, rejection.message, rejection.retryable);
      if (repeats[j] === 'duplicate') return void outcomes[m]!.duplicates++;
      if (repeats[j] === 'conflict') return reject(m, result.index, result.record.seq, 'SEQ_CONFLICT', `seq ${result.record.seq} repeats an earlier record of this message with different content`, false);
      const record = result.record;
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
        ledger: { vin: msg.vin, epoch: parsed.epoch, record, app, ruleId, catalogVersionId: context.catalogVersionId, batch: parsed.batch, receivedAtMs: msg.receivedAtMs },
      });
    });
  });

  // 2. Dedup against the ledger: (vin, epoch, seq) is unique for ever; only inserted rows are allocated.
  const inserted = await insertRecords(client, candidates.map((c) => c.ledger));
  const firstInBatch = new Map<string, Candidate>();
  const earlier: Candidate[] = [];
  const fresh: Candidate[] = [];
  for (const candidate of candidates) {
    const key = recordKey(candidate.ledger.vin, candidate.ledger.epoch, candidate.record.seq);
    const first = firstInBatch.get(key);
    if (!first && inserted.has(key)) {
      firstInBatch.set(key, candidate);
      fresh.push(candidate);
    } else if (first) {
      compare(candidate, first.record);
    } else {
      earlier.push(candidate);
    }
  }
  const stored = await findRecords(client, earlier.map((c) => c.ledger));
  for (const candidate of earlier) {
    const existing = stored.get(recordKey(candidate.ledger.vin, candidate.ledger.epoch, candidate.record.seq));
    if (!existing) throw new Error('a record neither inserted nor stored'); // cannot happen inside one transaction
    compare(candidate, { ...existing, hostMatchable: true } as UsageRecord);
  }
  function compare(candidate: Candidate, first: UsageRecord): void {
    if (sameUsageRecord(candidate.record, first)) outcomes[candidate.message]!.duplicates++;
    else reject(candidate.message, candidate.index, candidate.record.seq, 'SEQ_CONFLICT', `seq ${candidate.record.seq} of epoch ${candidate.ledger.epoch} was already received with different content; the first version stands`, false);
  }

  // 3. The funding waterfall, serial per vehicle in message order then array order (DESIGN 4.2).
  const billable = fresh.filter((c) => c.record.up + c.record.down > 0n);
  for (const c of fresh) outcomes[c.message]!.accepted++;
  const allocationRows: AllocationRow[] = [];
  const changes: ControlChange[] = [];
  const writes: Array<() => Promise<unknown>> = [];
  let controls: ControlStates = new Map();
  if (billable.length > 0) {
    const billableVins = [...new Set(billable.map((c) => c.ledger.vin))].sort();
    // The records' months for allocation, and the current month for the controls evaluated at now.
    const recordMonths = billable.map((c) => monthOf(c.record.startMs, runtime.timezone));
    // Only months that allocations are written to get a partition (the writer creates them and retries).
    const missing = partitions.missing(recordMonths);
    if (missing.length > 0) throw new MissingPartitionsError(missing);
    const months = [...new Set([monthOf(nowMs, runtime.timezone), ...recordMonths])];
    const controlKeys = billableVins.flatMap((vin) => runtime.blockableApps.map((app) => ({ vin, app })));
    // DESIGN 4.2: bytes whose start falls while the card was in `test` go to payer `none`, never invoiced.
    const [initial, testWindows, lockedControls] = await sendAll(client, [
      () => loadFunding(client, billableVins, months),
      () => loadSimTestWindows(client, billableVins),
      () => lockControlStates(client, controlKeys),
    ]);
    controls = lockedControls;
    const state = new Map(initial);
    for (const c of billable) {
      const vehicle = vehicles.get(c.ledger.vin)!;
      const input = toVehicleInput(vehicle);
      const usage = { app: c.ledger.app, startMs: c.record.startMs, bytes: c.record.up + c.record.down, simTest: inTestAt(testWindows.get(c.ledger.vin), c.record.startMs) };
      const result = allocateRecord(runtime.funding, input, usage, state.get(c.ledger.vin)!);
      state.set(c.ledger.vin, result.state);
      const day = dayOf(c.record.startMs, runtime.timezone);
      result.allocations.forEach((a, part) =>
        allocationRows.push({
          month: result.month,
          day,
          vin: c.ledger.vin,
          epoch: c.ledger.epoch,
          seq: c.record.seq,
          part,
          startMs: c.record.startMs,
          app: c.ledger.app,
          payer: a.payer,
          kind: a.kind,
          sponsorshipId: a.sponsorshipId,
          packInstanceId: a.packInstanceId,
          bytes: a.bytes,
          pricePerGiB: a.pricePerGiB,
        }),
      );
    }
    const [caps, packs] = fundingDeltas(initial, state);
    writes.push(
      () => saveFunding(client, caps, packs),
      () => insertAllocations(client, allocationRows, nowMs),
      () => addToRollups(client, allocationRows),
    );
    // DESIGN 3.3: FUNDS_EXHAUSTED re-evaluated after allocations, for every blockable app of the vehicle.
    for (const vin of billableVins) changes.push(...fundingChanges(runtime, vehicles.get(vin)!, state.get(vin)!, nowMs));
  }
  const [outbox] = await tx.commitWith([
    () => writeControlChanges(client, controls, changes, nowMs, (ms) => formatInstant(ms, runtime.timezone)),
    () => insertDeadLetters(client, dead),
    ...writes,
  ]);

  let rejected = 0;
  let accepted = 0;
  let duplicates = 0;
  const acks = messages.map((msg, m) => {
    const parsed = msg.parsed;
    if (!parsed.ok) return messageErrorAck(parsed, serverTime);
    const outcome = outcomes[m]!;
    outcome.rejected.sort((a, b) => a.index - b.index);
    rejected += outcome.rejected.length;
    accepted += outcome.accepted;
    duplicates += outcome.duplicates;
    return usageAck(parsed.batch, serverTime, outcome);
  });
  return { acks, outbox, counts: { accepted, duplicates, rejected, messagesRejected: messages.filter((m) => !m.parsed.ok).length } };
}

function toVehicleInput(vehicle: { vin: string; automaker: string; model: string; activatedAtMs: number | null }): VehicleInput {
  // Records of a vehicle not activated never get here (BEFORE_ACTIVATION), so activatedAt is set.
  return { vin: vehicle.vin, automaker: vehicle.automaker, model: vehicle.model, activatedAt: vehicle.activatedAtMs ?? 0 };
}

/** The counters that changed between the state read under the lock and the state after allocation. */
function fundingDeltas(initial: ReadonlyMap<string, FundingState>, final: ReadonlyMap<string, FundingState>) {
  const caps: Array<{ vin: string; sponsorshipId: string; month: string; bytes: bigint }> = [];
  const packs: Array<{ id: string; balanceBytes: bigint }> = [];
  for (const [vin, after] of final) {
    const before = initial.get(vin);
    for (const [key, bytes] of after.capUsedBytes) {
      if (before?.capUsedBytes.get(key) === bytes) continue;
      const [month, sponsorshipId] = splitCapKey(key);
      caps.push({ vin, sponsorshipId, month, bytes });
    }
    const beforePacks = new Map(before?.packs.map((p) => [p.id, p.balanceBytes]));
    for (const pack of after.packs) if (beforePacks.get(pack.id) !== pack.balanceBytes) packs.push({ id: pack.id, balanceBytes: pack.balanceBytes });
  }
  return [caps, packs] as const;
}

/** capKey is `YYYY-MM/<sponsorship id>` (src/allocate/coverage.ts). */
function splitCapKey(key: string): [string, string] {
  return [key.slice(0, 7), key.slice(8)];
}
