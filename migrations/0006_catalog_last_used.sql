-- Up Migration

-- The catalog version a start ran with last: startup compares a new catalog with it (DESIGN 4).
ALTER TABLE catalog_versions ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now();

-- Down Migration
ALTER TABLE catalog_versions DROP COLUMN last_used_at;
