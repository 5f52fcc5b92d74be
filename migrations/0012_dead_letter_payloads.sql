-- Up Migration

-- A message's payload is stored once, however many of its records are rejected and however often a
-- T-Box resends it (issue 10/11: one 256 KiB message of 1,000 bad records stored ~64 MiB). Letters point
-- at their payload by the SHA-256 of the stored (at most 64 KiB) bytes.
CREATE TABLE dead_letter_payloads (
  sha256            bytea       PRIMARY KEY,
  payload           bytea       NOT NULL,
  first_received_at timestamptz NOT NULL
);
INSERT INTO dead_letter_payloads (sha256, payload, first_received_at)
  SELECT DISTINCT ON (sha256(payload)) sha256(payload), payload, received_at
    FROM dead_letters ORDER BY sha256(payload), received_at;
ALTER TABLE dead_letters ADD COLUMN payload_sha256 bytea;
UPDATE dead_letters SET payload_sha256 = sha256(payload);
ALTER TABLE dead_letters ALTER COLUMN payload_sha256 SET NOT NULL;
ALTER TABLE dead_letters DROP COLUMN payload;
-- Retention (DEAD_LETTER_RETENTION_DAYS) deletes by age, then the payloads no letter points at.
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);
CREATE INDEX dead_letters_payload ON dead_letters (payload_sha256);

-- Down Migration
ALTER TABLE dead_letters ADD COLUMN payload bytea;
UPDATE dead_letters d SET payload = p.payload FROM dead_letter_payloads p WHERE p.sha256 = d.payload_sha256;
ALTER TABLE dead_letters ALTER COLUMN payload SET NOT NULL;
DROP INDEX dead_letters_payload;
DROP INDEX dead_letters_received_at;
ALTER TABLE dead_letters DROP COLUMN payload_sha256;
DROP TABLE dead_letter_payloads;
