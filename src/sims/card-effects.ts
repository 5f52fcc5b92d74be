import { reevaluateFunding } from '../controls/funding.js';
import { applyControlChanges, type OutboxEntry } from '../controls/repository.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import type { PoolClient } from '../shared/db/pool.js';
import { BYTES_PER_MIB } from '../shared/money.js';
import { daysToMs, formatInstant, monthOf, nextMonth, startOfMonth } from '../shared/time.js';
import { lockVehicle } from '../vehicles/card-repository.js';
import { expirePacks, insertGrantedPack } from '../vehicles/packs-repository.js';
import { cardControlChanges } from './controls.js';
import type { SimDeps } from './deps.js';
import { findSim, insertPackGrant, monthlyPackOrder, packsGrantedBy, type OrderRow, type SimRow } from './repository.js';

/**
 * What a card does to its vehicle (DESIGN 6), inside the caller's transaction: the packs its plans grant,
 * taken back by a refund, and the control reasons of src/sims/controls.ts.
 */

export const formatAtFor = (runtime: CatalogRuntime) => (ms: number) => formatInstant(ms, runtime.timezone);

/** Adds a plan's `pack` to the card's vehicle (DESIGN 6), `expiresAt = purchasedAt + validDays`. */
export async function grantPlanPack(client: PoolClient, deps: SimDeps, input: { sim: SimRow; order: OrderRow; nowMs: number }): Promise<boolean> {
  const { sim, order, nowMs } = input;
  if (!sim.vin || !order.pack_id) return false;
  const pack = deps.runtime().catalog.packs.find((p) => p.id === order.pack_id);
  if (!pack) {
    deps.logger.warn({ iccid: sim.iccid, pack: order.pack_id }, 'plan pack is no longer in the catalog; not granted');
    return false;
  }
  return insertGrant(client, {
    vin: sim.vin,
    iccid: sim.iccid,
    orderId: order.id,
    packId: pack.id,
    sizeBytes: BigInt(pack.sizeMiB) * BYTES_PER_MIB,
    purchasedAtMs: nowMs,
    expiresAtMs: nowMs + daysToMs(pack.validDays),
    externalOrderId: `sim-order-${order.id}`,
    kind: 'plan',
    month: null,
    nowMs,
  });
}

/**
 * The plan's `monthlyPack` for the current billing month (DESIGN 6: granted at each billing-month start
 * during the term, valid until the next month start). Granted once per card and month; a card that
 * becomes active mid-month gets it from that moment.
 */
export async function grantMonthlyPack(client: PoolClient, deps: SimDeps, sim: SimRow, nowMs: number): Promise<boolean> {
  if (!sim.vin || sim.state !== 'active') return false;
  if (sim.service_until && sim.service_until.getTime() <= nowMs) return false;
  const order = await monthlyPackOrder(client, sim.iccid);
  if (!order?.monthly_pack_id) return false;
  const runtime = deps.runtime();
  const pack = runtime.catalog.packs.find((p) => p.id === order.monthly_pack_id);
  if (!pack) {
    deps.logger.warn({ iccid: sim.iccid, pack: order.monthly_pack_id }, 'monthly pack is no longer in the catalog; not granted');
    return false;
  }
  const month = monthOf(nowMs, runtime.timezone);
  const monthStart = startOfMonth(month, runtime.timezone);
  return insertGrant(client, {
    vin: sim.vin,
    iccid: sim.iccid,
    orderId: order.id,
    packId: pack.id,
    sizeBytes: BigInt(pack.sizeMiB) * BYTES_PER_MIB,
    purchasedAtMs: Math.max(monthStart, sim.state_changed_at.getTime()),
    expiresAtMs: startOfMonth(nextMonth(month), runtime.timezone),
    externalOrderId: `sim-monthly-${sim.iccid}-${month}`,
    kind: 'monthly',
    month: `${month}-01`,
    nowMs,
  });
}

async function insertGrant(
  client: PoolClient,
  g: { vin: string; iccid: string; orderId: string; packId: string; sizeBytes: bigint; purchasedAtMs: number; expiresAtMs: number; externalOrderId: string; kind: 'plan' | 'monthly'; month: string | null; nowMs: number },
): Promise<boolean> {
  const id = await insertGrantedPack(client, {
    vin: g.vin,
    packId: g.packId,
    purchasedAt: new Date(g.purchasedAtMs),
    expiresAt: new Date(g.expiresAtMs),
    sizeBytes: g.sizeBytes,
    externalOrderId: g.externalOrderId,
    grantedBy: `sim-${g.kind}`,
    createdAt: new Date(g.nowMs),
  });
  if (id === null) return false;
  await insertPackGrant(client, { packInstanceId: id, iccid: g.iccid, orderId: g.orderId, kind: g.kind, month: g.month });
  return true;
}

/** A refund takes back the packs its order granted: what is left of them expires now. Returns the VINs touched. */
export async function expireGrantedPacks(client: PoolClient, orderId: string, nowMs: number): Promise<string[]> {
  return expirePacks(client, await packsGrantedBy(client, orderId), new Date(nowMs));
}

/**
 * Brings a vehicle card's effects in line with the card, inside the caller's transaction (the card row is
 * locked): the month's pack when active, then the control reasons of src/sims/controls.ts. The vehicle row
 * is locked first, in the same order as ingest (vehicle → control states). Returns outbox entries to send
 * after the commit.
 */
export async function applyCardEffects(client: PoolClient, deps: SimDeps, iccid: string, nowMs: number, touchedVins: readonly string[] = []): Promise<OutboxEntry[]> {
  const sim = await findSim(client, iccid);
  const runtime = deps.runtime();
  const outbox: OutboxEntry[] = [];
  const fundingVins = new Set(touchedVins);
  if (sim?.vin) {
    await lockVehicle(client, sim.vin);
    if (await grantMonthlyPack(client, deps, sim, nowMs)) fundingVins.add(sim.vin);
  }
  if (fundingVins.size > 0) outbox.push(...(await reevaluateFunding(client, runtime, [...fundingVins], nowMs)));
  if (sim?.vin) {
    const changes = cardControlChanges(sim.vin, { state: sim.state, ownerVerified: sim.owner_subject_id !== null }, runtime.blockableApps);
    outbox.push(...(await applyControlChanges(client, changes, nowMs, formatAtFor(runtime))));
  }
  return outbox;
}
