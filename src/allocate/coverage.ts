import { addCalendarYears } from '../shared/time.js';
import { AllocationError } from './errors.js';
import type { CompiledFunding, CompiledSponsorship, PackInstance, VehicleInput } from './types.js';

const MS_PER_DAY = 86_400_000;
/**
 * N calendar years span at least 365·N − 1 days of wall time (29 Feb → 28 Feb), and offsets move the
 * instants by less than 2 days more; below this margin no exact calendar computation is needed.
 */
const YEAR_MARGIN_MS = 3 * MS_PER_DAY;

/** activatedAt ≤ t < activatedAt + N calendar years in the billing timezone (DESIGN 4). */
function withinYearsOfActivation(vehicle: VehicleInput, years: number, t: number, timeZone: string): boolean {
  const activatedAt = vehicle.activatedAt;
  if (t < activatedAt) return false;
  const elapsed = t - activatedAt;
  if (elapsed < years * 365 * MS_PER_DAY - YEAR_MARGIN_MS) return true;
  if (elapsed >= years * 366 * MS_PER_DAY + YEAR_MARGIN_MS) return false;
  return t < addCalendarYears(activatedAt, years, timeZone);
}

/** Does the sponsorship cover V's model, and are all its validity conditions true at t? (DESIGN 4) */
function appliesTo(
  sponsorship: CompiledSponsorship,
  vehicle: VehicleInput,
  t: number,
  timeZone: string,
): boolean {
  if (sponsorship.models !== null && !sponsorship.models.has(vehicle.model)) return false;
  if (sponsorship.validFromMs !== null && t < sponsorship.validFromMs) return false;
  if (sponsorship.validUntilMs !== null && t >= sponsorship.validUntilMs) return false;
  const years = sponsorship.validYearsFromActivation;
  return years === null || withinYearsOfActivation(vehicle, years, t, timeZone);
}

/**
 * Sponsorships for `app` that cover V (automaker, model) and are valid at `t`, in waterfall order
 * (DESIGN 4.2 step 1).
 */
export function coveringSponsorships(
  funding: CompiledFunding,
  vehicle: VehicleInput,
  app: string,
  t: number,
): CompiledSponsorship[] {
  const candidates = funding.sponsorships.get(app)?.get(vehicle.automaker) ?? [];
  return candidates.filter((sponsorship) => appliesTo(sponsorship, vehicle, t, funding.timezone));
}

/** Does the pack instance's catalog pack cover `app`? Throws UNKNOWN_PACK for a pack not in the catalog. */
export function packCoversApp(funding: CompiledFunding, pack: PackInstance, app: string): boolean {
  const product = funding.packs.get(pack.packId);
  if (product === undefined) {
    // Startup refuses a catalog that removes a pack the ledger references (DESIGN 4).
    throw new AllocationError('UNKNOWN_PACK', `pack instance ${pack.id}: pack ${JSON.stringify(pack.packId)} is not in the catalog`);
  }
  return product.apps === null || product.apps.has(app);
}

/** Pack order of DESIGN 4.2 step 2: earliest expiresAt, then earliest purchasedAt, then creation order. */
export function comparePacks(a: PackInstance, b: PackInstance): number {
  return (
    a.expiresAtMs - b.expiresAtMs ||
    a.purchasedAtMs - b.purchasedAtMs ||
    a.createdSeq - b.createdSeq ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * V's packs that cover `app`, are valid at `t` (purchasedAt ≤ t < expiresAt) and have balance left,
 * in waterfall order (DESIGN 4.2 step 2).
 */
export function usablePacks(
  funding: CompiledFunding,
  packs: readonly PackInstance[],
  app: string,
  t: number,
): PackInstance[] {
  return packs
    .filter(
      (pack) =>
        pack.balanceBytes > 0n &&
        pack.purchasedAtMs <= t &&
        t < pack.expiresAtMs &&
        packCoversApp(funding, pack, app),
    )
    .sort(comparePacks);
}

/** Key of a cap counter in FundingState.capUsedBytes: caps count per (vehicle, sponsorship id, month). */
export function capKey(sponsorshipId: string, month: string): string {
  // a month is always 7 characters, so the key is unambiguous whatever the id contains
  return `${month}/${sponsorshipId}`;
}
