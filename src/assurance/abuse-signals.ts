import { jsonBytes } from '../billing/usage-query.js';
import type { Catalog } from '../catalog/index.js';
import { hostMatchedForeignPackage, hostMatchedOutsideRanges, volumeOutliers } from '../ledger/signal-queries.js';
import type { Clock } from '../shared/clock.js';
import { withTransaction, type Pool } from '../shared/db/pool.js';
import { startedMonth } from './month.js';
import type { Signal } from './schemas.js';

/**
 * Zero-rating abuse signals (issue 13), read from the ledger for a month (billing timezone). A signal is a
 * report with its evidence, for an operator (all) and for the sponsors of the app (theirs); it never changes
 * what is billed. Only sponsored apps (an app some sponsorship pays for) are looked at:
 * - `ip_outside_app_ranges`: records classified by host whose destination IP lies outside every CIDR the
 *   catalog lists for the app (a spoofed SNI/Host tunnelling other traffic through a zero-rated name);
 * - `hotspot_on_sponsored_host`: records classified by host on the unit's own interface but opened by an
 *   in-car package that is not the app's (a phone tethered through the head unit, a browser), when the
 *   catalog lists the app's packages;
 * - `volume_outlier`: a vehicle's day of an app above {@link OUTLIER_FACTOR} × the fleet's median vehicle-day
 *   for that app in the month (and at least {@link OUTLIER_FLOOR_BYTES}), when the month has at least
 *   {@link OUTLIER_MIN_SAMPLES} vehicle-days of the app.
 */
export const OUTLIER_FACTOR = 10;
export const OUTLIER_FLOOR_BYTES = 100n * 1_048_576n;
export const OUTLIER_MIN_SAMPLES = 5;

export interface SignalDeps {
  pool: Pool;
  clock: Clock;
  catalog(): Catalog;
}

export function createAbuseSignals(deps: SignalDeps) {
  return {
    async month(month: string, sponsor?: string): Promise<{ month: string; signals: Signal[] }> {
      const catalog = deps.catalog();
      const tz = catalog.billing.timezone;
      const { from, to } = startedMonth(month, tz, deps.clock.now());
      const sponsorsOf = new Map<string, string[]>();
      for (const s of catalog.sponsorships) sponsorsOf.set(s.app, [...new Set([...(sponsorsOf.get(s.app) ?? []), s.sponsor])].sort());
      const apps = [...sponsorsOf.keys()].filter((app) => sponsor === undefined || sponsorsOf.get(app)!.includes(sponsor)).sort();
      const appsById = new Map(catalog.apps.map((a) => [a.id, a]));
      const ranges = new Map(apps.flatMap((id) => (appsById.get(id)?.cidrs.length ? [[id, appsById.get(id)!.cidrs] as const] : [])));
      const packages = new Map(apps.flatMap((id) => (appsById.get(id)?.packages.length ? [[id, appsById.get(id)!.packages] as const] : [])));
      const found = await withTransaction(deps.pool, async (db) => {
        await db.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        return {
          outside: await hostMatchedOutsideRanges(db, from, to, tz, ranges),
          foreign: await hostMatchedForeignPackage(db, from, to, tz, packages),
          outliers: await volumeOutliers(db, from, to, tz, apps, { factor: OUTLIER_FACTOR, floorBytes: OUTLIER_FLOOR_BYTES, minSamples: OUTLIER_MIN_SAMPLES }),
        };
      });
      const signals: Signal[] = [
        ...found.outside.map((g): Signal => ({
          kind: 'ip_outside_app_ranges', vin: g.vin, app: g.app, sponsors: sponsorsOf.get(g.app) ?? [], day: g.day, bytes: jsonBytes(g.bytes), records: g.records,
          evidence: { ips: g.samples, hosts: g.hosts, appCidrs: [...(ranges.get(g.app) ?? [])] },
        })),
        ...found.foreign.map((g): Signal => ({
          kind: 'hotspot_on_sponsored_host', vin: g.vin, app: g.app, sponsors: sponsorsOf.get(g.app) ?? [], day: g.day, bytes: jsonBytes(g.bytes), records: g.records,
          evidence: { packages: g.samples, hosts: g.hosts, appPackages: [...(packages.get(g.app) ?? [])] },
        })),
        ...found.outliers.map((o): Signal => ({
          kind: 'volume_outlier', vin: o.vin, app: o.app, sponsors: sponsorsOf.get(o.app) ?? [], day: o.day, bytes: jsonBytes(o.bytes), records: o.records,
          evidence: { fleetMedianBytes: jsonBytes(o.median), vehicleDays: o.samples, factor: OUTLIER_FACTOR, timesMedian: o.median > 0n ? Number((o.bytes * 10n) / o.median) / 10 : 0 },
        })),
      ].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.vin < b.vin ? -1 : a.vin > b.vin ? 1 : a.kind < b.kind ? -1 : 1));
      return { month, signals };
    },
  };
}

export type AbuseSignals = ReturnType<typeof createAbuseSignals>;
