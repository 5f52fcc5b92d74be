-- Up Migration

-- A second PBKDF2-HMAC-SHA512 of the same device secret, with a 12-byte printable salt, for external
-- brokers: Debian's Mosquitto 2.0 reads a `$7$` salt of exactly 12 bytes, while DESIGN 3.0 stores 16.
-- Computed when the secret is issued or rotated (the only time the service holds it); null for vehicles
-- registered before this column existed, until their secret is rotated.
ALTER TABLE vehicles
  ADD COLUMN broker_secret_salt bytea CHECK (length(broker_secret_salt) = 12),
  ADD COLUMN broker_secret_hash bytea CHECK (length(broker_secret_hash) = 64);

-- Down Migration
ALTER TABLE vehicles DROP COLUMN broker_secret_hash, DROP COLUMN broker_secret_salt;
