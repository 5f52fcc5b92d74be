import { z } from 'zod';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import type { Pool } from '../shared/db/pool.js';
import { invalid, notFound } from '../shared/errors.js';
import { formatInstant } from '../shared/time.js';
import type { AlertParams } from './evaluate.js';
import { deleteRule, findRule, insertRule, listRules, newAlertId, type AlertOwner, type RuleWithState } from './repository.js';
import type { AlertRuleView } from './schemas.js';

/** A sponsorship id as the catalog spells it. */
const SponsorshipIdSchema = z.string().regex(/^[a-z0-9-]{2,40}$/, { message: 'must be a sponsorship id' });
/** A positive amount with at most 2 decimals, as a string (never a JSON number: no floats for money). */
const AmountSchema = z
  .string()
  .regex(/^(0|[1-9]\d{0,11})(\.\d{1,2})?$/, { message: 'must be a decimal string with at most 2 decimals, e.g. "1000.00"' })
  .refine((s) => /[1-9]/.test(s), { message: 'must be above 0' })
  .meta({ example: '1000.00' });

/** The body of a new sponsor rule. */
export const NewSponsorAlertSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('cap_share'), sponsorshipId: SponsorshipIdSchema, percent: z.number().int().min(1).max(100) }),
  z.strictObject({ kind: z.literal('mtd_amount'), amount: AmountSchema }),
  z.strictObject({ kind: z.literal('vehicles_at_cap'), sponsorshipId: SponsorshipIdSchema, count: z.number().int().min(1).max(10_000_000) }),
]);
/** The body of a new merchant rule. */
export const NewMerchantAlertSchema = z.strictObject({ kind: z.literal('service_until_within'), days: z.number().int().min(1).max(366) });

export interface AlertRulesDeps {
  pool: Pool;
  clock: Clock;
  catalog(): Catalog;
  /** Told after a rule was added or deleted (the evaluator's view of what rules watch). */
  onChange?(): void;
}

/** The rules' use cases, shared by the API and the dashboard. */
export function createAlertRules(deps: AlertRulesDeps) {
  const timezone = () => deps.catalog().billing.timezone;
  const at = (ms: number | null) => (ms === null ? null : formatInstant(ms, timezone()));

  const view = (rule: RuleWithState): AlertRuleView => {
    const p = rule.params;
    const latest = rule.latest;
    return {
      id: rule.id,
      kind: p.kind,
      sponsorshipId: 'sponsorshipId' in p ? p.sponsorshipId : null,
      percent: p.kind === 'cap_share' ? p.percent : null,
      amount: p.kind === 'mtd_amount' ? p.amount : null,
      count: p.kind === 'vehicles_at_cap' ? p.count : null,
      days: p.kind === 'service_until_within' ? p.days : null,
      createdAt: at(rule.createdAtMs)!,
      state: latest === null ? 'ok' : latest.resolvedAtMs === null ? 'triggered' : 'resolved',
      period: latest?.period ?? null,
      triggeredAt: at(latest?.triggeredAtMs ?? null),
      triggeredValue: latest?.triggeredValue ?? null,
      resolvedAt: at(latest?.resolvedAtMs ?? null),
      resolvedValue: latest?.resolvedValue ?? null,
      openPeriods: rule.open,
    };
  };

  /** A rule's sponsorship must be one of the sponsor's own, with a cap above 0 (422 otherwise, naming the field). */
  const checkParams = (owner: AlertOwner, params: AlertParams): void => {
    if (!('sponsorshipId' in params)) return;
    const sponsorship = deps.catalog().sponsorships.find((s) => s.id === params.sponsorshipId && s.sponsor === owner.id);
    if (!sponsorship) throw invalid('sponsorshipId', `no sponsorship ${params.sponsorshipId} of sponsor ${owner.id}`);
    if (!sponsorship.capMiBPerVehicleMonth) throw invalid('sponsorshipId', `sponsorship ${params.sponsorshipId} has no cap`);
  };

  return {
    view,
    async list(owner: AlertOwner): Promise<AlertRuleView[]> {
      return (await listRules(deps.pool, owner)).map(view);
    },
    async create(owner: AlertOwner, params: AlertParams): Promise<AlertRuleView> {
      checkParams(owner, params);
      const rule = await insertRule(deps.pool, owner, { id: newAlertId(), params, atMs: deps.clock.now() });
      deps.onChange?.();
      return view({ ...rule, latest: null, open: 0 });
    },
    /** Whether the owner has this live rule (another owner's is as absent as an unknown one). */
    async exists(owner: AlertOwner, ruleId: string): Promise<boolean> {
      return (await findRule(deps.pool, owner, ruleId)) !== null;
    },
    /** Deletes the owner's rule; 404 when it is not the owner's (or unknown, or deleted already). */
    async remove(owner: AlertOwner, ruleId: string): Promise<void> {
      const rule = await findRule(deps.pool, owner, ruleId);
      if (!rule) throw notFound(`alert ${ruleId}`);
      await deleteRule(deps.pool, owner, ruleId, deps.clock.now());
      deps.onChange?.();
    },
  };
}

export type AlertRules = ReturnType<typeof createAlertRules>;
