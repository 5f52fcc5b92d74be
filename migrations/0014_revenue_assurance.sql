-- Up Migration

-- Issue 13, revenue assurance: the carrier's own per-card daily usage, imported from its CSV files
-- (src/assurance/README.md has the format). Owned by src/assurance/repository.ts only.

-- One row per file id ever imported. A re-delivery of the same file id with the same content (sha256) is a
-- no-op; the same id with other content imports only the lines not applied yet, and a line that changed is
-- refused (idempotency per (file id, line)).
CREATE TABLE carrier_usage_files (
  id           bigserial   PRIMARY KEY,
  file_id      text        NOT NULL UNIQUE CHECK (length(file_id) BETWEEN 1 AND 200),
  sha256       bytea       NOT NULL CHECK (length(sha256) = 32),
  lines        integer     NOT NULL CHECK (lines >= 0),
  imported_at  timestamptz NOT NULL,
  imported_by  text        NOT NULL
);

-- Every applied line, as the carrier wrote it: the key (file, line) is the idempotency key.
CREATE TABLE carrier_usage_lines (
  file_row       bigint  NOT NULL REFERENCES carrier_usage_files (id),
  line           integer NOT NULL CHECK (line >= 2),
  iccid          text    NOT NULL,
  usage_day      date    NOT NULL,
  bytes          bigint  NOT NULL CHECK (bytes >= 0),
  uplink_bytes   bigint  CHECK (uplink_bytes >= 0),
  downlink_bytes bigint  CHECK (downlink_bytes >= 0),
  apn            text,
  rating_group   bigint  CHECK (rating_group >= 0),
  PRIMARY KEY (file_row, line)
);

-- The figure in force per card per day (the carrier's timezone): the sum of one file's lines for it. A
-- later file for the same (card, day) replaces it, and the replacement is audited below.
CREATE TABLE carrier_usage_days (
  iccid          text        NOT NULL,
  usage_day      date        NOT NULL,
  bytes          bigint      NOT NULL CHECK (bytes >= 0),
  uplink_bytes   bigint,
  downlink_bytes bigint,
  file_row       bigint      NOT NULL REFERENCES carrier_usage_files (id),
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (iccid, usage_day)
);
CREATE INDEX carrier_usage_days_day ON carrier_usage_days (usage_day);

-- Audit of every replaced figure: what it was, what it became, which files, when.
CREATE TABLE carrier_usage_corrections (
  id           bigserial   PRIMARY KEY,
  iccid        text        NOT NULL,
  usage_day    date        NOT NULL,
  old_bytes    bigint      NOT NULL,
  new_bytes    bigint      NOT NULL,
  old_file_row bigint      NOT NULL REFERENCES carrier_usage_files (id),
  new_file_row bigint      NOT NULL REFERENCES carrier_usage_files (id),
  corrected_at timestamptz NOT NULL
);
CREATE INDEX carrier_usage_corrections_day ON carrier_usage_corrections (usage_day, iccid);

-- billing.unreported: overage (issue 13): invoice lines of kind `unreported`.
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_kind_check;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_kind_check CHECK (kind IN ('sponsored', 'overage', 'unreported'));

-- Down Migration
-- (fails while `unreported` invoice lines exist: invoices are never edited.)
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_kind_check;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_kind_check CHECK (kind IN ('sponsored', 'overage'));
DROP TABLE carrier_usage_corrections, carrier_usage_days, carrier_usage_lines, carrier_usage_files;
