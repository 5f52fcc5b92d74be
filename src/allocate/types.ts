/**
 * Inputs and outputs of the funding waterfall (DESIGN 4.2). Input shapes are structural and use the
 * catalog's YAML field names (DESIGN 4), so the validated catalog object can be passed as it is.
 */

/** A sponsorship as in the catalog (DESIGN 4); `models` defaults to ["*"], `priority` to 0. */
export interface SponsorshipInput {
  readonly id: string;
  readonly sponsor: string;
  readonly app: string;
  readonly vehicles: { readonly automaker: string; readonly models?: readonly string[] | undefined };
  /** integer ≥ 0, MiB (1,048,576 bytes); absent = no cap */
  readonly capMiBPerVehicleMonth?: number | undefined;
  /** decimal string, CNY per GiB, tax-exclusive, ≤ 4 decimals */
  readonly pricePerGiB: string;
  /** inclusive; "YYYY-MM-DD" (00:00 in billing.timezone) or an RFC 3339 timestamp with offset */
  readonly validFrom?: string | undefined;
  /** exclusive; same forms as validFrom */
  readonly validUntil?: string | undefined;
  /** activatedAt ≤ t < activatedAt + N calendar years (billing.timezone; 29 Feb → 28 Feb) */
  readonly validYearsFromActivation?: number | undefined;
  /** higher first */
  readonly priority?: number | undefined;
}

/** A pack product as in the catalog (DESIGN 4); only `id` and `apps` matter to allocation. */
export interface PackInput {
  readonly id: string;
  /** app ids, or "*" for every app (built-in ones included) */
  readonly apps: readonly string[];
}

/** The single-mapping form of `overage`: one payer and price for every automaker. */
export interface OverageInput {
  /** sponsor id of an automaker; absent = the vehicle's own automaker */
  readonly payer?: string | undefined;
  readonly pricePerGiB: string;
}

/** One entry of the list form of `overage`. */
export interface OverageEntryInput extends OverageInput {
  readonly automaker: string;
}

/** The parts of the merged catalog (DESIGN 4) that allocation reads. */
export interface FundingCatalog {
  readonly sponsorships: readonly SponsorshipInput[];
  readonly packs: readonly PackInput[];
  readonly overage: OverageInput | readonly OverageEntryInput[];
  readonly billing: { readonly timezone: string };
}

export interface CompiledSponsorship {
  readonly id: string;
  readonly sponsor: string;
  readonly app: string;
  readonly automaker: string;
  /** null = every model ("*") */
  readonly models: ReadonlySet<string> | null;
  /** null = no cap */
  readonly capBytes: bigint | null;
  readonly pricePerGiB: string;
  /** epoch ms, inclusive; null = unbounded */
  readonly validFromMs: number | null;
  /** epoch ms, exclusive; null = unbounded */
  readonly validUntilMs: number | null;
  readonly validYearsFromActivation: number | null;
  readonly priority: number;
}

export interface CompiledPack {
  readonly id: string;
  /** null = every app ("*") */
  readonly apps: ReadonlySet<string> | null;
}

export interface OveragePrice {
  /** null = the vehicle's automaker */
  readonly payer: string | null;
  readonly pricePerGiB: string;
}

/** The catalog compiled once for allocation by {@link compileFunding}. Immutable. */
export interface CompiledFunding {
  /** billing.timezone: months and date-only values are read in it */
  readonly timezone: string;
  /** app → automaker → sponsorships in waterfall order (priority desc, sponsor id, sponsorship id) */
  readonly sponsorships: ReadonlyMap<string, ReadonlyMap<string, readonly CompiledSponsorship[]>>;
  readonly packs: ReadonlyMap<string, CompiledPack>;
  /** the single-mapping form applies to every automaker */
  readonly overageForAll: OveragePrice | null;
  /** the list form, by automaker */
  readonly overageByAutomaker: ReadonlyMap<string, OveragePrice>;
}

export interface VehicleInput {
  readonly vin: string;
  /** sponsor id of the automaker */
  readonly automaker: string;
  readonly model: string;
  /** epoch ms of activation */
  readonly activatedAt: number;
}

export interface UsageInput {
  /** app id from classification (DESIGN 4.1) */
  readonly app: string;
  /** record `start`, epoch ms: decides validity and the month m */
  readonly startMs: number;
  /** up + down, ≥ 0 */
  readonly bytes: bigint;
  /** the SIM was in `test` at `start` (DESIGN 4.2): all bytes go to payer `none`, never invoiced */
  readonly simTest?: boolean | undefined;
}

/** One prepaid pack a vehicle owner holds. */
export interface PackInstance {
  readonly id: string;
  /** catalog pack id: decides which apps it covers */
  readonly packId: string;
  readonly purchasedAtMs: number;
  /** exclusive */
  readonly expiresAtMs: number;
  readonly balanceBytes: bigint;
  /** creation order, the last tie-breaker between packs */
  readonly createdSeq: number;
}

/** A vehicle's funding counters, as read under the vehicle's lock. Never mutated by this module. */
export interface FundingState {
  /**
   * Bytes already sponsored by each sponsorship for this vehicle in a month, keyed by
   * {@link capKey}(sponsorshipId, month). A missing key is 0 (a fresh month).
   */
  readonly capUsedBytes: ReadonlyMap<string, bigint>;
  /** the vehicle's packs, any order; expired and empty ones are ignored */
  readonly packs: readonly PackInstance[];
}

/** Every kind an allocation can have; the ledger's explain reply lists the same (DESIGN 4.2). */
export const ALLOCATION_KINDS = ['sponsored', 'pack', 'overage', 'test'] as const;
export type AllocationKind = (typeof ALLOCATION_KINDS)[number];
/** The kinds a payer is invoiced for (DESIGN 4.3); packs are prepaid and test traffic is free. */
export const BILLED_KINDS = ['sponsored', 'overage'] as const satisfies readonly AllocationKind[];

export interface Allocation {
  /** sponsor id; `owner` for packs; `none` for SIM-test records */
  readonly payer: string;
  readonly kind: AllocationKind;
  /** set iff kind = 'sponsored' */
  readonly sponsorshipId: string | null;
  /** set iff kind = 'pack' */
  readonly packInstanceId: string | null;
  /** > 0 */
  readonly bytes: bigint;
  /** true iff kind = 'overage' */
  readonly overage: boolean;
  /** CNY per GiB, tax-exclusive, for 'sponsored' and 'overage'; null for 'pack' (prepaid) and 'test' */
  readonly pricePerGiB: string | null;
}

export interface AllocationResult {
  /** usage month m of the record: month of `startMs` in billing.timezone */
  readonly month: string;
  /** in waterfall order; empty for a zero-byte record; sums to the record's bytes otherwise */
  readonly allocations: readonly Allocation[];
  /** the state after this record; the allocations are exactly the deltas from the input state */
  readonly state: FundingState;
}
