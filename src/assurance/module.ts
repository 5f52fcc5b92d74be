import type { Registry } from 'prom-client';
import type { FastifyZodInstance } from '../api/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Clock } from '../shared/clock.js';
import type { Config } from '../shared/config.js';
import type { Pool } from '../shared/db/pool.js';
import { createAbuseSignals } from './abuse-signals.js';
import { createBreakageReport } from './breakage-report.js';
import { createAssuranceMetrics } from './metrics.js';
import { percentToBasisPoints } from './reconcile.js';
import { createReconciliation } from './reconciliation.js';
import { assuranceRoutes } from './routes.js';
import { createUnreportedTotals } from './unreported.js';

export interface AssuranceDeps {
  pool: Pool;
  clock: Clock;
  config: Pick<Config, 'CARRIER_TIMEZONE' | 'RECONCILE_TOLERANCE_PERCENT' | 'RECONCILE_TOLERANCE_BYTES'>;
  metrics: Registry;
  catalog(): Catalog;
}

/** Revenue assurance (issue 13), assembled once by the composition root. */
export function createAssuranceModule(deps: AssuranceDeps) {
  const metrics = createAssuranceMetrics(deps.metrics);
  const imports = { pool: deps.pool, clock: deps.clock, carrierTimezone: deps.config.CARRIER_TIMEZONE };
  const reconciliation = createReconciliation({
    pool: deps.pool,
    clock: deps.clock,
    carrierTimezone: deps.config.CARRIER_TIMEZONE,
    tolerance: { basisPoints: percentToBasisPoints(deps.config.RECONCILE_TOLERANCE_PERCENT), floorBytes: BigInt(deps.config.RECONCILE_TOLERANCE_BYTES) },
    tolerancePercent: deps.config.RECONCILE_TOLERANCE_PERCENT,
    onGap: (month, unexplainedBytes, gapBytes) => metrics.setGap(month, unexplainedBytes, gapBytes),
  });
  const breakage = createBreakageReport({ pool: deps.pool, clock: deps.clock, catalog: deps.catalog });
  const signals = createAbuseSignals({ pool: deps.pool, clock: deps.clock, catalog: deps.catalog });
  return {
    imports,
    reconciliation,
    breakage,
    signals,
    /** for the period close (`billing.unreported: overage`) */
    unreported: createUnreportedTotals({ pool: deps.pool, catalog: deps.catalog, reconciliation, carrierTimezone: deps.config.CARRIER_TIMEZONE }),
    routes: (app: FastifyZodInstance) => assuranceRoutes(app, { imports, reconciliation, breakage, signals, catalog: deps.catalog }),
  };
}
