import type { Plan } from '../catalog/index.js';
import type { OutboxEntry } from '../controls/repository.js';
import { isUniqueViolation, withTransaction, type PoolClient } from '../shared/db/pool.js';
import { conflict, forbidden, invalid, notFound } from '../shared/errors.js';
import { addCalendarMonths, formatInstant } from '../shared/time.js';
import { clearVehicleOwnerAmong } from '../vehicles/card-repository.js';
import { requireInScope, type Caller } from './caller.js';
import { applyCardEffects, expireGrantedPacks, grantPlanPack } from './card-effects.js';
import type { SimDeps } from './deps.js';
import { extendService } from './lifecycle.js';
import { findOrder, insertEvent, insertOrder, latestSale, lockSim, markOrderRefunded, merchantsWithOrder, updateSim, type NewOrder, type OrderRow, type SimRow } from './repository.js';
import { enqueueEvent } from '../webhooks/repository.js';
import { decideTransition } from './state-machine.js';

/**
 * Store orders, recharges and refunds (DESIGN 6). An order is paid when created and snapshots its plan's
 * prices; each is idempotent per (merchant, externalOrderId): the same request again returns the same
 * order, another request under the same id is 409 `IDEMPOTENCY_CONFLICT`. The card row is locked before
 * the id is looked up, so two identical requests racing give one order. E-invoices are written pending in
 * the same transaction and issued after the commit.
 */

export interface Buyer {
  name: string;
  phone: string;
}

export interface OrderInput {
  merchant: string;
  externalOrderId: string;
  iccid: string;
  plan: string;
  buyer: Buyer;
}

export interface RechargeInput {
  externalOrderId: string;
  plan: string;
  buyer?: Buyer | undefined;
}

export interface OrderOutcome {
  order: OrderRow;
  created: boolean;
}

/**
 * What makes two requests the same order: kind, card, plan and buyer. It holds personal data, so it is
 * stored only as a keyed digest; it can be rebuilt from a stored order (key rotation re-keys it).
 */
export function orderFingerprint(kind: 'sale' | 'recharge', iccid: string, plan: string, buyer: Buyer): string {
  return JSON.stringify([kind, iccid, plan, buyer.name, buyer.phone]);
}

/**
 * An order is paid when created (DESIGN 6): its row and its merchant's `order.paid` webhook event (issue 14)
 * in the order's transaction. The event carries no personal data (no buyer).
 */
async function insertPaidOrder(client: PoolClient, o: NewOrder): Promise<OrderRow> {
  const order = await insertOrder(client, o);
  await enqueueEvent(client, {
    ownerKind: 'merchant',
    ownerId: order.merchant_id,
    type: 'order.paid',
    data: {
      id: order.id,
      externalOrderId: order.external_order_id,
      kind: order.kind,
      iccid: order.iccid,
      plan: order.plan_id,
      currency: order.currency,
      retail: order.retail,
      wholesale: order.wholesale,
      createdAt: order.created_at.toISOString(),
    },
    atMs: order.created_at.getTime(),
  });
  return order;
}

export function createOrders(deps: SimDeps) {
  const runtime = () => deps.runtime();

  function planOf(id: string): Plan {
    const plan = runtime().catalog.plans.find((p) => p.id === id);
    if (!plan) throw invalid('plan', `'${id}' is not a plan of the catalog (GET /v1/plans)`);
    return plan;
  }

  function sameRequest(order: OrderRow, fingerprint: string): boolean {
    return deps.vault.digestMatches(fingerprint, order.request_digest);
  }

  async function afterCommit(outcome: { order: OrderRow; created: boolean; outbox: OutboxEntry[] }): Promise<OrderOutcome> {
    await deps.outbox.send(outcome.outbox);
    // One immediate attempt for invoices still pending (a replay retries too); failures stay pending for the job.
    for (const invoice of await deps.einvoices.forOrder(deps.pool, outcome.order.id)) {
      if (invoice.status === 'pending') await deps.einvoices.issue(invoice.id);
    }
    return { order: outcome.order, created: outcome.created };
  }

  /** Retries a transaction once when a concurrent request inserted the same (merchant, externalOrderId). */
  async function idempotent<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (isUniqueViolation(error)) return fn();
      throw error;
    }
  }

  function snapshot(plan: Plan) {
    const catalog = runtime().catalog;
    return {
      planId: plan.id,
      termMonths: plan.termMonths ?? null,
      packId: plan.pack ?? null,
      monthlyPackId: plan.monthlyPack ?? null,
      currency: catalog.billing.currency,
      retail: plan.retail,
      wholesale: plan.wholesale,
      taxRate: plan.taxRate ?? catalog.billing.taxRate,
    };
  }

  function requirePackTarget(plan: Plan, sim: SimRow): void {
    if (plan.pack && !sim.vin) throw invalid('plan', `plan ${plan.id} adds pack ${plan.pack}, which needs a card bound to a vehicle`);
  }

  async function sellerOf(client: PoolClient, merchantId: string) {
    const merchant = await deps.merchants.find(merchantId, client);
    if (!merchant) throw notFound(`merchant ${merchantId}`);
    return { name: merchant.name, taxId: merchant.taxId };
  }

  return {
    /** `POST /v1/orders`: a card sold from inventory (inventory → sold). */
    async create(caller: Caller, input: OrderInput): Promise<OrderOutcome> {
      if (caller.merchantId !== null && caller.merchantId !== input.merchant) throw forbidden();
      const plan = planOf(input.plan);
      const parts = orderFingerprint('sale', input.iccid, input.plan, input.buyer);
      const outcome = await idempotent(() =>
        withTransaction(deps.pool, async (client) => {
          const seller = await sellerOf(client, input.merchant);
          const sim = requireInScope(await lockSim(client, input.iccid), { actor: caller.actor, merchantId: input.merchant }, input.iccid);
          const existing = await findOrder(client, input.merchant, input.externalOrderId);
          if (existing) {
            if (!sameRequest(existing, parts)) throw conflict('IDEMPOTENCY_CONFLICT', `order ${input.externalOrderId} was already used with a different request`);
            return { order: existing, created: false, outbox: [] };
          }
          requirePackTarget(plan, sim);
          const nowMs = deps.clock.now();
          const decision = decideTransition(sim.state, 'order', { nowMs, serviceUntilMs: null, responsibleSubjectVerified: false });
          if (!decision.ok) throw conflict(decision.code, decision.message);
          const at = new Date(nowMs);
          const order = await insertPaidOrder(client, {
            merchantId: input.merchant,
            externalOrderId: input.externalOrderId,
            kind: 'sale',
            iccid: input.iccid,
            ...snapshot(plan),
            buyerNameEnc: deps.vault.encrypt(input.buyer.name, 'name'),
            buyerPhoneEnc: deps.vault.encrypt(input.buyer.phone, 'phone'),
            requestDigest: deps.vault.digest(parts),
            createdAt: at,
            createdBy: caller.actor,
            // the term and pack wait for activation (DESIGN 6: the first order's term starts at activation)
            appliedAt: null,
          });
          await updateSim(client, input.iccid, { state: 'sold', state_changed_at: at });
          await insertEvent(client, { iccid: input.iccid, event: 'order', from: sim.state, to: 'sold', actor: caller.actor, reason: `order ${input.externalOrderId} (plan ${plan.id})`, orderId: order.id, at });
          await deps.einvoices.createBlue(client, order, seller, at);
          return { order, created: true, outbox: await applyCardEffects(client, deps, input.iccid, nowMs) };
        }),
      );
      return afterCommit(outcome);
    },

    /**
     * `POST /v1/sims/{iccid}/recharges`: a renewal or top-up of an active or suspended card. A term extends
     * `serviceUntil = max(serviceUntil, activation, now) + termMonths`; a suspended card whose service now
     * reaches past now is resumed (suspended → active, by the recharge).
     */
    async recharge(caller: Caller, iccid: string, input: RechargeInput): Promise<OrderOutcome> {
      const plan = planOf(input.plan);
      const outcome = await idempotent(() =>
        withTransaction(deps.pool, async (client) => {
          const sim = requireInScope(await lockSim(client, iccid), caller, iccid);
          // The invoice's buyer: as given, else the card's buyer (its latest sale).
          const sale = await latestSale(client, iccid);
          const buyer = input.buyer ?? (sale ? { name: deps.vault.decrypt(sale.buyer_name_enc, 'name'), phone: deps.vault.decrypt(sale.buyer_phone_enc, 'phone') } : null);
          if (!buyer) throw conflict('INVALID_STATE', `the SIM is ${sim.state}; a recharge needs a sold card`);
          const parts = orderFingerprint('recharge', iccid, input.plan, buyer);
          const existing = await findOrder(client, sim.merchant_id, input.externalOrderId);
          if (existing) {
            if (!sameRequest(existing, parts)) throw conflict('IDEMPOTENCY_CONFLICT', `order ${input.externalOrderId} was already used with a different request`);
            return { order: existing, created: false, outbox: [] };
          }
          if (sim.state !== 'active' && sim.state !== 'suspended') throw conflict('INVALID_STATE', `the SIM is ${sim.state}; a recharge needs active or suspended`);
          requirePackTarget(plan, sim);
          const seller = await sellerOf(client, sim.merchant_id);
          const nowMs = deps.clock.now();
          const at = new Date(nowMs);
          const order = await insertPaidOrder(client, {
            merchantId: sim.merchant_id,
            externalOrderId: input.externalOrderId,
            kind: 'recharge',
            iccid,
            ...snapshot(plan),
            buyerNameEnc: deps.vault.encrypt(buyer.name, 'name'),
            buyerPhoneEnc: deps.vault.encrypt(buyer.phone, 'phone'),
            requestDigest: deps.vault.digest(parts),
            createdAt: at,
            createdBy: caller.actor,
            appliedAt: at,
          });
          const tz = runtime().timezone;
          const before = sim.service_until?.getTime() ?? null;
          const after = plan.termMonths ? extendService(before, sim.activated_at?.getTime() ?? null, nowMs, plan.termMonths, tz) : before;
          const touched = (await grantPlanPack(client, deps, { sim, order, nowMs })) && sim.vin ? [sim.vin] : [];
          const change = before === after || after === null ? 'serviceUntil unchanged' : `serviceUntil ${before === null ? 'none' : formatInstant(before, tz)} → ${formatInstant(after, tz)}`;
          const resume = sim.state === 'suspended' ? decideTransition('suspended', 'recharge', { nowMs, serviceUntilMs: after, responsibleSubjectVerified: true }) : null;
          const to = resume?.ok ? 'active' : sim.state;
          await updateSim(client, iccid, { service_until: after === null ? null : new Date(after), ...(to !== sim.state ? { state: to, state_changed_at: at } : {}) });
          await insertEvent(client, { iccid, event: 'recharge', from: sim.state, to, actor: caller.actor, reason: `recharge ${input.externalOrderId} (plan ${plan.id}): ${change}`, orderId: order.id, at });
          await deps.einvoices.createBlue(client, order, seller, at);
          return { order, created: true, outbox: await applyCardEffects(client, deps, iccid, nowMs, touched) };
        }),
      );
      return afterCommit(outcome);
    },

    /** Which merchant an order id belongs to, for the caller (a merchant: itself; the admin: named or unique). */
    async resolveMerchant(caller: Caller, externalOrderId: string, merchant: string | undefined): Promise<string> {
      if (caller.merchantId !== null) {
        if (merchant !== undefined && merchant !== caller.merchantId) throw notFound(`order ${externalOrderId}`);
        return caller.merchantId;
      }
      if (merchant !== undefined) return merchant;
      const owners = await merchantsWithOrder(deps.pool, externalOrderId);
      if (owners.length === 0) throw notFound(`order ${externalOrderId}`);
      if (owners.length > 1) throw invalid('merchant', `several merchants use order id ${externalOrderId}; name the merchant`);
      return owners[0]!;
    },

    async find(caller: Caller, externalOrderId: string, merchant: string | undefined): Promise<OrderRow> {
      const merchantId = await this.resolveMerchant(caller, externalOrderId, merchant);
      const order = await findOrder(deps.pool, merchantId, externalOrderId);
      if (!order) throw notFound(`order ${externalOrderId}`);
      return order;
    },

    /**
     * `POST /v1/orders/{externalOrderId}/refund`: a full refund, idempotent. Before activation the card goes
     * back to inventory (its holder registration is dropped); after it, the order's term is taken back
     * (serviceUntil − termMonths, and a card whose service thereby ended is suspended) and what is left of
     * its packs expires. A red-letter invoice reverses the order's invoice.
     */
    async refund(caller: Caller, externalOrderId: string, merchant: string | undefined, reason: string | undefined): Promise<OrderOutcome> {
      const merchantId = await this.resolveMerchant(caller, externalOrderId, merchant);
      const located = await findOrder(deps.pool, merchantId, externalOrderId);
      if (!located) throw notFound(`order ${externalOrderId}`);
      const outcome = await withTransaction(deps.pool, async (client) => {
        const sim = await lockSim(client, located.iccid);
        const order = await findOrder(client, merchantId, externalOrderId, true);
        // Neither an order nor its card is ever deleted: the row just found is there.
        if (!sim || !order) throw new Error(`order ${externalOrderId}: its row or its card ${located.iccid} is gone`);
        if (order.status === 'refunded') return { order, created: false, outbox: [] };
        const nowMs = deps.clock.now();
        const at = new Date(nowMs);
        const why = `refund of ${order.kind} ${externalOrderId}${reason ? `: ${reason}` : ''}`;
        await markOrderRefunded(client, order.id, at, caller.actor);
        let touched: string[] = [];
        if (order.applied_at === null) {
          // Not yet in effect: a sale refunded before activation returns the card to inventory.
          const decision = decideTransition(sim.state, 'refund', { nowMs, serviceUntilMs: null, responsibleSubjectVerified: false });
          if (decision.ok) {
            await deps.subjects.supersede(client, sim.iccid, 'holder');
            await deps.subjects.supersede(client, sim.iccid, 'owner');
            // The vehicle user registered through this sale goes with it; one registered through an earlier card stays (DESIGN 6).
            if (sim.vin) await clearVehicleOwnerAmong(client, sim.vin, await deps.subjects.idsOfCard(client, sim.iccid));
            await updateSim(client, sim.iccid, { state: 'inventory', state_changed_at: at, holder_subject_id: null, service_until: null, activated_at: null });
          }
          await insertEvent(client, { iccid: sim.iccid, event: 'refund', from: sim.state, to: decision.ok ? 'inventory' : sim.state, actor: caller.actor, reason: why, orderId: order.id, at });
          await deps.einvoices.createRed(client, order.id, 'SALES_RETURN', at);
        } else {
          const tz = runtime().timezone;
          const before = sim.service_until?.getTime() ?? null;
          const after = order.term_months && before !== null ? addCalendarMonths(before, -order.term_months, tz) : before;
          touched = await expireGrantedPacks(client, order.id, nowMs);
          const ended = sim.state === 'active' && after !== null && after <= nowMs;
          await updateSim(client, sim.iccid, { service_until: after === null ? null : new Date(after), ...(ended ? { state: 'suspended', state_changed_at: at } : {}) });
          const change = before === after || before === null || after === null ? '' : ` (serviceUntil ${formatInstant(before, tz)} → ${formatInstant(after, tz)})`;
          await insertEvent(client, { iccid: sim.iccid, event: 'refund', from: sim.state, to: ended ? 'suspended' : sim.state, actor: caller.actor, reason: `${why}${change}`, orderId: order.id, at });
          await deps.einvoices.createRed(client, order.id, 'SERVICE_TERMINATION', at);
        }
        const refunded = await findOrder(client, merchantId, externalOrderId);
        if (!refunded) throw new Error(`order ${externalOrderId} is gone after its refund`);
        return { order: refunded, created: true, outbox: await applyCardEffects(client, deps, sim.iccid, nowMs, touched) };
      });
      return afterCommit(outcome);
    },
  };
}

export type Orders = ReturnType<typeof createOrders>;
