-- Up Migration

-- The time-series exporter (src/timeseries) keeps its watermark in job_watermarks (job
-- 'timeseries-export'); these two indexes serve its two reads of the ledger.

-- "What was committed after the watermark": BRIN, not btree. Within each monthly partition rows are
-- appended in commit order, so block ranges summarise committed_at well for a few kilobytes and almost
-- no write cost on ingest; autosummarize keeps new ranges summarised as they fill.
CREATE INDEX allocations_committed_at ON allocations USING brin (committed_at) WITH (autosummarize = on);

-- "All allocations of this vehicle that started in this minute": the full sum a late record's minute is
-- rewritten with, one index range per touched (vehicle, minute).
CREATE INDEX allocations_vin_start ON allocations (vin, start_at);

-- Down Migration
DROP INDEX allocations_vin_start;
DROP INDEX allocations_committed_at;
