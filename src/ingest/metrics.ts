import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GateState } from './backpressure.js';

/**
 * Ingest metrics (issue: records accepted / duplicate / rejected, batch size, commit latency, lag) and the
 * back-pressure gate (issue 11), read from `gate` at each scrape.
 */
export function createIngestMetrics(registry: Registry, gate?: GateState) {
  if (gate) registerGateMetrics(registry, gate);
  return {
    records: new Counter({ name: 'ingest_records_total', help: 'Usage records by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    messagesRejected: new Counter({ name: 'ingest_messages_rejected_total', help: 'Whole usage messages rejected', registers: [registry] }),
    poisonMessages: new Counter({ name: 'ingest_poison_messages_total', help: 'Messages that failed alone and were acked INTERNAL_ERROR', registers: [registry] }),
    bisections: new Counter({ name: 'ingest_batch_bisections_total', help: 'Failed batches split in two', registers: [registry] }),
    retries: new Counter({ name: 'ingest_batch_retries_total', help: 'Batch retries after a transient database failure', registers: [registry] }),
    batchRecords: new Histogram({ name: 'ingest_batch_records', help: 'Records per committed batch', buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000], registers: [registry] }),
    commitSeconds: new Histogram({ name: 'ingest_commit_seconds', help: 'Batch transaction time', buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5], registers: [registry] }),
    lagSeconds: new Gauge({ name: 'ingest_lag_seconds', help: 'Age of the oldest message of the last committed batch', registers: [registry] }),
    pendingRecords: new Gauge({ name: 'ingest_pending_records', help: 'Records received and not yet in a batch', registers: [registry] }),
  };
}

/** The gate's state, read at each scrape. */
function registerGateMetrics(registry: Registry, gate: GateState): void {
  new Gauge({
    name: 'ingest_gate_open',
    help: 'Whether ingest takes usage (1) or the broker edge holds it because pending bytes passed the bound (0)',
    registers: [registry],
    collect() {
      this.set(gate.open ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ingest_pending_bytes',
    help: 'Usage payload bytes received and not yet committed and acked',
    registers: [registry],
    collect() {
      this.set(gate.pendingBytes);
    },
  });
  new Gauge({ name: 'ingest_max_pending_bytes', help: 'The bound on ingest_pending_bytes (INGEST_MAX_PENDING_BYTES); the gate reopens at half', registers: [registry] }).set(gate.maxPendingBytes);
  new Gauge({
    name: 'ingest_gate_waiting_messages',
    help: 'Usage messages held at the broker edge, waiting for the gate to open',
    registers: [registry],
    collect() {
      this.set(gate.waiting);
    },
  });
  let counted = 0;
  new Counter({
    name: 'ingest_gate_closed_total',
    help: 'Times the gate closed (pending bytes went above the bound)',
    registers: [registry],
    collect() {
      this.inc(gate.closures - counted);
      counted = gate.closures;
    },
  });
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
