-- Up Migration

-- Small facts the service keeps between starts (e.g. the catalog version whose rules were published).
CREATE TABLE service_state (
  key        text        PRIMARY KEY,
  value      text        NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Down Migration
DROP TABLE service_state;
