-- Up Migration

-- Signed webhooks (issue 14, src/webhooks/README.md). An endpoint belongs to one sponsor or merchant; an event
-- is written in the transaction of the change it reports, with one delivery row per endpoint of its owner
-- subscribed to its type (the outbox); the deliverer POSTs due deliveries after the commit and retries them
-- with backoff until the delivery's deadline (a day after the event, or after a replay).
CREATE TABLE webhook_endpoints (
  id          text        PRIMARY KEY,                     -- we_<hex>
  owner_kind  text        NOT NULL CHECK (owner_kind IN ('sponsor', 'merchant')),
  owner_id    text        NOT NULL,
  url         text        NOT NULL,
  -- The signing secret, encrypted with the PII vault (purpose webhookSecret): it must be readable to sign.
  secret      text        NOT NULL,
  event_types text[]      NOT NULL CHECK (cardinality(event_types) > 0),
  created_at  timestamptz NOT NULL,
  disabled_at timestamptz
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_kind, owner_id);

CREATE TABLE webhook_events (
  seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id         text        NOT NULL UNIQUE,                   -- evt_<hex>: what receivers deduplicate on
  owner_kind text        NOT NULL CHECK (owner_kind IN ('sponsor', 'merchant')),
  owner_id   text        NOT NULL,
  type       text        NOT NULL,
  payload    jsonb       NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
  id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- also the order per endpoint
  event_seq       bigint      NOT NULL REFERENCES webhook_events (seq),
  endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id),
  status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- No attempt starts after this; a replay moves it a day on.
  deadline_at     timestamptz NOT NULL,
  last_attempt_at timestamptz,
  last_status     integer,
  last_error      text,
  delivered_at    timestamptz,
  UNIQUE (event_seq, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);

-- Down Migration
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
