import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Pool, PoolClient } from '../shared/db/pool.js';
import { parseFirstRow, parseRows } from '../shared/db/rows.js';
import { ALERT_KINDS, type AlertParams } from './evaluate.js';

/** The only SQL on `alert_rules` and `alert_states` (migration 0016). */

type Db = Pick<Pool, 'query'> | PoolClient;

export type AlertOwnerKind = 'sponsor' | 'merchant';
export interface AlertOwner {
  kind: AlertOwnerKind;
  id: string;
}

/** `al_<24 hex>`. */
export const newAlertId = () => `al_${randomBytes(12).toString('hex')}`;

const ParamsSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('cap_share'), sponsorshipId: z.string(), percent: z.number().int() }),
  z.object({ kind: z.literal('mtd_amount'), amount: z.string() }),
  z.object({ kind: z.literal('vehicles_at_cap'), sponsorshipId: z.string(), count: z.number().int() }),
  z.object({ kind: z.literal('service_until_within'), days: z.number().int() }),
]);

const RuleRowSchema = z.object({
  id: z.string(),
  owner_kind: z.enum(['sponsor', 'merchant']),
  owner_id: z.string(),
  kind: z.enum(ALERT_KINDS),
  params: ParamsSchema,
  created_at: z.date(),
});
export interface AlertRule {
  id: string;
  owner: AlertOwner;
  params: AlertParams;
  createdAtMs: number;
}
const toRule = (row: z.output<typeof RuleRowSchema>): AlertRule => ({ id: row.id, owner: { kind: row.owner_kind, id: row.owner_id }, params: row.params, createdAtMs: row.created_at.getTime() });
const RULE_COLUMNS = 'id, owner_kind, owner_id, kind, params, created_at';

export async function insertRule(db: Db, owner: AlertOwner, rule: { id: string; params: AlertParams; atMs: number }): Promise<AlertRule> {
  const sponsorshipId = 'sponsorshipId' in rule.params ? rule.params.sponsorshipId : null;
  const { rows } = await db.query(
    `INSERT INTO alert_rules (id, owner_kind, owner_id, kind, sponsorship_id, params, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${RULE_COLUMNS}`,
    [rule.id, owner.kind, owner.id, rule.params.kind, sponsorshipId, JSON.stringify(rule.params), new Date(rule.atMs)],
  );
  return toRule(parseFirstRow(RuleRowSchema, rows, 'alert rule')!);
}

/** The owner's live rule (another owner's is as absent as an unknown one). */
export async function findRule(db: Db, owner: AlertOwner, ruleId: string): Promise<AlertRule | null> {
  const { rows } = await db.query(`SELECT ${RULE_COLUMNS} FROM alert_rules WHERE id = $1 AND owner_kind = $2 AND owner_id = $3 AND deleted_at IS NULL`, [ruleId, owner.kind, owner.id]);
  const row = parseFirstRow(RuleRowSchema, rows, 'alert rule');
  return row ? toRule(row) : null;
}

/** Deletes a rule: it is no longer evaluated; its states stay (history). Idempotent. */
export async function deleteRule(db: Db, owner: AlertOwner, ruleId: string, atMs: number): Promise<void> {
  await db.query('UPDATE alert_rules SET deleted_at = $4 WHERE id = $1 AND owner_kind = $2 AND owner_id = $3 AND deleted_at IS NULL', [ruleId, owner.kind, owner.id, new Date(atMs)]);
}

const LatestRowSchema = RuleRowSchema.extend({
  period: z.string().nullable(),
  triggered_at: z.date().nullable(),
  triggered_value: z.string().nullable(),
  resolved_at: z.date().nullable(),
  resolved_value: z.string().nullable(),
  open: z.coerce.number().int(),
});
export interface RuleWithState extends AlertRule {
  /** the state of the period triggered last, or null when the condition never held */
  latest: { period: string; triggeredAtMs: number; triggeredValue: string; resolvedAtMs: number | null; resolvedValue: string | null } | null;
  /** periods triggered and not yet resolved */
  open: number;
}

/** The owner's live rules, oldest first, each with its latest state and how many of its periods are open. */
export async function listRules(db: Db, owner: AlertOwner): Promise<RuleWithState[]> {
  const { rows } = await db.query(
    `SELECT r.id, r.owner_kind, r.owner_id, r.kind, r.params, r.created_at,
            s.period, s.triggered_at, s.triggered_value, s.resolved_at, s.resolved_value,
            (SELECT count(*) FROM alert_states o WHERE o.rule_id = r.id AND o.resolved_at IS NULL) AS open
       FROM alert_rules r
       LEFT JOIN LATERAL (
         SELECT period, triggered_at, triggered_value, resolved_at, resolved_value FROM alert_states
          WHERE rule_id = r.id ORDER BY (resolved_at IS NULL) DESC, triggered_at DESC, period DESC LIMIT 1
       ) s ON true
      WHERE r.owner_kind = $1 AND r.owner_id = $2 AND r.deleted_at IS NULL
      ORDER BY r.created_at, r.id`,
    [owner.kind, owner.id],
  );
  return parseRows(LatestRowSchema, rows, 'alert rules').map((row) => ({
    ...toRule(row),
    latest:
      row.period === null || row.triggered_at === null || row.triggered_value === null
        ? null
        : { period: row.period, triggeredAtMs: row.triggered_at.getTime(), triggeredValue: row.triggered_value, resolvedAtMs: row.resolved_at?.getTime() ?? null, resolvedValue: row.resolved_value },
    open: row.open,
  }));
}

/** Live sponsor rules a batch touched: those watching one of its sponsorships, mtd_amount rules of its payers. */
export async function rulesTouched(db: Db, sponsorships: readonly string[], payers: readonly string[]): Promise<AlertRule[]> {
  const { rows } = await db.query(
    `SELECT ${RULE_COLUMNS} FROM alert_rules
      WHERE deleted_at IS NULL AND (sponsorship_id = ANY($1::text[]) OR (kind = 'mtd_amount' AND owner_kind = 'sponsor' AND owner_id = ANY($2::text[])))
      ORDER BY id`,
    [[...sponsorships], [...payers]],
  );
  return parseRows(RuleRowSchema, rows, 'touched alert rules').map(toRule);
}

/** Every live (not deleted) rule: what the sweep evaluates. */
export async function liveRules(db: Db): Promise<AlertRule[]> {
  const { rows } = await db.query(`SELECT ${RULE_COLUMNS} FROM alert_rules WHERE deleted_at IS NULL ORDER BY id`);
  return parseRows(RuleRowSchema, rows, 'live alert rules').map(toRule);
}

const StateRowSchema = z.object({ rule_id: z.string(), period: z.string(), resolved: z.boolean() });

/** The stored states of these rules: every open one, and the resolved ones of the given periods. */
export async function statesOf(client: PoolClient, ruleIds: readonly string[], periods: readonly string[]): Promise<Map<string, Array<{ period: string; resolved: boolean }>>> {
  const { rows } = await client.query(
    `SELECT rule_id, period, resolved_at IS NOT NULL AS resolved FROM alert_states
      WHERE rule_id = ANY($1::text[]) AND (resolved_at IS NULL OR period = ANY($2::text[]))`,
    [[...ruleIds], [...periods]],
  );
  const states = new Map<string, Array<{ period: string; resolved: boolean }>>();
  for (const row of parseRows(StateRowSchema, rows, 'alert states')) {
    const list = states.get(row.rule_id) ?? [];
    list.push({ period: row.period, resolved: row.resolved });
    states.set(row.rule_id, list);
  }
  return states;
}

/** Records a period's trigger; false when that period already has a state (it fires once). */
export async function insertTriggered(client: PoolClient, ruleId: string, period: string, value: string, atMs: number): Promise<boolean> {
  const { rowCount } = await client.query(
    'INSERT INTO alert_states (rule_id, period, triggered_at, triggered_value) VALUES ($1, $2, $3, $4) ON CONFLICT (rule_id, period) DO NOTHING',
    [ruleId, period, new Date(atMs), value],
  );
  return rowCount === 1;
}

/** Resolves an open period; false when it was not open. */
export async function markResolved(client: PoolClient, ruleId: string, period: string, value: string | null, atMs: number): Promise<boolean> {
  const { rowCount } = await client.query('UPDATE alert_states SET resolved_at = $3, resolved_value = $4 WHERE rule_id = $1 AND period = $2 AND resolved_at IS NULL', [
    ruleId,
    period,
    new Date(atMs),
    value,
  ]);
  return rowCount === 1;
}
