import { BYTES_PER_MIB, isDecimalString } from '../shared/money.js';
import { dateOnlyToInstant, isDateOnly, isValidTimeZone, parseOffsetTimestamp } from '../shared/time.js';
import { AllocationError } from './errors.js';
import type {
  CompiledFunding,
  CompiledPack,
  CompiledSponsorship,
  FundingCatalog,
  OveragePrice,
  SponsorshipInput,
} from './types.js';

/** DESIGN 4: prices are decimal strings with at most 4 decimals. */
const PRICE_MAX_DECIMALS = 4;

function invalid(message: string): never {
  throw new AllocationError('INVALID_FUNDING_CATALOG', message);
}

function checkPrice(price: string, where: string): string {
  if (!isDecimalString(price, PRICE_MAX_DECIMALS) || price.startsWith('-')) {
    invalid(`${where}.pricePerGiB: ${JSON.stringify(price)} is not a decimal ≥ 0 with ≤ 4 decimals`);
  }
  return price;
}

/** A validity bound: date-only means 00:00 of that date in billing.timezone (DESIGN 4). */
function boundToInstant(value: string | undefined, timeZone: string, where: string): number | null {
  if (value === undefined) return null;
  if (isDateOnly(value)) return dateOnlyToInstant(value, timeZone);
  const instant = parseOffsetTimestamp(value);
  if (instant === null) invalid(`${where}: ${JSON.stringify(value)} is neither a date nor an RFC 3339 timestamp`);
  return instant;
}

/** Byte-wise (UTF-8) string order, as DESIGN 4.2 orders sponsor and sponsorship ids. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Waterfall order of DESIGN 4.2 step 1: priority desc, then sponsor id, then sponsorship id. */
export function compareSponsorships(a: CompiledSponsorship, b: CompiledSponsorship): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  return compareBytes(a.sponsor, b.sponsor) || compareBytes(a.id, b.id);
}

function compileSponsorship(input: SponsorshipInput, index: number, timeZone: string): CompiledSponsorship {
  const where = `sponsorships[${index}] (${input.id})`;
  const cap = input.capMiBPerVehicleMonth;
  if (cap !== undefined && (!Number.isSafeInteger(cap) || cap < 0)) {
    invalid(`${where}.capMiBPerVehicleMonth: ${cap} is not an integer ≥ 0`);
  }
  const years = input.validYearsFromActivation;
  if (years !== undefined && (!Number.isSafeInteger(years) || years < 0)) {
    invalid(`${where}.validYearsFromActivation: ${years} is not an integer ≥ 0`);
  }
  const priority = input.priority ?? 0;
  if (!Number.isSafeInteger(priority)) invalid(`${where}.priority: ${priority} is not an integer`);
  const models = input.vehicles.models ?? ['*'];
  return {
    id: input.id,
    sponsor: input.sponsor,
    app: input.app,
    automaker: input.vehicles.automaker,
    models: models.includes('*') ? null : new Set(models),
    capBytes: cap === undefined ? null : BigInt(cap) * BYTES_PER_MIB,
    pricePerGiB: checkPrice(input.pricePerGiB, where),
    validFromMs: boundToInstant(input.validFrom, timeZone, `${where}.validFrom`),
    validUntilMs: boundToInstant(input.validUntil, timeZone, `${where}.validUntil`),
    validYearsFromActivation: years ?? null,
    priority,
  };
}

/**
 * Compiles the funding parts of a validated catalog once (DESIGN 4, 4.2): sponsorships indexed by app
 * and automaker in waterfall order, validity bounds as instants in billing.timezone, caps in bytes.
 * Throws AllocationError INVALID_FUNDING_CATALOG on values it cannot convert.
 */
export function compileFunding(catalog: FundingCatalog): CompiledFunding {
  const timeZone = catalog.billing.timezone;
  if (!isValidTimeZone(timeZone)) invalid(`billing.timezone: unknown time zone ${JSON.stringify(timeZone)}`);

  const byApp = new Map<string, Map<string, CompiledSponsorship[]>>();
  catalog.sponsorships.forEach((input, index) => {
    const sponsorship = compileSponsorship(input, index, timeZone);
    let byAutomaker = byApp.get(sponsorship.app);
    if (byAutomaker === undefined) byApp.set(sponsorship.app, (byAutomaker = new Map()));
    const list = byAutomaker.get(sponsorship.automaker);
    if (list === undefined) byAutomaker.set(sponsorship.automaker, [sponsorship]);
    else list.push(sponsorship);
  });
  for (const byAutomaker of byApp.values()) {
    for (const list of byAutomaker.values()) list.sort(compareSponsorships);
  }

  const packs = new Map<string, CompiledPack>();
  for (const pack of catalog.packs) {
    packs.set(pack.id, { id: pack.id, apps: pack.apps.includes('*') ? null : new Set(pack.apps) });
  }

  let overageForAll: OveragePrice | null = null;
  const overageByAutomaker = new Map<string, OveragePrice>();
  // Array.isArray does not narrow a readonly array out of a union, hence the explicit test
  const overage = catalog.overage;
  if (isOverageList(overage)) {
    overage.forEach((entry, index) => {
      const price = checkPrice(entry.pricePerGiB, `overage[${index}]`);
      overageByAutomaker.set(entry.automaker, { payer: entry.payer ?? null, pricePerGiB: price });
    });
  } else {
    overageForAll = { payer: overage.payer ?? null, pricePerGiB: checkPrice(overage.pricePerGiB, 'overage') };
  }

  return { timezone: timeZone, sponsorships: byApp, packs, overageForAll, overageByAutomaker };
}

function isOverageList(overage: FundingCatalog['overage']): overage is Extract<FundingCatalog['overage'], readonly unknown[]> {
  return Array.isArray(overage);
}
