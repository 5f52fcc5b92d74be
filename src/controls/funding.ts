import { fundsExhausted, type FundingState } from '../allocate/index.js';
import { loadFunding } from '../ledger/repository.js';
import { lockVehicles, type VehicleForIngest } from '../vehicles/fleet-repository.js';
import type { PoolClient } from '../shared/db/pool.js';
import { formatInstant, monthOf } from '../shared/time.js';
import type { CatalogRuntime } from '../catalog/runtime.js';
import { applyControlChanges, type ControlChange, type OutboxEntry } from './repository.js';

/** DESIGN 3.3: FUNDS_EXHAUSTED for every blockable app of a vehicle, from its funding state now. */
export function fundingChanges(runtime: CatalogRuntime, vehicle: VehicleForIngest, state: FundingState, nowMs: number): ControlChange[] {
  // A vehicle never activated has no funding to exhaust; its records are all BEFORE_ACTIVATION.
  if (vehicle.activatedAtMs === null) return [];
  const input = { vin: vehicle.vin, automaker: vehicle.automaker, model: vehicle.model, activatedAt: vehicle.activatedAtMs };
  return runtime.blockableApps.map((app) => ({ vin: vehicle.vin, app, reason: 'FUNDS_EXHAUSTED' as const, present: fundsExhausted(runtime.funding, input, app, nowMs, state) }));
}

/**
 * Re-evaluates funding for vehicles outside ingest (a pack bought or expired, a month started), inside
 * the caller's transaction, under the same vehicle locks as ingest. Returns the control messages queued.
 */
export async function reevaluateFunding(client: PoolClient, runtime: CatalogRuntime, vins: readonly string[], nowMs: number): Promise<OutboxEntry[]> {
  if (vins.length === 0) return [];
  const sorted = [...new Set(vins)].sort();
  const vehicles = await lockVehicles(client, sorted);
  const funding = await loadFunding(client, sorted, [monthOf(nowMs, runtime.timezone)]);
  const changes = [...vehicles.values()].flatMap((vehicle) => fundingChanges(runtime, vehicle, funding.get(vehicle.vin)!, nowMs));
  return applyControlChanges(client, changes, nowMs, (ms) => formatInstant(ms, runtime.timezone));
}
