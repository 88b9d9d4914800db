-- Migration number: 0003 	 Per-tenant storage accounting and quotas, stored bytes per row, ingest idempotency expiry
-- (docs/storage-schema.md#d1, docs/rag.md#quotas).

-- What each row costs, bytes: a chunk's text, heading, embedding (here and in the vector index), ids and its vector's
-- metadata; a document's id, title, metadata and hash. Written by the Worker at ingest.
ALTER TABLE documents ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;

-- Rows written before this migration: the same formula from what D1 holds (the vector's metadata is the document's).
UPDATE documents SET stored_bytes = length(CAST(id AS BLOB)) + coalesce(length(CAST(title AS BLOB)), 0)
  + length(CAST(metadata AS BLOB)) + length(content_hash);
UPDATE chunks SET stored_bytes = length(CAST(text AS BLOB)) + length(CAST(heading AS BLOB)) + 2 * length(embedding)
  + 2 * length(id) + length(content_hash)
  + coalesce((SELECT length(CAST(d.metadata AS BLOB)) FROM documents d WHERE d.tenant = chunks.tenant AND d.id = chunks.document_id), 0);

-- One row per tenant: its usage, kept exact by the triggers below, and the quotas the write in progress runs under
-- (set by that write from RAG_TENANT_MAX_*; NULL: unlimited).
CREATE TABLE IF NOT EXISTS tenant_storage (
  tenant          TEXT PRIMARY KEY,
  documents       INTEGER NOT NULL DEFAULT 0,
  chunks          INTEGER NOT NULL DEFAULT 0,
  bytes           INTEGER NOT NULL DEFAULT 0,
  max_documents   INTEGER,
  max_chunks      INTEGER,
  max_bytes       INTEGER
);
INSERT INTO tenant_storage (tenant, documents, bytes)
  SELECT tenant, count(*), sum(stored_bytes) FROM documents GROUP BY tenant;
INSERT INTO tenant_storage (tenant) SELECT DISTINCT tenant FROM chunks WHERE true ON CONFLICT (tenant) DO NOTHING;
UPDATE tenant_storage SET
  chunks = (SELECT count(*) FROM chunks c WHERE c.tenant = tenant_storage.tenant),
  bytes = bytes + (SELECT coalesce(sum(stored_bytes), 0) FROM chunks c WHERE c.tenant = tenant_storage.tenant);

CREATE TRIGGER IF NOT EXISTS documents_storage_ai AFTER INSERT ON documents BEGIN
  INSERT INTO tenant_storage (tenant) VALUES (new.tenant) ON CONFLICT (tenant) DO NOTHING;
  UPDATE tenant_storage SET documents = documents + 1, bytes = bytes + new.stored_bytes WHERE tenant = new.tenant;
END;
CREATE TRIGGER IF NOT EXISTS documents_storage_au AFTER UPDATE OF stored_bytes ON documents BEGIN
  UPDATE tenant_storage SET bytes = bytes - old.stored_bytes + new.stored_bytes WHERE tenant = new.tenant;
END;
CREATE TRIGGER IF NOT EXISTS documents_storage_ad AFTER DELETE ON documents BEGIN
  UPDATE tenant_storage SET documents = documents - 1, bytes = bytes - old.stored_bytes WHERE tenant = old.tenant;
END;
CREATE TRIGGER IF NOT EXISTS chunks_storage_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO tenant_storage (tenant) VALUES (new.tenant) ON CONFLICT (tenant) DO NOTHING;
  UPDATE tenant_storage SET chunks = chunks + 1, bytes = bytes + new.stored_bytes WHERE tenant = new.tenant;
END;
CREATE TRIGGER IF NOT EXISTS chunks_storage_ad AFTER DELETE ON chunks BEGIN
  UPDATE tenant_storage SET chunks = chunks - 1, bytes = bytes - old.stored_bytes WHERE tenant = old.tenant;
END;

-- The quotas hold inside the write's own transaction (a D1 batch): a usage that grows past its quota aborts the
-- whole batch, so concurrent ingests cannot both slip under a quota checked before either wrote. Shrinking is
-- always allowed (deletes, smaller replacements).
CREATE TRIGGER IF NOT EXISTS tenant_storage_quota_documents BEFORE UPDATE OF documents ON tenant_storage
  WHEN new.documents > old.documents AND new.max_documents IS NOT NULL AND new.documents > new.max_documents
BEGIN
  SELECT RAISE(ABORT, 'tenant quota exceeded: documents');
END;
CREATE TRIGGER IF NOT EXISTS tenant_storage_quota_chunks BEFORE UPDATE OF chunks ON tenant_storage
  WHEN new.chunks > old.chunks AND new.max_chunks IS NOT NULL AND new.chunks > new.max_chunks
BEGIN
  SELECT RAISE(ABORT, 'tenant quota exceeded: chunks');
END;
CREATE TRIGGER IF NOT EXISTS tenant_storage_quota_bytes BEFORE UPDATE OF bytes ON tenant_storage
  WHEN new.bytes > old.bytes AND new.max_bytes IS NOT NULL AND new.bytes > new.max_bytes
BEGIN
  SELECT RAISE(ABORT, 'tenant quota exceeded: bytes');
END;

-- Idempotency records expire (IDEMPOTENCY_TTL_S): found by age, purged by the ingest path and the cron.
CREATE INDEX IF NOT EXISTS ingest_requests_created ON ingest_requests (created_at);
