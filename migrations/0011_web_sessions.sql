-- Up Migration

-- Dashboard sessions (src/web, issue 10). The signed cookie names a row here by the SHA-256 of its nonce; a
-- session holds only while its row is there, unrevoked and unexpired (and, for a sponsor or merchant, while
-- its API key is live), so logging out ends it on the server: a copied cookie is worth nothing afterwards.
-- Rows past their expiry, and a credential's sessions beyond its newest 50, are deleted as new sessions open.
CREATE TABLE web_sessions (
  id         bytea       PRIMARY KEY CHECK (length(id) = 32),
  seq        bigint      GENERATED ALWAYS AS IDENTITY,  -- order of opening (created_at may tie)
  kind       text        NOT NULL CHECK (kind IN ('admin', 'sponsor', 'merchant')),
  owner_id   text,
  key_id     text,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  CHECK ((kind = 'admin') = (owner_id IS NULL) AND (kind = 'admin') = (key_id IS NULL))
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
-- The newest sessions of one credential (an API key, or the admin token: key_id null) come first.
CREATE INDEX web_sessions_credential ON web_sessions (key_id, seq DESC);

-- Down Migration
DROP TABLE web_sessions;
