import { applyControlChanges, type OutboxEntry } from '../controls/repository.js';
import { withTransaction } from '../shared/db/pool.js';
import { conflict, notFound } from '../shared/errors.js';
import { cardOfVehicle, lockVehicleForRebinding, rebindVehicleCard, vehicleOfIccid } from '../vehicles/card-repository.js';
import { lockIccids } from '../vehicles/iccid-lock.js';
import type { Caller } from './caller.js';
import { formatAtFor } from './card-effects.js';
import type { SimDeps } from './deps.js';
import { cardControlChanges } from './controls.js';
import { insertEvent, lockSim, simExists } from './repository.js';

/**
 * SIM swap, `PUT /v1/vehicles/{vin}/iccid` (DESIGN 5, admin): the vehicle gets a new card, in one
 * transaction under the ICCID lock of both cards (src/vehicles/iccid-lock.ts):
 * - the new card must be free: not bound to another vehicle, not held by any merchant (409
 *   `DUPLICATE_ICCID`); it is the platform's card until the admin assigns it to a merchant;
 * - the old card leaves the vehicle: its binding in `vehicle_iccid_history` is closed at the swap (usage
 *   before it stays on that card's history), and a merchant's card keeps its row and state, no longer a
 *   vehicle card (a `sim-swap` event in its trail);
 * - the vehicle user's real-name stays with the vehicle (vehicles.owner_subject_id, DESIGN 6): the same
 *   owner's car; the responsible enterprise is the automaker, as for every vehicle card;
 * - the vehicle's card reasons are those of its new card: none while it is the platform's
 *   (src/sims/controls.ts), so `SIM_SUSPENDED` and `REALNAME_REQUIRED` of a merchant's old card go with it.
 * The same ICCID again is a no-op (idempotent).
 */
export function createSimSwap(deps: SimDeps) {
  return async function swapVehicleCard(vin: string, iccid: string, caller: Caller, reason?: string): Promise<{ changed: boolean }> {
    for (let attempt = 0; ; attempt += 1) {
      const before = await cardOfVehicle(deps.pool, vin);
      if (before === null) throw notFound(`vehicle ${vin}`);
      if (before === iccid) return { changed: false };
      const outcome = await withTransaction(deps.pool, async (client) => {
        await lockIccids(client, [before, iccid]);
        // Same lock order as every card change: the card row, then the vehicle row.
        const oldCard = await lockSim(client, before);
        if ((await lockVehicleForRebinding(client, vin)) !== before) return { retry: true as const };
        const bound = await vehicleOfIccid(client, iccid);
        const held = await simExists(client, iccid);
        if (bound || held) throw conflict('DUPLICATE_ICCID', `ICCID ${iccid} is already on the platform (bound to a vehicle or held by a merchant); a swap needs a free card`);
        const nowMs = deps.clock.now();
        const at = new Date(nowMs);
        const why = reason ?? `SIM swap ${before} → ${iccid}`;
        await rebindVehicleCard(client, { vin, iccid, at, actor: caller.actor, reason: why });
        if (oldCard) {
          await insertEvent(client, { iccid: before, event: 'sim-swap', from: oldCard.state, to: oldCard.state, actor: caller.actor, reason: `left vehicle ${vin}: ${why}`, at });
        }
        const runtime = deps.runtime();
        const outbox: OutboxEntry[] = await applyControlChanges(client, cardControlChanges(vin, null, runtime.blockableApps), nowMs, formatAtFor(runtime));
        return { retry: false as const, outbox };
      });
      if (!outcome.retry) {
        await deps.outbox.send(outcome.outbox);
        return { changed: true };
      }
      // A concurrent swap of the same vehicle committed in between: decide again on what it left.
      if (attempt >= 3) throw conflict('CONCURRENT_CHANGE', `vehicle ${vin} is being changed concurrently; try again`);
    }
  };
}

export type SimSwap = ReturnType<typeof createSimSwap>;
