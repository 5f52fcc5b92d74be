import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Exporter metrics. `watermarkLagSeconds` is computed at scrape time from the clock and the last watermark
 * seen, so it keeps growing through an InfluxDB (or database) outage even though no run succeeds.
 * Steady state is about safetyLag + one minute + one interval (≈ 130 s with the defaults).
 */
export function createTimeseriesMetrics(registry: Registry, lagSeconds: () => number | null) {
  return {
    pointsWritten: new Counter({ name: 'timeseries_points_written_total', help: 'Usage points InfluxDB accepted (rewrites of a minute count again)', registers: [registry] }),
    writeFailures: new Counter({ name: 'timeseries_write_failures_total', help: 'InfluxDB write requests that failed (the minutes are backfilled from the ledger)', registers: [registry] }),
    watermarkLagSeconds: new Gauge({
      name: 'timeseries_watermark_lag_seconds',
      help: 'Now minus the time-series watermark (everything committed before it is in InfluxDB)',
      registers: [registry],
      collect() {
        const lag = lagSeconds();
        if (lag !== null) this.set(lag);
      },
    }),
  };
}
