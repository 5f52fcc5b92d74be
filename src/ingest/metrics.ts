import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Ingest metrics (issue: records accepted / duplicate / rejected, batch size, commit latency, lag). */
export function createIngestMetrics(registry: Registry) {
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

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
