import type { OutboxEntry } from '../controls/repository.js';
import { RealNameProviderError, type VerificationOutcome } from '../realname/provider.js';
import type { RealNameSubmission } from '../realname/validate.js';
import { withTransaction, type PoolClient } from '../shared/db/pool.js';
import { AppError, conflict, invalid, notFound } from '../shared/errors.js';
import { addCalendarMonths, formatInstant } from '../shared/time.js';
import { cardOfVehicle, lockVehicle, setVehicleOwner } from '../vehicles/card-repository.js';
import { requireInScope, type Caller } from './caller.js';
import { applyCardEffects, grantPlanPack } from './card-effects.js';
import type { SimDeps } from './deps.js';
import { countCardsInService, findSim, insertEvent, lockSim, markOrderApplied, unappliedOrders, updateSim, type SimRow } from './repository.js';
import { decideTransition, type SimEvent, type SimState } from './state-machine.js';

/** DESIGN 6: at most this many cards in `active` or `suspended` per individual ID number, platform-wide. */
export const CARDS_PER_ID_LIMIT = 10;

export type ManualEvent = Extract<SimEvent, 'startTest' | 'endTest' | 'activate' | 'suspend' | 'resume' | 'retire'>;

/** serviceUntil after a term: `max(serviceUntil, activation, now) + termMonths` calendar months (DESIGN 6). */
export function extendService(serviceUntilMs: number | null, activatedAtMs: number | null, nowMs: number, termMonths: number, timeZone: string): number {
  const from = Math.max(serviceUntilMs ?? Number.NEGATIVE_INFINITY, activatedAtMs ?? Number.NEGATIVE_INFINITY, nowMs);
  return addCalendarMonths(from, termMonths, timeZone);
}

const fail = (decision: { code: string; message: string }) => conflict(decision.code, decision.message);

export function createLifecycle(deps: SimDeps) {
  const timeZone = () => deps.runtime().timezone;

  /** Runs `fn` on the locked card in one transaction, then sends the control messages it queued. */
  async function onCard<T>(iccid: string, caller: Caller, fn: (client: PoolClient, sim: SimRow, nowMs: number) => Promise<{ result: T; outbox: OutboxEntry[] }>): Promise<T> {
    const { result, outbox } = await withTransaction(deps.pool, async (client) => {
      const sim = requireInScope(await lockSim(client, iccid), caller, iccid);
      return fn(client, sim, deps.clock.now());
    });
    await deps.outbox.send(outbox);
    return result;
  }

  /** Is the card's responsible subject verified? A vehicle card's is its automaker, verified at production binding. */
  function responsibleSubjectVerified(sim: SimRow): boolean {
    return sim.vin !== null || sim.holder_subject_id !== null;
  }

  /** DESIGN 6 activation: the subject verified, the per-ID limit under a lock, then the waiting terms and packs. */
  async function activate(client: PoolClient, sim: SimRow, nowMs: number, caller: Caller, reason: string): Promise<OutboxEntry[]> {
    const decision = decideTransition(sim.state, 'activate', { nowMs, serviceUntilMs: sim.service_until?.getTime() ?? null, responsibleSubjectVerified: responsibleSubjectVerified(sim) });
    if (!decision.ok) throw fail(decision);
    if (!sim.vin && sim.holder_subject_id) {
      const holder = await deps.subjects.find(client, sim.holder_subject_id);
      if (holder?.type === 'individual') {
        const idNumber = deps.vault.decrypt(holder.id_number_enc, 'idNumber');
        const inService = await countCardsInService(client, await deps.subjects.lockIdNumber(client, idNumber));
        if (inService >= CARDS_PER_ID_LIMIT) {
          throw conflict('REALNAME_LIMIT', `the holder's ID number already has ${inService} cards in service; at most ${CARDS_PER_ID_LIMIT} are allowed (DESIGN 6)`);
        }
      }
    }
    const activatedAt = new Date(nowMs);
    let serviceUntilMs = sim.service_until?.getTime() ?? null;
    const active: SimRow = { ...sim, state: 'active', state_changed_at: activatedAt, activated_at: activatedAt };
    // The first order's term starts at activation (DESIGN 6); its pack is added now too.
    for (const order of await unappliedOrders(client, sim.iccid)) {
      if (order.term_months) serviceUntilMs = extendService(serviceUntilMs, nowMs, nowMs, order.term_months, timeZone());
      await grantPlanPack(client, deps, { sim: active, order, nowMs });
      await markOrderApplied(client, order.id, activatedAt);
    }
    await updateSim(client, sim.iccid, { state: 'active', state_changed_at: activatedAt, activated_at: activatedAt, service_until: serviceUntilMs === null ? null : new Date(serviceUntilMs) });
    await insertEvent(client, { iccid: sim.iccid, event: 'activate', from: sim.state, to: 'active', actor: caller.actor, reason, at: activatedAt });
    return applyCardEffects(client, deps, sim.iccid, nowMs, sim.vin ? [sim.vin] : []);
  }

  /** The card as a committed change left it; cards are never deleted, so a missing one is a bug said plainly. */
  async function reread(iccid: string): Promise<SimRow> {
    const sim = await findSim(deps.pool, iccid);
    if (!sim) throw new Error(`card ${iccid} is gone after a committed change`);
    return sim;
  }

  async function transition(iccid: string, event: ManualEvent, caller: Caller, reason: string | undefined): Promise<SimRow> {
    return onCard(iccid, caller, async (client, sim, nowMs) => {
      const why = reason ?? `${event} requested`;
      if (event === 'activate') return { result: null, outbox: await activate(client, sim, nowMs, caller, why) };
      const decision = decideTransition(sim.state, event, { nowMs, serviceUntilMs: sim.service_until?.getTime() ?? null, responsibleSubjectVerified: responsibleSubjectVerified(sim) });
      if (!decision.ok) throw fail(decision);
      const at = new Date(nowMs);
      await updateSim(client, iccid, { state: decision.to, state_changed_at: at });
      await insertEvent(client, { iccid, event, from: decision.from, to: decision.to, actor: caller.actor, reason: why, at });
      return { result: null, outbox: await applyCardEffects(client, deps, iccid, nowMs) };
    }).then(async () => (await reread(iccid)));
  }

  /** The scheduler's suspension (DESIGN 6): an active card whose serviceUntil has passed. False when it no longer applies. */
  async function expire(iccid: string, actor: string): Promise<boolean> {
    return onCard(iccid, { actor, merchantId: null }, async (client, sim, nowMs) => {
      const serviceUntilMs = sim.service_until?.getTime() ?? null;
      const decision = decideTransition(sim.state, 'expire', { nowMs, serviceUntilMs, responsibleSubjectVerified: true });
      // (expire applies only to a card with a serviceUntil; the null check says so to the compiler too)
      if (!decision.ok || serviceUntilMs === null) return { result: false, outbox: [] };
      const at = new Date(nowMs);
      await updateSim(client, iccid, { state: 'suspended', state_changed_at: at });
      await insertEvent(client, { iccid, event: 'expire', from: sim.state, to: 'suspended', actor, reason: `serviceUntil ${formatInstant(serviceUntilMs, timeZone())} passed`, at });
      return { result: true, outbox: await applyCardEffects(client, deps, iccid, nowMs) };
    });
  }

  /**
   * Real-name registration (DESIGN 6). The submission is stored (encrypted) as pending and committed before
   * the provider is called with its idempotency key; the answer is recorded in a second transaction. A
   * timeout or an outage leaves the card unchanged and the submission pending: sending the same body again
   * retries with the same key (no second verification at the provider).
   */
  async function submitRealName(iccid: string, caller: Caller, submission: RealNameSubmission): Promise<SimRow> {
    const role = submission.role;
    const prepared = await withTransaction(deps.pool, async (client) => {
      const sim = requireInScope(await lockSim(client, iccid), caller, iccid);
      if (role === 'holder') {
        if (sim.vin) throw invalid('role', `the card is bound to vehicle ${sim.vin}: its responsible subject is the automaker (verified at production); register the vehicle user with role "owner"`);
        if (sim.state !== 'sold') throw conflict('INVALID_STATE', `the SIM is ${sim.state}; the holder registers between the sale and activation (sold)`);
      } else {
        if (!sim.vin) throw invalid('role', 'only a card bound to a vehicle has an owner (the vehicle user)');
        if (!['sold', 'active', 'suspended'].includes(sim.state)) throw conflict('INVALID_STATE', `the SIM is ${sim.state}; the vehicle user registers on a sold, active or suspended card`);
      }
      const latest = await deps.subjects.latest(client, iccid, role, true);
      if (latest && deps.subjects.sameSubmission(latest, submission)) {
        if (latest.status === 'verified') return { replay: true as const };
        if (latest.status === 'pending') return { replay: false as const, subject: latest };
      }
      // The vehicle user is the car's (vehicles.owner_subject_id): registered through an earlier card, it still counts.
      if (role === 'owner' ? sim.owner_subject_id !== null : latest?.status === 'verified') {
        throw conflict(
          'REALNAME_ALREADY_VERIFIED',
          role === 'owner' ? `the vehicle user is already verified; POST /v1/vehicles/${sim.vin}/owner-change first` : 'the holder is already verified',
        );
      }
      await deps.subjects.supersede(client, iccid, role);
      const subject = await deps.subjects.insertPending(client, { iccid, submission, actor: caller.actor, at: new Date(deps.clock.now()) });
      return { replay: false as const, subject };
    });
    if (prepared.replay) return (await reread(iccid));
    const subject = prepared.subject;

    let outcome: VerificationOutcome;
    try {
      const provider = deps.realName();
      outcome =
        submission.type === 'individual'
          ? await provider.verifyIndividual({ requestId: subject.provider_request_id, name: submission.name, idNumber: submission.idNumber, livenessToken: submission.livenessToken })
          : await provider.verifyEnterprise({ requestId: subject.provider_request_id, name: submission.name, uscc: submission.uscc, agent: submission.agent });
    } catch (error) {
      if (!(error instanceof RealNameProviderError)) throw error;
      await deps.subjects.noteFailure(deps.pool, subject.id, error.message);
      deps.logger.warn({ iccid, subject: subject.id, failure: error.failure }, 'real-name provider call failed; the submission stays pending');
      const retry = 'the submission is pending; send the same request again to retry';
      if (error.failure === 'timeout') throw new AppError('PROVIDER_TIMEOUT', `${error.message}; ${retry}`, 504);
      if (error.failure === 'unavailable') throw new AppError('PROVIDER_UNAVAILABLE', `${error.message}; ${retry}`, 503);
      throw new AppError('PROVIDER_ERROR', `${error.message}; ${retry}`, 502);
    }

    await onCard(iccid, { actor: caller.actor, merchantId: null }, async (client, sim, nowMs) => {
      const current = await deps.subjects.find(client, subject.id, true);
      if (!current || current.status !== 'pending') return { result: null, outbox: [] };
      const at = new Date(nowMs);
      const stillApplies = role === 'holder' ? sim.state === 'sold' && !sim.vin : ['sold', 'active', 'suspended'].includes(sim.state) && sim.vin !== null;
      await deps.subjects.decide(client, subject.id, { verified: outcome.verified && stillApplies, reference: outcome.reference, reason: outcome.verified ? (stillApplies ? null : `the card became ${sim.state}`) : outcome.reason }, at);
      const label = `${role === 'owner' ? 'vehicle user' : 'holder'} (${submission.type})`;
      if (!outcome.verified || !stillApplies) {
        await insertEvent(client, { iccid, event: 'real-name', from: sim.state, to: sim.state, actor: caller.actor, reason: `${label} rejected: ${outcome.verified ? 'the card changed state' : outcome.reason}`, at });
        return { result: null, outbox: [] };
      }
      if (role === 'holder') await updateSim(client, iccid, { holder_subject_id: subject.id });
      else await setVehicleOwner(client, sim.vin!, subject.id);
      await insertEvent(client, { iccid, event: 'real-name', from: sim.state, to: sim.state, actor: caller.actor, reason: `${label} verified`, at });
      return { result: null, outbox: await applyCardEffects(client, deps, iccid, nowMs) };
    });
    if (!outcome.verified) {
      throw new AppError('REALNAME_REJECTED', `the verification provider rejected the ${role}: ${outcome.reason}`, 422, submission.type === 'individual' ? 'livenessToken' : undefined);
    }
    const after = (await reread(iccid));
    if ((role === 'holder' ? after.holder_subject_id : after.owner_subject_id) !== subject.id) {
      throw conflict('INVALID_STATE', `the SIM is ${after.state}; the registration no longer applies`);
    }
    return after;
  }

  /**
   * A used-car sale (DESIGN 5, 6): the vehicle user's real-name is cleared and `REALNAME_REQUIRED` comes
   * back on `general` and `wifi-hotspot` until the new user registers.
   */
  async function changeOwner(vin: string, caller: Caller, reason: string | undefined): Promise<SimRow | { vin: string; iccid: string }> {
    const iccid = await cardOfVehicle(deps.pool, vin);
    if (!iccid) throw notFound(`vehicle ${vin}`);
    const why = reason ?? 'vehicle sold to a new user';
    if (!(await findSim(deps.pool, iccid))) {
      // The vehicle's card is the platform's (after a SIM swap): the user registered through an earlier card is
      // still the vehicle's and goes now; the event is written on the card it was registered through.
      await withTransaction(deps.pool, async (client) => {
        const ownerId = (await lockVehicle(client, vin))?.ownerSubjectId;
        if (!ownerId) return;
        const subject = await deps.subjects.find(client, ownerId);
        if (!subject) throw new Error(`vehicle ${vin}: owner subject ${ownerId} is not in realname_subjects`);
        const card = await lockSim(client, subject.iccid);
        await deps.subjects.supersedeOne(client, ownerId);
        await setVehicleOwner(client, vin, null);
        if (card) await insertEvent(client, { iccid: card.iccid, event: 'owner-change', from: card.state, to: card.state, actor: caller.actor, reason: `vehicle ${vin}: ${why}`, at: new Date(deps.clock.now()) });
      });
      return { vin, iccid };
    }
    await onCard(iccid, caller, async (client, sim, nowMs) => {
      const at = new Date(nowMs);
      await deps.subjects.supersede(client, iccid, 'owner');
      if (sim.owner_subject_id) await deps.subjects.supersedeOne(client, sim.owner_subject_id);
      await setVehicleOwner(client, vin, null);
      await insertEvent(client, { iccid, event: 'owner-change', from: sim.state, to: sim.state, actor: caller.actor, reason: why, at });
      return { result: null, outbox: await applyCardEffects(client, deps, iccid, nowMs) };
    });
    return (await reread(iccid));
  }

  return { transition, expire, submitRealName, changeOwner, onCard, activate };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
export type { SimState };
