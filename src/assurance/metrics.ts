import { Gauge, type Registry } from 'prom-client';

/**
 * The reconciliation gap as Prometheus gauges, per month (carrier timezone), set each time a month is
 * reconciled (the API, the operator page, and after each carrier import for the months it touched), so a
 * scrape never runs the reconciliation itself.
 */
export function createAssuranceMetrics(registry: Registry) {
  const unexplained = new Gauge({
    name: 'reconciliation_unexplained_bytes',
    help: 'Bytes the carrier billed that no usage record explains (card-days reported less than the carrier, or with no records), by month',
    labelNames: ['month'] as const,
    registers: [registry],
  });
  const gap = new Gauge({
    name: 'reconciliation_gap_bytes',
    help: 'Carrier bytes minus ledger bytes over every judged card-day, by month',
    labelNames: ['month'] as const,
    registers: [registry],
  });
  return {
    setGap(month: string, unexplainedBytes: bigint, gapBytes: bigint): void {
      unexplained.set({ month }, Number(unexplainedBytes));
      gap.set({ month }, Number(gapBytes));
    },
  };
}
