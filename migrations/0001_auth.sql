-- Migration number: 0001 	 API clients and API keys (docs/storage-schema.md#d1).
-- Secrets are never stored: client secrets as PBKDF2-SHA256 (per-client salt), API keys as SHA-256 hashes.

CREATE TABLE IF NOT EXISTS api_clients (
  client_id      TEXT PRIMARY KEY,
  tenant         TEXT NOT NULL,
  scopes         TEXT NOT NULL,                 -- space-separated, e.g. "chat rag:read"
  secret_hash    TEXT NOT NULL,                 -- base64url PBKDF2-SHA256 output
  secret_salt    TEXT NOT NULL,                 -- base64url, 16 random bytes
  secret_iter    INTEGER NOT NULL,              -- PBKDF2 iteration count used for this client
  created_at     INTEGER NOT NULL,              -- ms since epoch
  revoked_at     INTEGER                        -- ms since epoch; NULL while active
);
CREATE INDEX IF NOT EXISTS api_clients_tenant ON api_clients (tenant);

CREATE TABLE IF NOT EXISTS api_keys (
  key_id         TEXT PRIMARY KEY,
  prefix         TEXT NOT NULL UNIQUE,          -- visible part shown in listings, e.g. "eak_3f9a1c2b"
  key_hash       TEXT NOT NULL,                 -- hex SHA-256 of the whole key
  tenant         TEXT NOT NULL,
  subject        TEXT NOT NULL,
  scopes         TEXT NOT NULL,
  name           TEXT,
  created_at     INTEGER NOT NULL,
  last_used_at   INTEGER,
  revoked_at     INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant);
