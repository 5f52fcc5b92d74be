import { Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per service instance (never prom-client's global one), so tests can run several. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'tbox-billing' });
  collectDefaultMetrics({ register: registry });
  return registry;
}
