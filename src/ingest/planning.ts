import { allocateRecord, type FundingState, type VehicleInput } from '../allocate/index.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { AllocationRow } from '../ledger/records.js';
import type { VehicleForIngest } from '../vehicles/fleet-repository.js';
import { inTestAt, type TestWindow } from '../sims/test-windows.js';
import { dayOf } from '../shared/time.js';
import type { Candidate } from './admission.js';

/**
 * Planning, the pure step between admission and the writes: the funding waterfall over the fresh records,
 * serial per vehicle in message order then array order (DESIGN 4.2), from the funding state read under the
 * vehicle locks. Returns the allocation rows and the counters that changed. No I/O, no clock.
 */

export interface CapDelta {
  vin: string;
  sponsorshipId: string;
  month: string;
  bytes: bigint;
}

export interface PackDelta {
  id: string;
  balanceBytes: bigint;
}

export interface AllocationPlan {
  rows: AllocationRow[];
  /** each vehicle's funding state after its records */
  state: Map<string, FundingState>;
  caps: CapDelta[];
  packs: PackDelta[];
}

export function planAllocations(
  runtime: Pick<CatalogRuntime, 'funding' | 'timezone'>,
  vehicles: ReadonlyMap<string, VehicleForIngest>,
  billable: readonly Candidate[],
  initial: ReadonlyMap<string, FundingState>,
  testWindows: ReadonlyMap<string, readonly TestWindow[]>,
): AllocationPlan {
  const state = new Map(initial);
  const rows: AllocationRow[] = [];
  for (const c of billable) {
    const { vin, epoch, app } = c.ledger;
    const record = c.record;
    const before = state.get(vin);
    const vehicle = vehicles.get(vin);
    if (!before || !vehicle) throw new Error(`no funding state or vehicle row for ${vin}`); // read under the same lock
    // DESIGN 4.2: bytes whose start falls while the card was in `test` go to payer `none`, never invoiced.
    const usage = { app, startMs: record.startMs, bytes: record.up + record.down, simTest: inTestAt(testWindows.get(vin), record.startMs) };
    const result = allocateRecord(runtime.funding, toVehicleInput(vehicle), usage, before);
    state.set(vin, result.state);
    const day = dayOf(record.startMs, runtime.timezone);
    result.allocations.forEach((a, part) =>
      rows.push({
        month: result.month,
        day,
        vin,
        epoch,
        seq: record.seq,
        part,
        startMs: record.startMs,
        app,
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
  return { rows, state, caps, packs };
}

function toVehicleInput(vehicle: VehicleForIngest): VehicleInput {
  // Records of a vehicle not activated never get here (BEFORE_ACTIVATION), so activatedAt is set.
  return { vin: vehicle.vin, automaker: vehicle.automaker, model: vehicle.model, activatedAt: vehicle.activatedAtMs ?? 0 };
}

/** The counters that changed between the state read under the lock and the state after allocation. */
function fundingDeltas(initial: ReadonlyMap<string, FundingState>, final: ReadonlyMap<string, FundingState>): [CapDelta[], PackDelta[]] {
  const caps: CapDelta[] = [];
  const packs: PackDelta[] = [];
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
  return [caps, packs];
}

/** capKey is `YYYY-MM/<sponsorship id>` (src/allocate/coverage.ts). */
function splitCapKey(key: string): [string, string] {
  return [key.slice(0, 7), key.slice(8)];
}
