-- Up Migration

-- Issue 11, a leaner ledger. Every record carried its catalog version as 64 hex characters, and every
-- allocation row carried it again with the rule id: now a record names its catalog version by a small
-- integer id, and an allocation names neither (they are the record's: explain reads them there).
ALTER TABLE catalog_versions ADD COLUMN id integer GENERATED ALWAYS AS IDENTITY;
ALTER TABLE catalog_versions ADD CONSTRAINT catalog_versions_id_key UNIQUE (id);

-- No foreign key: its check would cost a lookup per inserted record; the writer only ever uses the id that
-- startup recorded for the running catalog.
ALTER TABLE usage_records ADD COLUMN catalog_version_id integer;
UPDATE usage_records u SET catalog_version_id = c.id FROM catalog_versions c WHERE c.version = u.catalog_version;
ALTER TABLE usage_records ALTER COLUMN catalog_version_id SET NOT NULL;
ALTER TABLE usage_records DROP COLUMN catalog_version;

ALTER TABLE allocations DROP COLUMN catalog_version, DROP COLUMN rule_id;

-- Explain finds a record's allocations by the primary key (usage_month from the record's start), so this
-- index of (vin, epoch, seq) only cost every allocation row one more btree insert.
DROP INDEX allocations_record;

-- Down Migration
CREATE INDEX allocations_record ON allocations (vin, epoch, seq);
ALTER TABLE allocations ADD COLUMN rule_id text, ADD COLUMN catalog_version text;
UPDATE allocations a SET rule_id = u.rule_id, catalog_version = c.version
  FROM usage_records u JOIN catalog_versions c ON c.id = u.catalog_version_id
 WHERE u.vin = a.vin AND u.epoch = a.epoch AND u.seq = a.seq;
ALTER TABLE allocations ALTER COLUMN rule_id SET NOT NULL, ALTER COLUMN catalog_version SET NOT NULL;
ALTER TABLE usage_records ADD COLUMN catalog_version text;
UPDATE usage_records u SET catalog_version = c.version FROM catalog_versions c WHERE c.id = u.catalog_version_id;
ALTER TABLE usage_records ALTER COLUMN catalog_version SET NOT NULL;
ALTER TABLE usage_records DROP COLUMN catalog_version_id;
ALTER TABLE catalog_versions DROP COLUMN id;
