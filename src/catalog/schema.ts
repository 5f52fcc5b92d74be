import { z } from 'zod';
import { parseCidr } from '../shared/ip.js';
import { checkUscc, ID_PATTERN } from '../shared/identifiers.js';
import { parseHostPattern } from './host-pattern.js';

/**
 * Zod schemas of the catalog (DESIGN 4). Everything that can be decided from one value or one
 * entry lives here; rules that need the whole merged catalog (duplicates, references, conflicts
 * between apps) live in `rules.ts`. Objects are strict so a misspelt key is reported, not ignored.
 */

/** Apps every catalog has; they may be referenced but not defined (DESIGN 4). */
export const BUILT_IN_APPS: readonly string[] = Object.freeze(['wifi-hotspot', 'general']);

/** Shows an offending value in a message: strings quoted, YAML's empty value named. */
export function showValue(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return `${typeof value} ${String(value)}`;
}

/** Error option for a type check: "is required" when the key is missing, else what was found. */
function expected(what: string) {
  return {
    error: (issue: { input?: unknown }) =>
      issue.input === undefined ? 'is required' : `must be ${what}, got ${showValue(issue.input)}`,
  };
}

const IdSchema = z
  .string(expected('a string'))
  .regex(ID_PATTERN, { error: (issue) => `${showValue(issue.input)} must match [a-z0-9-]{2,40}` });

const IntSchema = z.int(expected('an integer'));
const NonNegativeIntSchema = IntSchema.min(0, { error: 'must be ≥ 0' });
const PositiveIntSchema = IntSchema.min(1, { error: 'must be > 0' });

/**
 * Money and rates are decimal strings (DESIGN 4.3: never floats). An unquoted `4.00` in YAML is the
 * number 4, so the message says to quote it.
 */
function decimalString(maxDecimals: number, example: string) {
  const pattern = new RegExp(`^(0|[1-9][0-9]*)(\\.[0-9]{1,${maxDecimals}})?$`);
  return z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'is required'
          : `must be a quoted decimal string such as "${example}", got ${showValue(issue.input)}`,
    })
    .regex(pattern, {
      error: (issue) => `must be a decimal ≥ 0 with at most ${maxDecimals} decimals, got ${showValue(issue.input)}`,
    });
}

/** Sponsor prices per GiB: ≤ 4 decimals (DESIGN 4). */
const PricePerGiBSchema = decimalString(4, '4.00');
/** Pack and plan prices are amounts of money: ≤ 2 decimals (DESIGN 4). */
const AmountSchema = decimalString(2, '30.00');
/** A tax rate in [0, 1), e.g. "0.06". */
const TaxRateSchema = z
  .string(expected('a quoted decimal string such as "0.06"'))
  .regex(/^0(\.[0-9]{1,4})?$/, {
    error: (issue) => `must be a decimal in [0, 1) with at most 4 decimals, got ${showValue(issue.input)}`,
  });

function isDateOnly(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** A date-only value: 00:00 of that date in `billing.timezone` (DESIGN 4). */
const DateOnlySchema = z
  .string(expected('a date "YYYY-MM-DD"'))
  .refine(isDateOnly, { error: (issue) => `must be a valid date YYYY-MM-DD, got ${showValue(issue.input)}` });

/** `["*"]` means "all"; mixing it with names is almost certainly a mistake. */
function starAlone(list: string[], ctx: z.RefinementCtx): void {
  if (list.length > 1 && list.includes('*')) ctx.addIssue({ code: 'custom', message: '"*" must be the only entry' });
}

const TaxIdSchema = z.string(expected('a string')).superRefine((value, ctx) => {
  const result = checkUscc(value);
  if (!result.ok) ctx.addIssue({ code: 'custom', message: `is not a valid GB 32100 credit code: ${result.reason}` });
});

export const SponsorSchema = z.strictObject({
  id: IdSchema,
  kind: z.enum(['automaker', 'map_vendor', 'service_provider'], {
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : `must be automaker, map_vendor or service_provider, got ${showValue(issue.input)}`,
  }),
  name: z.string(expected('a string')).trim().min(1, { error: 'must not be empty' }),
  taxId: TaxIdSchema.optional(),
});

const HostPatternSchema = z.string(expected('a string')).superRefine((value, ctx) => {
  const parsed = parseHostPattern(value);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: `${showValue(value)} ${parsed.error}` });
});

const CidrSchema = z.string(expected('a string such as "203.0.113.0/24"')).superRefine((value, ctx) => {
  const parsed = parseCidr(value);
  if (parsed === 'INVALID') ctx.addIssue({ code: 'custom', message: `${showValue(value)} is not a valid CIDR` });
  if (parsed === 'HOST_BITS') {
    ctx.addIssue({ code: 'custom', message: `${showValue(value)} has host bits set (they must be zero)` });
  }
});

const PortSchema = IntSchema.min(0, { error: 'must be a port 0-65535' }).max(65535, {
  error: 'must be a port 0-65535',
});

/** An in-car app's package name (Android) or bundle id. */
const PackageSchema = z
  .string(expected('a string'))
  .regex(/^\S+$/, { error: (issue) => `must be a package name without spaces, got ${showValue(issue.input)}` });

export const AppSchema = z.strictObject({
  id: IdSchema,
  hosts: z.array(HostPatternSchema, expected('a list')).default([]),
  cidrs: z.array(CidrSchema, expected('a list')).default([]),
  packages: z.array(PackageSchema, expected('a list')).default([]),
  /** When present, restricts every matcher of the app (DESIGN 4.1). */
  ports: z.array(PortSchema, expected('a list')).min(1, { error: 'must list at least one port' }).optional(),
  /** false for telemetry, remote control, eCall: never blocked by a control message. */
  blockable: z.boolean(expected('true or false')).default(true),
});

export const SponsorshipSchema = z
  .strictObject({
    id: IdSchema,
    sponsor: IdSchema,
    app: IdSchema,
    vehicles: z.strictObject(
      {
        automaker: IdSchema,
        models: z
          .array(z.string(expected('a string')).min(1, { error: 'must not be empty' }), expected('a list'))
          .min(1, { error: 'must list at least one model, or "*"' })
          .superRefine(starAlone)
          .default(['*']),
      },
      expected('a mapping {automaker, models}'),
    ),
    /** MiB per (vehicle, sponsorship id, billing month); no cap when absent. */
    capMiBPerVehicleMonth: NonNegativeIntSchema.optional(),
    pricePerGiB: PricePerGiBSchema,
    /** inclusive */
    validFrom: DateOnlySchema.optional(),
    /** exclusive */
    validUntil: DateOnlySchema.optional(),
    validYearsFromActivation: PositiveIntSchema.optional(),
    /** higher first */
    priority: IntSchema.default(0),
  })
  .superRefine((value, ctx) => {
    const { validFrom, validUntil } = value;
    // Both ends are date-only strings, so string order is date order once both are well formed.
    if (validFrom && validUntil && isDateOnly(validFrom) && isDateOnly(validUntil) && validFrom >= validUntil) {
      ctx.addIssue({
        code: 'custom',
        path: ['validUntil'],
        message: `must be after validFrom ${validFrom} (validUntil is exclusive), got ${validUntil}`,
      });
    }
  });

export const PackSchema = z.strictObject({
  id: IdSchema,
  /** app ids (built-in ones included) or ["*"] for every app */
  apps: z
    .array(
      z.string(expected('a string')).regex(/^(\*|[a-z0-9-]{2,40})$/, {
        error: (issue) => `${showValue(issue.input)} must be an app id or "*"`,
      }),
      expected('a list'),
    )
    .min(1, { error: 'must list at least one app, or "*"' })
    .superRefine(starAlone),
  sizeMiB: PositiveIntSchema,
  /** expiresAt = purchasedAt + validDays × 86,400 s */
  validDays: PositiveIntSchema,
  /** tax-inclusive */
  price: AmountSchema,
});

export const PlanSchema = z
  .strictObject({
    id: IdSchema,
    termMonths: PositiveIntSchema.optional(),
    pack: IdSchema.optional(),
    monthlyPack: IdSchema.optional(),
    /** tax-exclusive, what the merchant pays the platform */
    wholesale: AmountSchema,
    /** tax-inclusive, what the buyer pays the merchant */
    retail: AmountSchema,
    /** default billing.taxRate */
    taxRate: TaxRateSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.termMonths === undefined && value.pack === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must have termMonths or pack' });
    }
    // DESIGN 6: the monthly pack is granted at each billing-month start *of the term*.
    if (value.monthlyPack !== undefined && value.termMonths === undefined) {
      const message = 'needs termMonths (it is granted each month of the term)';
      ctx.addIssue({ code: 'custom', path: ['monthlyPack'], message });
    }
  });

/** One price for every automaker; the payer defaults to the vehicle's automaker. */
export const OverageDefaultSchema = z.strictObject({
  payer: IdSchema.optional(),
  pricePerGiB: PricePerGiBSchema,
});

export const OverageEntrySchema = z.strictObject({
  automaker: IdSchema,
  payer: IdSchema.optional(),
  pricePerGiB: PricePerGiBSchema,
});

export const OverageSchema = z.union(
  [OverageDefaultSchema, z.array(OverageEntrySchema).min(1, { error: 'must list at least one automaker' })],
  { error: 'must be a mapping {payer?, pricePerGiB} or a list of {automaker, payer?, pricePerGiB}' },
);

function isTimeZone(name: string): boolean {
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    // Intl accepts any letter case; insist on the IANA spelling so the stored value compares equal.
    return resolved.toLowerCase() !== name.toLowerCase() || resolved === name;
  } catch {
    return false;
  }
}

export const BillingSchema = z.strictObject({
  timezone: z
    .string(expected('an IANA time zone such as "Asia/Shanghai"'))
    .refine(isTimeZone, {
      error: (issue) => `${showValue(issue.input)} is not an IANA time zone (e.g. "Asia/Shanghai")`,
    }),
  currency: z
    .string(expected('a currency code such as "CNY"'))
    .regex(/^[A-Z]{3}$/, { error: (issue) => `must be 3 uppercase letters (ISO 4217), got ${showValue(issue.input)}` }),
  taxRate: TaxRateSchema,
  closeAfterDays: NonNegativeIntSchema,
  maxLateDays: PositiveIntSchema.optional(),
  /**
   * Issue 13, who pays for carrier bytes no record explains (src/assurance/README.md): `report` (absent) only
   * reports them; `overage` invoices a closed month's unexplained bytes to each vehicle's overage payer at the
   * overage price, as lines of kind `unreported`.
   */
  unreported: z.enum(['report', 'overage'], { error: 'must be report or overage' }).optional(),
  /**
   * Mbit/s (up + down) beyond which a record's bytes are implausible for its span and rejected
   * INVALID_RECORD (issue 10); default 10,000 (src/catalog/runtime.ts DEFAULT_MAX_LINK_MBPS).
   */
  maxLinkMbps: PositiveIntSchema.max(1_000_000, { error: 'must be at most 1000000 (1 Tbit/s)' }).optional(),
  /** The platform operator that issues sponsor invoices (printed as the seller); optional. */
  seller: z
    .strictObject({
      name: z.string(expected('a string')).trim().min(1, { error: 'must not be empty' }),
      taxId: TaxIdSchema,
      address: z.string(expected('a string')).trim().min(1).optional(),
    })
    .optional(),
});

/** The list sections of a catalog file, in the order they are merged and reported. */
export const LIST_SECTIONS = ['sponsors', 'apps', 'sponsorships', 'packs', 'plans'] as const;
export type ListSection = (typeof LIST_SECTIONS)[number];

/** One file of the catalog folder: every section optional (DESIGN 4: files are merged). */
export const CatalogFileSchema = z.strictObject(
  {
    sponsors: z.array(SponsorSchema, expected('a list')).optional(),
    apps: z.array(AppSchema, expected('a list')).optional(),
    sponsorships: z.array(SponsorshipSchema, expected('a list')).optional(),
    packs: z.array(PackSchema, expected('a list')).optional(),
    plans: z.array(PlanSchema, expected('a list')).optional(),
    overage: OverageSchema.optional(),
    billing: BillingSchema.optional(),
  },
  expected('a mapping of catalog sections (sponsors, apps, …)'),
);

/**
 * The merged catalog with defaults applied. Parsing a stored version with it checks its shape only;
 * the cross-entry rules run in `validateCatalog`.
 */
export const CatalogSchema = z.strictObject({
  sponsors: z.array(SponsorSchema),
  apps: z.array(AppSchema),
  sponsorships: z.array(SponsorshipSchema),
  packs: z.array(PackSchema),
  plans: z.array(PlanSchema),
  overage: OverageSchema,
  billing: BillingSchema,
});

export type CatalogFile = z.output<typeof CatalogFileSchema>;
export type Catalog = z.output<typeof CatalogSchema>;
export type Sponsor = z.output<typeof SponsorSchema>;
export type SponsorKind = Sponsor['kind'];
export type App = z.output<typeof AppSchema>;
export type Sponsorship = z.output<typeof SponsorshipSchema>;
export type Pack = z.output<typeof PackSchema>;
export type Plan = z.output<typeof PlanSchema>;
export type Overage = z.output<typeof OverageSchema>;
export type OverageEntry = z.output<typeof OverageEntrySchema>;
export type Billing = z.output<typeof BillingSchema>;
