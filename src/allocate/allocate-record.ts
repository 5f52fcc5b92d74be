import { monthOf } from '../shared/time.js';
import { capKey, coveringSponsorships, usablePacks } from './coverage.js';
import { AllocationError } from './errors.js';
import type {
  Allocation,
  AllocationResult,
  CompiledFunding,
  FundingState,
  OveragePrice,
  PackInstance,
  UsageInput,
  VehicleInput,
} from './types.js';

/** Payer of pack allocations: the vehicle owner, who prepaid the pack. Not a sponsor id; never invoiced. */
export const PAYER_OWNER = 'owner';
/** Payer of records whose SIM was in `test` (DESIGN 4.2): stored, never invoiced. */
export const PAYER_NONE = 'none';

function minBigInt(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** The overage price for V's automaker (DESIGN 4 `overage`); throws NO_OVERAGE_PRICE when the catalog has none. */
export function overageFor(funding: CompiledFunding, automaker: string): { payer: string; pricePerGiB: string } {
  const entry: OveragePrice | undefined = funding.overageForAll ?? funding.overageByAutomaker.get(automaker);
  if (entry === undefined) {
    throw new AllocationError('NO_OVERAGE_PRICE', `the catalog's overage has no entry for automaker ${JSON.stringify(automaker)}`);
  }
  return { payer: entry.payer ?? automaker, pricePerGiB: entry.pricePerGiB };
}

function checkUsage(record: UsageInput): void {
  if (record.bytes < 0n) throw new AllocationError('INVALID_USAGE', `negative bytes: ${record.bytes}`);
  if (!Number.isSafeInteger(record.startMs)) {
    throw new AllocationError('INVALID_USAGE', `startMs is not an integral instant: ${record.startMs}`);
  }
}

/**
 * Allocates one record of vehicle V down the funding waterfall (DESIGN 4.2):
 * 1. covering sponsorships valid at t, each up to its cap left for (V, sponsorship, month of t);
 * 2. V's covering packs valid at t with balance, earliest expiry first — paid by `owner`, no price;
 * 3. the rest to the overage payer of V's automaker, at the overage price.
 * A zero-byte record gets no allocation; a SIM-`test` record gets one allocation to `none` and touches
 * no counter. Pure: `state` is not modified; the returned state has the counters after this record.
 * The caller allocates a vehicle's records serially, threading the returned state to the next record.
 */
export function allocateRecord(
  funding: CompiledFunding,
  vehicle: VehicleInput,
  record: UsageInput,
  state: FundingState,
): AllocationResult {
  checkUsage(record);
  const month = monthOf(record.startMs, funding.timezone);
  if (record.bytes === 0n) return { month, allocations: [], state };
  if (record.simTest === true) {
    const allocation: Allocation = {
      payer: PAYER_NONE,
      kind: 'test',
      sponsorshipId: null,
      packInstanceId: null,
      bytes: record.bytes,
      overage: false,
      pricePerGiB: null,
    };
    return { month, allocations: [allocation], state };
  }

  const allocations: Allocation[] = [];
  let left = record.bytes;

  // 1. sponsorships
  let capUsedBytes: Map<string, bigint> | null = null; // copied on first write
  for (const sponsorship of coveringSponsorships(funding, vehicle, record.app, record.startMs)) {
    if (left === 0n) break;
    const key = capKey(sponsorship.id, month);
    const used = (capUsedBytes ?? state.capUsedBytes).get(key) ?? 0n;
    // a cap lowered below what was already used leaves no room (never negative)
    const take = sponsorship.capBytes === null ? left : minBigInt(left, sponsorship.capBytes - used);
    if (take <= 0n) continue;
    capUsedBytes ??= new Map(state.capUsedBytes);
    // every sponsored byte is counted, capped or not, so a cap added later mid-month sees the month's use
    capUsedBytes.set(key, used + take);
    allocations.push({
      payer: sponsorship.sponsor,
      kind: 'sponsored',
      sponsorshipId: sponsorship.id,
      packInstanceId: null,
      bytes: take,
      overage: false,
      pricePerGiB: sponsorship.pricePerGiB,
    });
    left -= take;
  }

  // 2. packs
  let packs: readonly PackInstance[] | null = null;
  if (left > 0n) {
    const debits = new Map<string, bigint>();
    for (const pack of usablePacks(funding, state.packs, record.app, record.startMs)) {
      if (left === 0n) break;
      const take = minBigInt(left, pack.balanceBytes);
      debits.set(pack.id, take);
      allocations.push({
        payer: PAYER_OWNER,
        kind: 'pack',
        sponsorshipId: null,
        packInstanceId: pack.id,
        bytes: take,
        overage: false,
        pricePerGiB: null,
      });
      left -= take;
    }
    if (debits.size > 0) {
      packs = state.packs.map((pack): PackInstance => {
        const debit = debits.get(pack.id);
        return debit === undefined ? pack : { ...pack, balanceBytes: pack.balanceBytes - debit };
      });
    }
  }

  // 3. overage
  if (left > 0n) {
    const overage = overageFor(funding, vehicle.automaker);
    allocations.push({
      payer: overage.payer,
      kind: 'overage',
      sponsorshipId: null,
      packInstanceId: null,
      bytes: left,
      overage: true,
      pricePerGiB: overage.pricePerGiB,
    });
  }

  const next: FundingState =
    capUsedBytes === null && packs === null
      ? state
      : { capUsedBytes: capUsedBytes ?? state.capUsedBytes, packs: packs ?? state.packs };
  return { month, allocations, state: next };
}
