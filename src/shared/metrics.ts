import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from './db/pool.js';

/** One registry per service instance (never prom-client's global one), so tests can run several. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'tbox-billing' });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Operational gauges read at scrape time: the PostgreSQL pool and the outbox backlog (docs/operations.md). */
export function registerDatabaseGauges(registry: Registry, pool: Pool): void {
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
  new Gauge({
    name: 'outbox_backlog',
    help: 'Control and rules messages committed but not yet taken by the broker, and the age of the oldest (seconds)',
    labelNames: ['measure'] as const,
    registers: [registry],
    async collect() {
      const { rows } = await pool.query<{ n: number; age: number | null }>('SELECT count(*)::int AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM outbox');
      this.set({ measure: 'messages' }, rows[0]?.n ?? 0);
      this.set({ measure: 'oldest_seconds' }, Math.max(0, rows[0]?.age ?? 0));
    },
  });
}
