import type { CatalogRuntime } from '../catalog/runtime.js';
import { fundingChanges } from '../controls/funding.js';
import { lockControlStates, writeControlChanges, type ControlChange, type ControlStates, type OutboxEntry } from '../controls/repository.js';
import { insertDeadLetters } from '../ledger/dead-letters.js';
import { MissingPartitionsError, type AllocationPartitions } from '../ledger/partitions.js';
import { recordKey } from '../ledger/records.js';
import { findRecords, insertAllocations, insertRecords, loadFunding, saveFunding } from '../ledger/repository.js';
import { addToRollups } from '../ledger/rollups.js';
import { lockVehicles } from '../vehicles/fleet-repository.js';
import { loadSimTestWindows } from '../sims/test-windows.js';
import { sendAll, type WriteTransaction } from '../shared/db/pool.js';
import { formatInstant, monthOf } from '../shared/time.js';
import { messageErrorAck, usageAck, type Ack } from './ack.js';
import { admit, compareRepeat, splitInserted, Verdicts, type PreparedMessage } from './admission.js';
import { planAllocations } from './planning.js';

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
  /** what the batch billed, for the usage alerts evaluated after the commit (src/alerts): sorted, distinct */
  touched: BatchTouched;
}

/** The sponsorships and the sponsor payers (sponsored or overage) a batch allocated bytes to. */
export interface BatchTouched {
  sponsorships: string[];
  payers: string[];
}

/**
 * One micro-batch in one transaction (DESIGN 3.1, 3.2, 4.2, 7): lock the vehicles in VIN order, validate
 * times, insert the records with ON CONFLICT DO NOTHING, allocate only what was actually inserted (so a
 * replay changes nothing), update counters, rollups and controls, store every rejection as a dead letter.
 * Returns the acks to send after the commit.
 *
 * Round trips on a pipelined connection: BEGIN + vehicle locks; record insert; (stored versions, only
 * when some records were not new); funding, test windows and control locks together; every write and
 * COMMIT together.
 */
export async function writeBatch(tx: WriteTransaction, context: BatchContext, messages: readonly PreparedMessage[], nowMs: number): Promise<BatchOutcome> {
  const { runtime, partitions } = context;
  const { client } = tx;
  const vins = [...new Set(messages.filter((m) => m.parsed.ok).map((m) => m.vin))].sort();
  const vehicles = await lockVehicles(client, vins);
  const verdicts = new Verdicts(messages);
  const candidates = admit(messages, vehicles, runtime, context.catalogVersionId, verdicts);

  // Dedup against the ledger: (vin, epoch, seq) is unique for ever; only inserted rows are allocated. When
  // the insert count says some records were not new, their stored versions say which rows are this batch's.
  const keys = candidates.map((c) => c.ledger);
  const insertedCount = await insertRecords(client, keys);
  const stored = insertedCount === candidates.length ? null : await findRecords(client, keys);
  const inserted = stored ? new Set([...stored].filter(([, record]) => record.ours).map(([key]) => key)) : 'all';
  const { fresh, earlier } = splitInserted(candidates, inserted, verdicts);
  for (const candidate of earlier) {
    const existing = stored?.get(recordKey(candidate.ledger.vin, candidate.ledger.epoch, candidate.record.seq));
    if (!existing) throw new Error('a record neither inserted nor stored'); // cannot happen inside one transaction
    compareRepeat(candidate, existing, verdicts);
  }

  const billable = fresh.filter((c) => c.record.up + c.record.down > 0n);
  const changes: ControlChange[] = [];
  const writes: Array<() => Promise<unknown>> = [];
  let controls: ControlStates = new Map();
  const touched: BatchTouched = { sponsorships: [], payers: [] };
  if (billable.length > 0) {
    const billableVins = [...new Set(billable.map((c) => c.ledger.vin))].sort();
    // The records' months for allocation, and the current month for the controls evaluated at now.
    const recordMonths = billable.map((c) => monthOf(c.record.startMs, runtime.timezone));
    // Only months that allocations are written to get a partition (the writer creates them and retries).
    const missing = partitions.missing(recordMonths);
    if (missing.length > 0) throw new MissingPartitionsError(missing);
    const months = [...new Set([monthOf(nowMs, runtime.timezone), ...recordMonths])];
    const controlKeys = billableVins.flatMap((vin) => runtime.blockableApps.map((app) => ({ vin, app })));
    const [initial, testWindows, lockedControls] = await sendAll(client, [
      () => loadFunding(client, billableVins, months),
      () => loadSimTestWindows(client, billableVins),
      () => lockControlStates(client, controlKeys),
    ]);
    controls = lockedControls;
    const plan = planAllocations(runtime, vehicles, billable, initial, testWindows);
    const sponsorships = new Set<string>();
    const payers = new Set<string>();
    for (const row of plan.rows) {
      if (row.sponsorshipId !== null) sponsorships.add(row.sponsorshipId);
      if (row.kind === 'sponsored' || row.kind === 'overage') payers.add(row.payer);
    }
    touched.sponsorships = [...sponsorships].sort();
    touched.payers = [...payers].sort();
    writes.push(
      () => saveFunding(client, plan.caps, plan.packs),
      () => insertAllocations(client, plan.rows, nowMs),
      () => addToRollups(client, plan.rows),
    );
    // DESIGN 3.3: FUNDS_EXHAUSTED re-evaluated after allocations, for every blockable app of the vehicle.
    for (const vin of billableVins) {
      const vehicle = vehicles.get(vin);
      const state = plan.state.get(vin);
      if (vehicle && state) changes.push(...fundingChanges(runtime, vehicle, state, nowMs));
    }
  }
  const [outbox] = await tx.commitWith([
    () => writeControlChanges(client, controls, changes, nowMs, (ms) => formatInstant(ms, runtime.timezone)),
    () => insertDeadLetters(client, verdicts.dead),
    ...writes,
  ]);

  const serverTime = formatInstant(nowMs, runtime.timezone);
  const counts = { accepted: 0, duplicates: 0, rejected: 0, messagesRejected: 0 };
  const acks = messages.map((msg, m) => {
    const parsed = msg.parsed;
    if (!parsed.ok) {
      counts.messagesRejected++;
      return messageErrorAck(parsed, serverTime);
    }
    const outcome = verdicts.outcomes[m]!;
    outcome.rejected.sort((a, b) => a.index - b.index);
    counts.rejected += outcome.rejected.length;
    counts.accepted += outcome.accepted;
    counts.duplicates += outcome.duplicates;
    return usageAck(parsed.batch, serverTime, outcome);
  });
  return { acks, outbox, counts, touched };
}
