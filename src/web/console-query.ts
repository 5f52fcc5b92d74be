import type { Catalog } from '../catalog/index.js';
import type { ControlView } from '../controls/schemas.js';
import { controlHistory, listControls, type ControlRevision } from '../controls/repository.js';
import { recentRecords, type RecentRecord } from '../ledger/vehicle-records.js';
import { sponsorVinsWithPrefix, vehicleMonthRollups } from '../ledger/rollups.js';
import type { Pool } from '../shared/db/pool.js';
import { previousMonth } from '../shared/time.js';
import { findOrder, findSim, listEvents, merchantsWithOrder, ordersOfCard, type OrderRow } from '../sims/repository.js';
import type { OrderView, SimEventView, SimView } from '../sims/schemas.js';
import { cardBindingsOf, type VehicleBinding } from '../vehicles/card-history.js';
import { vehicleOfIccid } from '../vehicles/card-repository.js';
import { findVehicleFacts, vinsWithPrefix, type VehicleFacts } from '../vehicles/fleet-repository.js';
import { packInstanceView } from '../vehicles/packs.js';
import { listPackInstances } from '../vehicles/packs-repository.js';
import type { PackInstanceView } from '../vehicles/schemas.js';
import { mapLimited, type MerchantReaders } from './merchant-query.js';

/**
 * What the operator console (console-routes.ts) reads, composed from each table's owner (docs/architecture.md):
 * vehicles and their card bindings and packs (src/vehicles), control states (src/controls), the latest
 * records with their payers and the per-vehicle rollups (src/ledger), cards, orders and their audit trail
 * through the SIM module's masked views (src/sims, the readers the merchant portal is lent). No SQL here.
 *
 * Sponsor scope (issue 14): a vehicle is in a sponsor's scope when the sponsor paid for some of its traffic
 * — a `rollup_vehicle_month` row for (sponsor, month, vin) — in the current billing month or the previous
 * one (the month whose invoice is still being closed and checked). Anything else is "not found", exactly
 * like a VIN that does not exist (404, no existence leak).
 */

export const RECENT_RECORDS = 20;
export const SEARCH_RESULTS = 20;
export const CONTROL_REVISIONS = 50;
export const CARD_ORDERS = 20;

export interface VehicleConsole {
  vehicle: VehicleFacts;
  /** the vehicle's card: its masked view when a merchant holds it, null while it is the platform's */
  sim: SimView | null;
  packs: PackInstanceView[];
  controls: ControlView[];
  /** the latest revs of its control states (control_state_history), newest first */
  history: ControlRevision[];
  records: RecentRecord[];
  /** the card's audit trail (sim_events) and its latest orders (masked) when a merchant holds it */
  events: SimEventView[];
  orders: OrderView[];
  /** the vehicle's card bindings (vehicle_iccid_history): production, swaps */
  bindings: VehicleBinding[];
}

export interface SponsorVehicleConsole {
  vehicle: Pick<VehicleFacts, 'vin' | 'model' | 'automaker'>;
  /** this sponsor's rollup lines of the vehicle, by month (newest first) */
  usage: Awaited<ReturnType<typeof vehicleMonthRollups>>;
  /** control states of the apps the sponsor pays for, and their latest revs */
  controls: ControlView[];
  history: ControlRevision[];
  /** the latest records the sponsor paid part of, with its own bytes only */
  records: Array<RecentRecord & { ownBytes: bigint }>;
}

export interface CardConsole {
  sim: SimView;
  events: SimEventView[];
  orders: OrderView[];
}

export interface ConsoleReaders {
  vehicle(vin: string): Promise<VehicleConsole | null>;
  sponsorVehicle(sponsor: string, vin: string, month: string): Promise<SponsorVehicleConsole | null>;
  /** a merchant's card (null: no merchant holds it) and its audit trail */
  card(iccid: string): Promise<CardConsole | null>;
  vehicleOfIccid(iccid: string): Promise<string | null>;
  vinsWithPrefix(prefix: string): Promise<string[]>;
  sponsorVinsWithPrefix(sponsor: string, month: string, prefix: string): Promise<string[]>;
  inSponsorScope(sponsor: string, vin: string, month: string): Promise<boolean>;
  /** the orders with this external id, across merchants (each merchant's id space is its own) */
  ordersWithId(externalOrderId: string): Promise<OrderRow[]>;
}

/** The current and previous billing month: the window a sponsor's scope is judged in. */
export const scopeMonths = (month: string) => [month, previousMonth(month)];

export function createConsoleReaders(deps: { pool: Pool; readers: MerchantReaders | undefined; catalog(): Catalog }): ConsoleReaders {
  const { pool } = deps;
  const timezone = () => deps.catalog().billing.timezone;

  async function cardView(iccid: string): Promise<CardConsole | null> {
    const readers = deps.readers;
    if (!readers) return null;
    const row = await findSim(pool, iccid);
    if (!row) return null;
    const [sim, events, orders] = await Promise.all([readers.views.sim(pool, row), listEvents(pool, iccid), ordersOfCard(pool, iccid, CARD_ORDERS)]);
    // Each order's masked view with its e-invoices, a few reads at a time.
    const orderViews = await mapLimited(orders, 4, async (order) => readers.views.order(order, await readers.einvoices.forOrder(pool, order.id)));
    return { sim, events: events.map((e) => readers.views.event(e)), orders: orderViews };
  }

  return {
    async vehicle(vin) {
      const vehicle = await findVehicleFacts(pool, vin);
      if (!vehicle) return null;
      const [card, packs, controls, history, records, bindings] = await Promise.all([
        cardView(vehicle.iccid),
        listPackInstances(pool, vin),
        listControls(pool, vin),
        controlHistory(pool, vin, CONTROL_REVISIONS),
        recentRecords(pool, vin, RECENT_RECORDS, timezone()),
        cardBindingsOf(pool, vin),
      ]);
      return { vehicle, sim: card?.sim ?? null, events: card?.events ?? [], orders: card?.orders ?? [], packs: packs.map(packInstanceView), controls, history, records, bindings };
    },

    async sponsorVehicle(sponsor, vin, month) {
      const usage = await vehicleMonthRollups(pool, sponsor, scopeMonths(month), vin);
      if (usage.length === 0) return null;
      const vehicle = await findVehicleFacts(pool, vin);
      if (!vehicle) return null;
      const apps = new Set(deps.catalog().sponsorships.filter((s) => s.sponsor === sponsor).map((s) => s.app));
      const [controls, history, records] = await Promise.all([listControls(pool, vin), controlHistory(pool, vin, CONTROL_REVISIONS), recentRecords(pool, vin, RECENT_RECORDS, timezone())]);
      return {
        vehicle: { vin: vehicle.vin, model: vehicle.model, automaker: vehicle.automaker },
        usage,
        controls: controls.filter((c) => apps.has(c.app)),
        history: history.filter((h) => apps.has(h.app)),
        // Only the records this sponsor pays part of, and only its own bytes of them (explain's rule).
        records: records.flatMap((r) => {
          const own = r.payers.filter((p) => p.payer === sponsor).reduce((sum, p) => sum + p.bytes, 0n);
          return own > 0n ? [{ ...r, payers: [], ownBytes: own }] : [];
        }),
      };
    },

    card: cardView,
    vehicleOfIccid: async (iccid) => (await vehicleOfIccid(pool, iccid))?.vin ?? null,
    vinsWithPrefix: (prefix) => vinsWithPrefix(pool, prefix, SEARCH_RESULTS),
    sponsorVinsWithPrefix: (sponsor, month, prefix) => sponsorVinsWithPrefix(pool, sponsor, scopeMonths(month), prefix, SEARCH_RESULTS),
    inSponsorScope: async (sponsor, vin, month) => (await vehicleMonthRollups(pool, sponsor, scopeMonths(month), vin)).length > 0,
    async ordersWithId(externalOrderId) {
      const merchants = await merchantsWithOrder(pool, externalOrderId);
      const orders = await mapLimited(merchants, 4, (merchant) => findOrder(pool, merchant, externalOrderId));
      return orders.filter((o): o is OrderRow => o !== null);
    },
  };
}
