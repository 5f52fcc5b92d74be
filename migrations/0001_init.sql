-- Up Migration

-- Every catalog version the service has run with (DESIGN 4: stored at first use).
CREATE TABLE catalog_versions (
  version      text PRIMARY KEY CHECK (version ~ '^[0-9a-f]{64}$'),
  content      jsonb NOT NULL,
  first_used_at timestamptz NOT NULL DEFAULT now()
);

-- T-Boxes (DESIGN 3.0, 5). The device secret is stored only as PBKDF2-HMAC-SHA512.
CREATE TABLE vehicles (
  vin                text PRIMARY KEY CHECK (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
  iccid              text NOT NULL UNIQUE,
  automaker          text NOT NULL,
  model              text NOT NULL,
  activated_at       timestamptz,
  secret_iterations  integer NOT NULL CHECK (secret_iterations >= 1000),
  secret_salt        bytea NOT NULL CHECK (length(secret_salt) = 16),
  secret_hash        bytea NOT NULL CHECK (length(secret_hash) = 64),
  secret_rotated_at  timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE vehicles;
DROP TABLE catalog_versions;
