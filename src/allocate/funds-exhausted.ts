import { monthOf } from '../shared/time.js';
import { capKey, coveringSponsorships, usablePacks } from './coverage.js';
import type { CompiledFunding, FundingState, VehicleInput } from './types.js';

/**
 * The `FUNDS_EXHAUSTED` reason of DESIGN 3.3 for (V, app) at `nowMs`: true iff no covering sponsorship
 * valid now has cap left in the current month (an uncapped one always has room) and no covering pack
 * valid now has balance left.
 *
 * Overage does not count as funding: 3.3 names only sponsorships and packs, and the control exists so
 * the T-Box stops traffic that nobody agreed to pay for in advance. Whether the app may be blocked at
 * all (`blockable: false`) and the SIM state are the caller's concern, not part of this predicate.
 */
export function fundsExhausted(
  funding: CompiledFunding,
  vehicle: VehicleInput,
  app: string,
  nowMs: number,
  state: FundingState,
): boolean {
  const month = monthOf(nowMs, funding.timezone);
  for (const sponsorship of coveringSponsorships(funding, vehicle, app, nowMs)) {
    if (sponsorship.capBytes === null) return false;
    const used = state.capUsedBytes.get(capKey(sponsorship.id, month)) ?? 0n;
    if (used < sponsorship.capBytes) return false;
  }
  return usablePacks(funding, state.packs, app, nowMs).length === 0;
}
