-- Up Migration

-- Usage alerts (issue 14, src/alerts/README.md). A rule belongs to one sponsor or merchant; its state rows
-- are keyed by (rule, period): a threshold fires at most once per period (`alert.triggered`) and is resolved
-- once when its condition ends (`alert.resolved`), each written with its webhook event in one transaction.
CREATE TABLE alert_rules (
  id             text        PRIMARY KEY,                     -- al_<hex>
  owner_kind     text        NOT NULL CHECK (owner_kind IN ('sponsor', 'merchant')),
  owner_id       text        NOT NULL,
  kind           text        NOT NULL CHECK (kind IN ('cap_share', 'mtd_amount', 'vehicles_at_cap', 'service_until_within')),
  -- The sponsorship a cap_share / vehicles_at_cap rule watches (null for the others): the ingest hook finds
  -- the rules a batch touched by it.
  sponsorship_id text,
  -- The kind's parameters as given (percent, amount as a decimal string, count, days).
  params         jsonb       NOT NULL,
  created_at     timestamptz NOT NULL,
  deleted_at     timestamptz,
  CHECK ((owner_kind = 'sponsor') = (kind IN ('cap_share', 'mtd_amount', 'vehicles_at_cap'))),
  CHECK ((sponsorship_id IS NOT NULL) = (kind IN ('cap_share', 'vehicles_at_cap')))
);
CREATE INDEX alert_rules_owner ON alert_rules (owner_kind, owner_id) WHERE deleted_at IS NULL;
CREATE INDEX alert_rules_sponsorship ON alert_rules (sponsorship_id) WHERE deleted_at IS NULL AND sponsorship_id IS NOT NULL;

-- One row per (rule, period) whose condition held: a billing month `YYYY-MM` for sponsor rules,
-- `<iccid>/<serviceUntil date>` for service_until_within. Inserted once (triggered), resolved at most once.
CREATE TABLE alert_states (
  rule_id        text        NOT NULL REFERENCES alert_rules (id),
  period         text        NOT NULL,
  triggered_at   timestamptz NOT NULL,
  triggered_value text       NOT NULL,
  resolved_at    timestamptz,
  resolved_value text,
  PRIMARY KEY (rule_id, period)
);
CREATE INDEX alert_states_open ON alert_states (rule_id) WHERE resolved_at IS NULL;

-- Down Migration
DROP TABLE alert_states;
DROP TABLE alert_rules;
