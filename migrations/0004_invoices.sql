-- Up Migration

-- Immutable sponsor invoices and credit notes (DESIGN 4.3, 5 "Period close"). Lines are never edited:
-- a correction is a credit note, itself an invoice with negative lines.
CREATE TABLE invoices (
  id                 bigserial      PRIMARY KEY,
  sponsor            text           NOT NULL,
  period_month       date           NOT NULL,
  kind               text           NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
  credits_invoice_id bigint         REFERENCES invoices (id),
  number             text           NOT NULL UNIQUE,
  number_year        integer        NOT NULL,
  number_seq         integer        NOT NULL,
  status             text           NOT NULL CHECK (status IN ('issued', 'void')),
  issued_at          timestamptz    NOT NULL,
  currency           text           NOT NULL,
  subtotal           numeric(18, 2) NOT NULL,
  tax                numeric(18, 2) NOT NULL,
  total              numeric(18, 2) NOT NULL,
  catalog_version    text           NOT NULL,
  seller             jsonb          NOT NULL,
  buyer              jsonb          NOT NULL,
  UNIQUE (sponsor, number_year, number_seq)
);
-- One period invoice per sponsor and month.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (sponsor, period_month) WHERE kind = 'invoice';

CREATE TABLE invoice_lines (
  invoice_id    bigint         NOT NULL REFERENCES invoices (id),
  line_no       integer        NOT NULL,
  app           text           NOT NULL,
  kind          text           NOT NULL CHECK (kind IN ('sponsored', 'overage')),
  usage_month   date           NOT NULL,
  price_per_gib numeric(14, 4) NOT NULL,
  bytes         bigint         NOT NULL,
  amount        numeric(18, 2) NOT NULL,
  tax_rate      numeric(6, 4)  NOT NULL,
  tax           numeric(18, 2) NOT NULL,
  PRIMARY KEY (invoice_id, line_no)
);
CREATE INDEX invoice_lines_key ON invoice_lines (app, kind, usage_month, price_per_gib);

-- Gapless numbers per sponsor per year: the counter row is locked by the closing transaction.
CREATE TABLE invoice_counters (
  sponsor text    NOT NULL,
  year    integer NOT NULL,
  last    integer NOT NULL,
  PRIMARY KEY (sponsor, year)
);

-- A closed (sponsor, month); invoice_id is null when the sponsor had nothing to invoice.
CREATE TABLE billing_periods (
  sponsor    text        NOT NULL,
  month      date        NOT NULL,
  closed_at  timestamptz NOT NULL,
  invoice_id bigint      REFERENCES invoices (id),
  PRIMARY KEY (sponsor, month)
);

CREATE INDEX allocations_invoice ON allocations (invoice_id, vin) WHERE invoice_id IS NOT NULL;
CREATE INDEX cap_usage_sponsorship ON cap_usage (sponsorship_id);
CREATE INDEX pack_instances_pack ON pack_instances (pack_id);

-- Down Migration
DROP INDEX pack_instances_pack;
DROP INDEX cap_usage_sponsorship;
DROP INDEX allocations_invoice;
DROP TABLE billing_periods, invoice_counters, invoice_lines, invoices;
