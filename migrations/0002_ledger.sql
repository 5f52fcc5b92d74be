-- Up Migration

-- The dedup key (vin, epoch, seq) is globally unique for ever (DESIGN 3.1, 7): this table is partitioned by
-- hash of the VIN, never by time, so the primary key is enforced across all of it.
-- Fields are the normalised record (DESIGN 3.2), the comparison basis for duplicates vs SEQ_CONFLICT.
CREATE TABLE usage_records (
  vin             text        NOT NULL,
  epoch           text        NOT NULL,
  seq             bigint      NOT NULL CHECK (seq >= 0),
  start_at        timestamptz NOT NULL,
  end_at          timestamptz NOT NULL,
  up              bigint      NOT NULL CHECK (up >= 0),
  down            bigint      NOT NULL CHECK (down >= 0),
  host            text,
  ip              text,
  port            integer,
  proto           text,
  iface           text        NOT NULL,
  pkg             text,
  app             text        NOT NULL,
  rule_id         text        NOT NULL,
  catalog_version text        NOT NULL,
  batch           bigint      NOT NULL,
  received_at     timestamptz NOT NULL,
  PRIMARY KEY (vin, epoch, seq)
) PARTITION BY HASH (vin);
CREATE TABLE usage_records_p0 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE usage_records_p1 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE usage_records_p2 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE usage_records_p3 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE usage_records_p4 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE usage_records_p5 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE usage_records_p6 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE usage_records_p7 PARTITION OF usage_records FOR VALUES WITH (MODULUS 8, REMAINDER 7);

-- Append-only allocations (DESIGN 4.2): one row per (record, payer part). Partitioned by usage month
-- (billing timezone, stored as the month's first day); partitions are created on demand by the writer.
CREATE TABLE allocations (
  usage_month      date        NOT NULL,
  vin              text        NOT NULL,
  epoch            text        NOT NULL,
  seq              bigint      NOT NULL,
  part             smallint    NOT NULL,
  start_at         timestamptz NOT NULL,
  usage_day        date        NOT NULL,
  app              text        NOT NULL,
  payer            text        NOT NULL,
  kind             text        NOT NULL CHECK (kind IN ('sponsored', 'pack', 'overage', 'test')),
  sponsorship_id   text,
  pack_instance_id bigint,
  bytes            bigint      NOT NULL CHECK (bytes > 0),
  price_per_gib    numeric(14, 4),
  rule_id          text        NOT NULL,
  catalog_version  text        NOT NULL,
  committed_at     timestamptz NOT NULL,
  invoice_id       bigint,
  PRIMARY KEY (usage_month, vin, epoch, seq, part)
) PARTITION BY RANGE (usage_month);
CREATE INDEX allocations_record ON allocations (vin, epoch, seq);
CREATE INDEX allocations_uninvoiced ON allocations (payer, usage_month) WHERE invoice_id IS NULL AND kind IN ('sponsored', 'overage');

-- Sponsorship cap use per (vehicle, sponsorship id, month) (DESIGN 4.2 step 1).
CREATE TABLE cap_usage (
  vin            text   NOT NULL,
  sponsorship_id text   NOT NULL,
  month          date   NOT NULL,
  bytes          bigint NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (vin, sponsorship_id, month)
);

-- Packs an owner bought (DESIGN 4.2 step 2, 5). A balance never goes negative.
CREATE TABLE pack_instances (
  id                bigserial   PRIMARY KEY,
  vin               text        NOT NULL REFERENCES vehicles (vin),
  pack_id           text        NOT NULL,
  purchased_at      timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  size_bytes        bigint      NOT NULL CHECK (size_bytes > 0),
  balance_bytes     bigint      NOT NULL CHECK (balance_bytes >= 0 AND balance_bytes <= size_bytes),
  external_order_id text,
  request_digest    text        NOT NULL,
  created_at        timestamptz NOT NULL,
  UNIQUE (vin, external_order_id)
);
CREATE INDEX pack_instances_vin ON pack_instances (vin, expires_at);

-- Control state per (vehicle, app) (DESIGN 3.3): the active reasons and a rev raised on every change.
CREATE TABLE control_states (
  vin        text        NOT NULL,
  app        text        NOT NULL,
  reasons    text[]      NOT NULL,
  rev        integer     NOT NULL CHECK (rev > 0),
  changed_at timestamptz NOT NULL,
  PRIMARY KEY (vin, app)
);

-- Messages to publish after the commit that produced them, retried until the broker takes them.
CREATE TABLE outbox (
  id         bigserial   PRIMARY KEY,
  topic      text        NOT NULL,
  payload    text        NOT NULL,
  qos        smallint    NOT NULL,
  retain     boolean     NOT NULL,
  created_at timestamptz NOT NULL
);

-- Every rejection, with its payload (truncated to 64 KiB) (DESIGN 3.1).
CREATE TABLE dead_letters (
  id          bigserial   PRIMARY KEY,
  vin         text,
  topic       text        NOT NULL,
  code        text        NOT NULL,
  reason      text        NOT NULL,
  record_index integer,
  seq         bigint,
  payload     bytea       NOT NULL,
  received_at timestamptz NOT NULL
);

-- Read side: rollups kept in the ingest transaction so the usage API never scans allocations
-- (DESIGN 4.3 lines are keyed by sponsor, app, kind, price and usage month).
CREATE TABLE rollup_app_month (
  sponsor       text           NOT NULL,
  usage_month   date           NOT NULL,
  app           text           NOT NULL,
  kind          text           NOT NULL,
  price_per_gib numeric(14, 4) NOT NULL,
  bytes         bigint         NOT NULL,
  PRIMARY KEY (sponsor, usage_month, app, kind, price_per_gib)
);
CREATE TABLE rollup_app_day (
  sponsor       text           NOT NULL,
  usage_day     date           NOT NULL,
  app           text           NOT NULL,
  kind          text           NOT NULL,
  price_per_gib numeric(14, 4) NOT NULL,
  bytes         bigint         NOT NULL,
  PRIMARY KEY (sponsor, usage_day, app, kind, price_per_gib)
);
CREATE TABLE rollup_vehicle_month (
  sponsor       text           NOT NULL,
  usage_month   date           NOT NULL,
  vin           text           NOT NULL,
  app           text           NOT NULL,
  kind          text           NOT NULL,
  price_per_gib numeric(14, 4) NOT NULL,
  bytes         bigint         NOT NULL,
  PRIMARY KEY (sponsor, usage_month, vin, app, kind, price_per_gib)
);

-- Sponsor API keys `sk_<keyId>_<secret>`: only SHA-256 of the secret is kept (DESIGN 5).
CREATE TABLE api_keys (
  key_id       text        PRIMARY KEY,
  owner_kind   text        NOT NULL CHECK (owner_kind IN ('sponsor', 'merchant')),
  owner_id     text        NOT NULL,
  secret_hash  bytea       NOT NULL,
  created_at   timestamptz NOT NULL,
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX api_keys_owner ON api_keys (owner_kind, owner_id);

-- Down Migration
DROP TABLE api_keys, rollup_vehicle_month, rollup_app_day, rollup_app_month, dead_letters, outbox,
  control_states, pack_instances, cap_usage, allocations, usage_records;
