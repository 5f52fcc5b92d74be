import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from './db/pool.js';

/** One registry per service instance (never prom-client's global one), so tests can run several. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'tbox-billing' });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The outbox backlog is read from PostgreSQL at most this often, however often /metrics is scraped. */
export const DATABASE_GAUGE_REFRESH_MS = 15_000;
/** The backlog is counted up to this many messages (a bounded index scan); more reads as this. */
export const OUTBOX_COUNT_CAP = 100_000;

/**
 * Operational gauges: the PostgreSQL pool (in memory) and the outbox backlog (docs/operations.md).
 * A scrape never waits on the database once the backlog has been read: it reports the last reading and,
 * when that is older than {@link DATABASE_GAUGE_REFRESH_MS}, starts one refresh in the background — so a
 * flood of scrapes, or a scrape during a database outage, costs at most one cheap query per interval.
 */
export function registerDatabaseGauges(
  registry: Registry,
  pool: Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'>,
  /** the outbox's backlog (src/controls owns the table) */
  readBacklog: () => Promise<{ messages: number; oldestSeconds: number }>,
  now: () => number = () => performance.now(),
): void {
  new Gauge({
    name: 'db_pool_connections',
    help: 'PostgreSQL pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });

  let backlog: { messages: number; oldestSeconds: number; readAtMs: number } | null = null;
  let refreshing: Promise<void> | null = null;
  let refreshedAtMs = Number.NEGATIVE_INFINITY;
  const refresh = async () => {
    backlog = { ...(await readBacklog()), readAtMs: now() };
  };
  new Gauge({
    name: 'outbox_backlog',
    help: `Control and rules messages committed but not yet taken by the broker (counted up to ${OUTBOX_COUNT_CAP}), and the age of the oldest (seconds); read at most every ${DATABASE_GAUGE_REFRESH_MS / 1000} s`,
    labelNames: ['measure'] as const,
    registers: [registry],
    async collect() {
      if (!refreshing && now() - refreshedAtMs >= DATABASE_GAUGE_REFRESH_MS) {
        // A failed read keeps the last values; the next interval tries again.
        refreshing = refresh()
          .catch(() => undefined)
          .finally(() => {
            refreshing = null;
            refreshedAtMs = now();
          });
      }
      if (!backlog) await refreshing;
      if (!backlog) return;
      this.set({ measure: 'messages' }, backlog.messages);
      // The oldest message ages between readings (it may have been sent meanwhile: the next reading says).
      this.set({ measure: 'oldest_seconds' }, backlog.messages > 0 ? backlog.oldestSeconds + (now() - backlog.readAtMs) / 1000 : 0);
    },
  });
}
