import { formatMinor, toMinor } from '../shared/money.js';

/**
 * The usage alerts' thresholds and state transitions (issue 14), pure: exact integers (bigint) and decimal
 * strings only, never floats. Property-tested (test/unit/alerts-evaluate.test.ts).
 */

export const SPONSOR_ALERT_KINDS = ['cap_share', 'mtd_amount', 'vehicles_at_cap'] as const;
export const MERCHANT_ALERT_KINDS = ['service_until_within'] as const;
export const ALERT_KINDS = [...SPONSOR_ALERT_KINDS, ...MERCHANT_ALERT_KINDS] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export type AlertParams =
  | { kind: 'cap_share'; sponsorshipId: string; percent: number }
  | { kind: 'mtd_amount'; amount: string }
  | { kind: 'vehicles_at_cap'; sponsorshipId: string; count: number }
  | { kind: 'service_until_within'; days: number };

/** What a rule's condition looks like for one period at one moment. */
export interface Observation {
  period: string;
  holds: boolean;
  /** the measured value, as shown and sent: "82.50" (percent), "120.00" (amount), "3" (vehicles), an instant */
  value: string;
}

/** A stored state row of a rule: one per period in which the condition held. */
export interface PeriodState {
  period: string;
  resolved: boolean;
}

export interface Transitions {
  trigger: Observation[];
  resolve: Array<{ period: string; value: string | null }>;
}

/**
 * What changes given the rule's stored states and what is observed now:
 * - a period whose condition holds and that has no state yet is triggered (once per period: a resolved
 *   period never triggers again);
 * - an open (unresolved) state whose period is not observed holding any more is resolved: the condition
 *   ended (its value dropped below, e.g. a raised cap) or its period did (a new month, a recharge that moved
 *   serviceUntil to another date).
 */
export function transitions(states: readonly PeriodState[], observed: readonly Observation[]): Transitions {
  const known = new Set(states.map((s) => s.period));
  const holding = new Map(observed.filter((o) => o.holds).map((o) => [o.period, o]));
  const values = new Map(observed.map((o) => [o.period, o.value]));
  return {
    trigger: [...holding.values()].filter((o) => !known.has(o.period)),
    resolve: states.filter((s) => !s.resolved && !holding.has(s.period)).map((s) => ({ period: s.period, value: values.get(s.period) ?? null })),
  };
}

/**
 * cap_share: the sponsorship's counted bytes this month ÷ (cap × vehicles that used it this month) reaches
 * `percent` %. Exact: used × 100 ≥ percent × cap × vehicles. No vehicle, no share.
 */
export function capShareHolds(usedBytes: bigint, capBytes: bigint, vehicles: bigint, percent: number): boolean {
  if (vehicles <= 0n || capBytes <= 0n) return false;
  return usedBytes * 100n >= BigInt(percent) * capBytes * vehicles;
}

/** The share as a percentage with 2 decimals, rounded down (so "100.00" means the whole cap): "82.51". */
export function capShareValue(usedBytes: bigint, capBytes: bigint, vehicles: bigint): string {
  if (vehicles <= 0n || capBytes <= 0n) return '0.00';
  return formatMinor((usedBytes * 10_000n) / (capBytes * vehicles));
}

/** mtd_amount: the month-to-date amount (minor units) reaches the figure (a decimal string, ≤ 2 decimals). */
export function amountHolds(amountMinor: bigint, threshold: string): boolean {
  return amountMinor >= toMinor(threshold);
}

/** vehicles_at_cap: at least `count` vehicles reached the cap this month. */
export function vehiclesAtCapHolds(atCap: bigint, count: number): boolean {
  return atCap >= BigInt(count);
}

export const DAY_MS = 86_400_000;

/** service_until_within: the card's service ends within `days` × 24 h of now (or has ended). */
export function serviceUntilHolds(serviceUntilMs: number, nowMs: number, days: number): boolean {
  return serviceUntilMs <= nowMs + days * DAY_MS;
}

/** The threshold of a rule as a readable string (event data, dashboard). */
export function thresholdOf(params: AlertParams): string {
  switch (params.kind) {
    case 'cap_share':
      return `${params.percent}%`;
    case 'mtd_amount':
      return params.amount;
    case 'vehicles_at_cap':
      return String(params.count);
    case 'service_until_within':
      return `${params.days}d`;
  }
}
