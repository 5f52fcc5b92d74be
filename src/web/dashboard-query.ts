import type { Registry } from 'prom-client';
import type { Catalog } from '../catalog/index.js';
import { deadLettersByCode } from '../ledger/dead-letters.js';
import { capUseSummary } from '../ledger/repository.js';
import { topVehicleRollups } from '../ledger/rollups.js';
import { isReachable, type Pool } from '../shared/db/pool.js';
import { BYTES_PER_MIB, formatMinor, lineAmountMinor } from '../shared/money.js';

/**
 * Read models of the dashboard beyond the usage API: cap utilisation (from `cap_usage`, the counters the
 * ingest transaction keeps) and top vehicles (from `rollup_vehicle_month`). Rollups only — never a scan of
 * `allocations` or `usage_records` — so a page costs the same whatever the month's record count.
 */

export interface CapUtilisation {
  sponsorship: string;
  app: string;
  capBytes: bigint;
  vehicles: bigint;
  atCap: bigint;
  nearCap: bigint;
  usedBytes: bigint;
  capTotalBytes: bigint;
}

/** One row per capped sponsorship of `sponsor` in the catalog, for `month` ("YYYY-MM"). */
export async function capUtilisation(pool: Pick<Pool, 'query'>, catalog: Catalog, sponsor: string, month: string): Promise<CapUtilisation[]> {
  const capped = catalog.sponsorships.flatMap((s) => (s.sponsor === sponsor && s.capMiBPerVehicleMonth !== undefined ? [{ s, capMiB: s.capMiBPerVehicleMonth }] : []));
  return Promise.all(
    capped.map(async ({ s, capMiB }) => {
      const capBytes = BigInt(capMiB) * BYTES_PER_MIB;
      // "near" is ≥ 90 % of the cap, in whole bytes rounded up so that 90 % itself counts.
      const nearBytes = (capBytes * 9n + 9n) / 10n;
      const use = await capUseSummary(pool, s.id, month, capBytes, nearBytes);
      return { sponsorship: s.id, app: s.app, capBytes, ...use, capTotalBytes: use.vehicles * capBytes };
    }),
  );
}

export interface TopVehicle {
  vin: string;
  bytes: bigint;
  apps: string[];
  /** Σ of the vehicle's lines, each rounded per DESIGN 4.3 (indicative: not additive across vehicles). */
  amount: string;
}

/**
 * The ranking reads every vehicle row of the sponsor-month (about 1 s for a million vehicles on a laptop):
 * it is kept for {@link TOP_VEHICLES_TTL_MS} per (sponsor, month, limit), and concurrent page views share
 * one query. A ranking a minute old is fine for people; billed figures are never cached.
 */
export const TOP_VEHICLES_TTL_MS = 60_000;

export function createTopVehiclesCache(pool: Pick<Pool, 'query'>, now: () => number = () => performance.now(), maxEntries = 1000) {
  const entries = new Map<string, { atMs: number; result: Promise<TopVehicle[]> }>();
  return (sponsor: string, month: string, limit: number): Promise<TopVehicle[]> => {
    const key = `${sponsor}\u0000${month}\u0000${limit}`;
    const cached = entries.get(key);
    if (cached && now() - cached.atMs < TOP_VEHICLES_TTL_MS) return cached.result;
    const result = topVehicles(pool, sponsor, month, limit);
    // A failed query is not kept: the next page view asks again.
    result.catch(() => {
      if (entries.get(key)?.result === result) entries.delete(key);
    });
    entries.delete(key);
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
    entries.set(key, { atMs: now(), result });
    return result;
  };
}

/** The `limit` vehicles with the most billed bytes for `sponsor` in `month`, largest first (VIN breaks ties). */
export async function topVehicles(pool: Pick<Pool, 'query'>, sponsor: string, month: string, limit: number): Promise<TopVehicle[]> {
  const rows = await topVehicleRollups(pool, sponsor, month, limit);
  const byVin = new Map<string, { bytes: bigint; apps: Set<string>; amountMinor: bigint }>();
  for (const row of rows) {
    let entry = byVin.get(row.vin);
    if (!entry) byVin.set(row.vin, (entry = { bytes: BigInt(row.total), apps: new Set(), amountMinor: 0n }));
    entry.apps.add(row.app);
    entry.amountMinor += lineAmountMinor(BigInt(row.bytes), row.price);
  }
  return [...byVin].map(([vin, e]) => ({ vin, bytes: e.bytes, apps: [...e.apps], amount: formatMinor(e.amountMinor) }));
}

export interface IngestHealth {
  databaseUp: boolean;
  metrics: Array<{ key: 'records_accepted' | 'records_duplicate' | 'records_rejected' | 'messages_rejected' | 'poison' | 'retries' | 'lag' | 'pending' | 'commit'; value: string }>;
  deadLettersByCode: Array<{ code: string; count: number }>;
  deadLetterWindow: number;
}

const DEAD_LETTER_WINDOW = 1000;

async function metricValues(registry: Registry, name: string): Promise<Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return (await metric.get()).values as Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
}

/** Operator view: this instance's ingest counters, a live database check, and the latest dead letters by code. */
export async function ingestHealth(pool: Pick<Pool, 'query'>, registry: Registry): Promise<IngestHealth> {
  const records = await metricValues(registry, 'ingest_records_total');
  const outcome = (name: string) => records.filter((v) => v.labels.outcome === name).reduce((sum, v) => sum + v.value, 0);
  const single = async (name: string) => (await metricValues(registry, name)).reduce((sum, v) => sum + v.value, 0);
  const commit = await metricValues(registry, 'ingest_commit_seconds');
  const commitSum = commit.find((v) => v.metricName === 'ingest_commit_seconds_sum')?.value ?? 0;
  const commitCount = commit.find((v) => v.metricName === 'ingest_commit_seconds_count')?.value ?? 0;

  const databaseUp = await isReachable(pool);
  const byCode = databaseUp ? await deadLettersByCode(pool, DEAD_LETTER_WINDOW) : [];
  const integer = (n: number) => String(Math.round(n));
  return {
    databaseUp,
    metrics: [
      { key: 'records_accepted', value: integer(outcome('accepted')) },
      { key: 'records_duplicate', value: integer(outcome('duplicate')) },
      { key: 'records_rejected', value: integer(records.filter((v) => v.labels.outcome !== 'accepted' && v.labels.outcome !== 'duplicate').reduce((s, v) => s + v.value, 0)) },
      { key: 'messages_rejected', value: integer(await single('ingest_messages_rejected_total')) },
      { key: 'poison', value: integer(await single('ingest_poison_messages_total')) },
      { key: 'retries', value: integer(await single('ingest_batch_retries_total')) },
      { key: 'lag', value: (await single('ingest_lag_seconds')).toFixed(3) },
      { key: 'pending', value: integer(await single('ingest_pending_records')) },
      { key: 'commit', value: commitCount > 0 ? ((commitSum / commitCount) * 1000).toFixed(1) : '—' },
    ],
    deadLettersByCode: byCode,
    deadLetterWindow: DEAD_LETTER_WINDOW,
  };
}
