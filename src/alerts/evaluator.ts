import type { Logger } from 'pino';
import type { Catalog } from '../catalog/index.js';
import { capUseBySponsorship } from '../ledger/repository.js';
import { sponsorsMonthRollups } from '../ledger/rollups.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool, type PoolClient } from '../shared/db/pool.js';
import { BYTES_PER_MIB, formatMinor, lineAmountMinor } from '../shared/money.js';
import { dayOf, formatInstant, monthOf } from '../shared/time.js';
import { cardsServiceEndingBy } from '../sims/repository.js';
import { enqueueEvent } from '../webhooks/repository.js';
import { amountHolds, capShareHolds, capShareValue, DAY_MS, serviceUntilHolds, thresholdOf, transitions, vehiclesAtCapHolds, type Observation } from './evaluate.js';
import { insertTriggered, liveRules, markResolved, rulesTouched, statesOf, type AlertRule } from './repository.js';

export interface AlertEvaluatorDeps {
  pool: Pool;
  clock: Clock;
  catalog(): Catalog;
  logger: Logger;
}

/**
 * Evaluates alert rules and records their state changes, each with its `alert.triggered` /
 * `alert.resolved` webhook event in the same transaction. Evaluations take turns on one advisory lock and
 * measure inside it, so a slower evaluation never acts on figures older than a state another one wrote.
 */
export function createAlertEvaluator(deps: AlertEvaluatorDeps) {
  const log = deps.logger.child({ component: 'alerts' });

  /** The cap of a sponsorship in bytes, or null when it has none (or none above 0). */
  const capBytesOf = (catalog: Catalog, sponsorshipId: string): bigint | null => {
    const cap = catalog.sponsorships.find((s) => s.id === sponsorshipId)?.capMiBPerVehicleMonth;
    return cap === undefined || cap <= 0 ? null : BigInt(cap) * BYTES_PER_MIB;
  };

  /** What each rule observes now: one query per measure (cap counters, rollups, cards), whatever the rule count. */
  async function observe(client: PoolClient, rules: readonly AlertRule[], nowMs: number): Promise<Map<string, Observation[]>> {
    const catalog = deps.catalog();
    const timezone = catalog.billing.timezone;
    const month = monthOf(nowMs, timezone);
    const caps = new Map<string, bigint>();
    const mtdSponsors = new Set<string>();
    const merchantDays = new Map<string, number>();
    for (const rule of rules) {
      const p = rule.params;
      if (p.kind === 'cap_share' || p.kind === 'vehicles_at_cap') {
        const cap = capBytesOf(catalog, p.sponsorshipId);
        if (cap !== null) caps.set(p.sponsorshipId, cap);
      } else if (p.kind === 'mtd_amount') mtdSponsors.add(rule.owner.id);
      else merchantDays.set(rule.owner.id, Math.max(merchantDays.get(rule.owner.id) ?? 0, p.days));
    }
    const capUse = await capUseBySponsorship(client, month, [...caps].map(([sponsorshipId, capBytes]) => ({ sponsorshipId, capBytes })));
    const amounts = new Map<string, bigint>();
    for (const line of await sponsorsMonthRollups(client, [...mtdSponsors], month)) {
      amounts.set(line.sponsor, (amounts.get(line.sponsor) ?? 0n) + lineAmountMinor(BigInt(line.bytes), line.price));
    }
    const maxDays = Math.max(0, ...merchantDays.values());
    const cards = merchantDays.size === 0 ? [] : await cardsServiceEndingBy(client, [...merchantDays.keys()], nowMs + maxDays * DAY_MS);

    const observed = new Map<string, Observation[]>();
    for (const rule of rules) {
      const p = rule.params;
      switch (p.kind) {
        case 'cap_share': {
          const cap = caps.get(p.sponsorshipId);
          const use = capUse.get(p.sponsorshipId) ?? { vehicles: 0n, atCap: 0n, usedBytes: 0n };
          observed.set(rule.id, cap === undefined ? [] : [{ period: month, holds: capShareHolds(use.usedBytes, cap, use.vehicles, p.percent), value: capShareValue(use.usedBytes, cap, use.vehicles) }]);
          break;
        }
        case 'vehicles_at_cap': {
          const cap = caps.get(p.sponsorshipId);
          const atCap = capUse.get(p.sponsorshipId)?.atCap ?? 0n;
          observed.set(rule.id, cap === undefined ? [] : [{ period: month, holds: vehiclesAtCapHolds(atCap, p.count), value: atCap.toString() }]);
          break;
        }
        case 'mtd_amount': {
          const amount = amounts.get(rule.owner.id) ?? 0n;
          observed.set(rule.id, [{ period: month, holds: amountHolds(amount, p.amount), value: formatMinor(amount) }]);
          break;
        }
        case 'service_until_within': {
          const mine = cards.filter((c) => c.merchantId === rule.owner.id && serviceUntilHolds(c.serviceUntilMs, nowMs, p.days));
          observed.set(
            rule.id,
            mine.map((c) => ({ period: `${c.iccid}/${dayOf(c.serviceUntilMs, timezone)}`, holds: true, value: formatInstant(c.serviceUntilMs, timezone) })),
          );
          break;
        }
      }
    }
    return observed;
  }

  /** Evaluates `rules` now; returns how many states changed (events written). */
  async function evaluate(load: (db: Pool | PoolClient) => Promise<AlertRule[]>): Promise<number> {
    // Most batches touch no rule: one query, no transaction.
    if ((await load(deps.pool)).length === 0) return 0;
    return withTransaction(deps.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('alerts-evaluate'))");
      // The time too is read once the lock is held: no evaluation acts on an instant before another's.
      const nowMs = deps.clock.now();
      const rules = await load(client);
      if (rules.length === 0) return 0;
      const observed = await observe(client, rules, nowMs);
      const periods = [...new Set([...observed.values()].flat().map((o) => o.period))];
      const states = await statesOf(
        client,
        rules.map((r) => r.id),
        periods,
      );
      const timezone = deps.catalog().billing.timezone;
      let changed = 0;
      for (const rule of rules) {
        const change = transitions(states.get(rule.id) ?? [], observed.get(rule.id) ?? []);
        const base = { alertId: rule.id, kind: rule.params.kind, threshold: thresholdOf(rule.params), ...('sponsorshipId' in rule.params ? { sponsorshipId: rule.params.sponsorshipId } : {}) };
        for (const o of change.trigger) {
          if (!(await insertTriggered(client, rule.id, o.period, o.value, nowMs))) continue;
          await enqueueEvent(client, { ownerKind: rule.owner.kind, ownerId: rule.owner.id, type: 'alert.triggered', atMs: nowMs, data: { ...base, period: o.period, value: o.value, triggeredAt: formatInstant(nowMs, timezone) } });
          changed++;
        }
        for (const r of change.resolve) {
          if (!(await markResolved(client, rule.id, r.period, r.value, nowMs))) continue;
          await enqueueEvent(client, { ownerKind: rule.owner.kind, ownerId: rule.owner.id, type: 'alert.resolved', atMs: nowMs, data: { ...base, period: r.period, value: r.value, resolvedAt: formatInstant(nowMs, timezone) } });
          changed++;
        }
      }
      if (changed > 0) log.info({ rules: rules.length, changed }, 'alert states changed');
      return changed;
    });
  }

  /**
   * What live rules watch (sponsorships, and the sponsors of amount rules), kept in memory so a batch that
   * touches none costs nothing: refreshed by every sweep and after a rule changes here (`rulesChanged`); a
   * rule added on another instance is seen at the next sweep. null: not known yet, ask the database.
   */
  let watched: { sponsorships: Set<string>; payers: Set<string> } | null = null;
  const watch = (rules: readonly AlertRule[]) => {
    const next = { sponsorships: new Set<string>(), payers: new Set<string>() };
    for (const rule of rules) {
      if ('sponsorshipId' in rule.params) next.sponsorships.add(rule.params.sponsorshipId);
      else if (rule.params.kind === 'mtd_amount') next.payers.add(rule.owner.id);
    }
    watched = next;
  };
  const mayMatter = (touched: { sponsorships: readonly string[]; payers: readonly string[] }) =>
    watched === null || touched.sponsorships.some((id) => watched!.sponsorships.has(id)) || touched.payers.some((id) => watched!.payers.has(id));

  // After-batch evaluations are coalesced: one runs at a time, and what batches touched meanwhile is
  // evaluated together next, so a busy ingest costs one evaluation in flight, never one per batch.
  let pending: { sponsorships: Set<string>; payers: Set<string> } | null = null;
  let running: Promise<void> | null = null;
  async function drain(): Promise<void> {
    while (pending) {
      const touched = { sponsorships: [...pending.sponsorships].sort(), payers: [...pending.payers].sort() };
      pending = null;
      try {
        if (watched === null) watch(await liveRules(deps.pool));
        if (!mayMatter(touched)) continue;
        const changed = await evaluate((client) => rulesTouched(client, touched.sponsorships, touched.payers));
        log.debug({ ...touched, changed }, 'alerts evaluated after a batch');
      } catch (error) {
        log.warn({ err: error instanceof Error ? error.message : String(error) }, 'alert evaluation after a batch failed; the sweep will see it');
      }
    }
  }

  return {
    /**
     * After an ingest batch committed: the rules of the sponsorships and payers it billed are evaluated soon
     * after, never on the ingest lane's path (the lane does not wait); never throws.
     */
    afterBatch(touched: { sponsorships: readonly string[]; payers: readonly string[] }): void {
      if (!mayMatter(touched)) return;
      pending ??= { sponsorships: new Set(), payers: new Set() };
      for (const id of touched.sponsorships) pending.sponsorships.add(id);
      for (const id of touched.payers) pending.payers.add(id);
      running ??= drain().finally(() => {
        running = null;
      });
    },
    /** Resolves once no after-batch evaluation is queued or running (shutdown, tests). */
    async idle(): Promise<void> {
      while (running) await running;
    },
    /**
     * The sweep (periodic, `service.jobs.evaluateAlerts()`): every live rule, so what time or another
     * change ends or starts is seen — a new month, a raised cap after a catalog reload, a recharge, a card's
     * serviceUntil coming within N days.
     */
    sweep: () =>
      evaluate(async (client) => {
        const rules = await liveRules(client);
        watch(rules);
        return rules;
      }),
    /** A rule was added or deleted on this instance: the next batch asks the database again. */
    rulesChanged(): void {
      watched = null;
    },
  };
}

export type AlertEvaluator = ReturnType<typeof createAlertEvaluator>;
