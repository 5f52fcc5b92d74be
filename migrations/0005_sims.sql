-- Up Migration

-- IoT SIM lifecycle for merchants (DESIGN 6). Personal data never sits here in clear: `*_enc` columns hold
-- AES-256-GCM ciphertexts that carry their key id, `*_hash` columns HMAC-SHA-256 lookup hashes
-- (src/shared/pii.ts).

CREATE TABLE merchants (
  id          text        PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{2,40}$'),
  name        text        NOT NULL,
  tax_id      text        NOT NULL CHECK (tax_id ~ '^[0-9A-HJ-NP-RTUW-Y]{18}$'),
  created_at  timestamptz NOT NULL
);

CREATE TABLE sims (
  iccid             text        PRIMARY KEY CHECK (iccid ~ '^89[0-9A-F]{17,18}$'),
  merchant_id       text        NOT NULL REFERENCES merchants (id),
  imsi              text        NOT NULL UNIQUE CHECK (imsi ~ '^[0-9]{15}$'),
  msisdn_enc        text        NOT NULL,
  msisdn_hash       bytea       NOT NULL UNIQUE,
  state             text        NOT NULL CHECK (state IN ('inventory', 'test', 'sold', 'active', 'suspended', 'retired')),
  state_changed_at  timestamptz NOT NULL,
  activated_at      timestamptz,
  service_until     timestamptz,
  holder_subject_id bigint,
  owner_subject_id  bigint,
  imported_at       timestamptz NOT NULL
);
CREATE INDEX sims_merchant ON sims (merchant_id, iccid);
CREATE INDEX sims_due ON sims (service_until) WHERE state = 'active';

-- Real-name subjects (DESIGN 6): the holder (individual or enterprise) of an IoT card, or the vehicle user
-- (`owner`) of a vehicle card. Each submission is a row; only a verified one is linked from `sims`.
CREATE TABLE realname_subjects (
  id                   bigserial   PRIMARY KEY,
  iccid                text        NOT NULL REFERENCES sims (iccid),
  role                 text        NOT NULL CHECK (role IN ('holder', 'owner')),
  type                 text        NOT NULL CHECK (type IN ('individual', 'enterprise')),
  status               text        NOT NULL CHECK (status IN ('pending', 'verified', 'rejected', 'superseded')),
  name_enc             text        NOT NULL,
  id_number_enc        text        NOT NULL,  -- resident ID number (individual) or USCC (enterprise)
  id_number_hash       bytea       NOT NULL,
  agent_name_enc       text,
  agent_id_number_enc  text,
  agent_id_number_hash bytea,
  request_digest       bytea       NOT NULL,  -- keyed digest of the submission: the same body again is a retry
  provider_request_id  text        NOT NULL UNIQUE,  -- the idempotency key sent to the provider
  provider_reference   text,
  outcome_reason       text,
  attempts             integer     NOT NULL DEFAULT 0,
  last_error           text,
  submitted_by         text        NOT NULL,
  submitted_at         timestamptz NOT NULL,
  decided_at           timestamptz,
  CHECK ((type = 'enterprise') = (agent_id_number_enc IS NOT NULL))
);
CREATE INDEX realname_subjects_id_hash ON realname_subjects (id_number_hash) WHERE status = 'verified';
CREATE INDEX realname_subjects_sim ON realname_subjects (iccid, role, id);
ALTER TABLE sims ADD CONSTRAINT sims_holder_fk FOREIGN KEY (holder_subject_id) REFERENCES realname_subjects (id);
ALTER TABLE sims ADD CONSTRAINT sims_owner_fk FOREIGN KEY (owner_subject_id) REFERENCES realname_subjects (id);
CREATE INDEX sims_holder ON sims (holder_subject_id) WHERE holder_subject_id IS NOT NULL;

-- Store orders and recharges, prices snapshotted (DESIGN 6). Idempotent per (merchant, external order id).
CREATE TABLE sim_orders (
  id                bigserial      PRIMARY KEY,
  merchant_id       text           NOT NULL REFERENCES merchants (id),
  external_order_id text           NOT NULL,
  kind              text           NOT NULL CHECK (kind IN ('sale', 'recharge')),
  iccid             text           NOT NULL REFERENCES sims (iccid),
  plan_id           text           NOT NULL,
  term_months       integer        CHECK (term_months > 0),
  pack_id           text,
  monthly_pack_id   text,
  currency          text           NOT NULL,
  retail            numeric(14, 2) NOT NULL CHECK (retail >= 0),
  wholesale         numeric(14, 2) NOT NULL CHECK (wholesale >= 0),
  tax_rate          numeric(6, 4)  NOT NULL,
  buyer_name_enc    text           NOT NULL,
  buyer_phone_enc   text           NOT NULL,
  request_digest    bytea          NOT NULL,
  status            text           NOT NULL CHECK (status IN ('paid', 'refunded')),
  created_at        timestamptz    NOT NULL,
  created_by        text           NOT NULL,
  applied_at        timestamptz,   -- when the term and pack took effect (a sale: at activation)
  refunded_at       timestamptz,
  refunded_by       text,
  UNIQUE (merchant_id, external_order_id),
  CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);
CREATE INDEX sim_orders_created ON sim_orders (merchant_id, created_at);
CREATE INDEX sim_orders_refunded ON sim_orders (merchant_id, refunded_at) WHERE refunded_at IS NOT NULL;
CREATE INDEX sim_orders_sim ON sim_orders (iccid, id);

-- Packs a plan put on the vehicle of a card (`pack` once, `monthlyPack` each billing month of the term).
CREATE TABLE sim_pack_grants (
  pack_instance_id bigint PRIMARY KEY REFERENCES pack_instances (id),
  iccid            text   NOT NULL REFERENCES sims (iccid),
  order_id         bigint NOT NULL REFERENCES sim_orders (id),
  kind             text   NOT NULL CHECK (kind IN ('plan', 'monthly')),
  month            date,
  UNIQUE (iccid, month),
  CHECK ((kind = 'monthly') = (month IS NOT NULL))
);
CREATE INDEX sim_pack_grants_order ON sim_pack_grants (order_id);

-- The audit trail of every transition and real-name change: who, when, why (DESIGN 6). Append-only.
CREATE TABLE sim_events (
  id         bigserial   PRIMARY KEY,
  iccid      text        NOT NULL REFERENCES sims (iccid),
  event      text        NOT NULL,
  from_state text,
  to_state   text        NOT NULL,
  actor      text        NOT NULL,
  reason     text        NOT NULL,
  order_id   bigint      REFERENCES sim_orders (id),
  at         timestamptz NOT NULL
);
CREATE INDEX sim_events_sim ON sim_events (iccid, id);

-- E-invoices (数电发票) per paid order and red-letter reversals per refund (DESIGN 6).
CREATE TABLE einvoices (
  id              bigserial      PRIMARY KEY,
  merchant_id     text           NOT NULL REFERENCES merchants (id),
  order_id        bigint         NOT NULL REFERENCES sim_orders (id),
  kind            text           NOT NULL CHECK (kind IN ('blue', 'red')),
  original_id     bigint         REFERENCES einvoices (id),
  status          text           NOT NULL CHECK (status IN ('pending', 'issued', 'rejected')),
  request_id      text           NOT NULL UNIQUE,  -- idempotency key at the tax platform
  number          text           UNIQUE CHECK (number ~ '^[0-9]{20}$'),
  red_reason      text,
  seller_tax_id   text           NOT NULL,
  seller_name     text           NOT NULL,
  buyer_name_enc  text           NOT NULL,
  currency        text           NOT NULL,
  items           jsonb          NOT NULL,
  amount          numeric(14, 2) NOT NULL,
  tax             numeric(14, 2) NOT NULL,
  total           numeric(14, 2) NOT NULL,
  created_at      timestamptz    NOT NULL,
  issued_at       timestamptz,
  attempts        integer        NOT NULL DEFAULT 0,
  last_attempt_at timestamptz,
  last_error      text,
  UNIQUE (order_id, kind),
  CHECK ((kind = 'red') = (original_id IS NOT NULL)),
  CHECK ((status = 'issued') = (number IS NOT NULL)),
  CHECK (total = amount + tax)
);
CREATE INDEX einvoices_month ON einvoices (merchant_id, created_at);
CREATE INDEX einvoices_pending ON einvoices (id) WHERE status = 'pending';

-- Every access to unmasked personal data (DESIGN 6). Append-only.
CREATE TABLE pii_access_log (
  id          bigserial   PRIMARY KEY,
  actor       text        NOT NULL,
  iccid       text,
  fields      text[]      NOT NULL,
  reason      text        NOT NULL,
  request_id  text,
  at          timestamptz NOT NULL
);
CREATE INDEX pii_access_log_sim ON pii_access_log (iccid, id);

CREATE FUNCTION forbid_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER sim_events_append_only BEFORE UPDATE OR DELETE ON sim_events FOR EACH ROW EXECUTE FUNCTION forbid_audit_change();
CREATE TRIGGER pii_access_log_append_only BEFORE UPDATE OR DELETE ON pii_access_log FOR EACH ROW EXECUTE FUNCTION forbid_audit_change();

-- Down Migration
DROP TABLE pii_access_log, einvoices, sim_events, sim_pack_grants, sim_orders;
ALTER TABLE sims DROP CONSTRAINT sims_holder_fk, DROP CONSTRAINT sims_owner_fk;
DROP TABLE realname_subjects, sims, merchants;
DROP FUNCTION forbid_audit_change();
