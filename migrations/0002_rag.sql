-- Migration number: 0002 	 RAG: documents, chunks, full-text index, ingest idempotency, index metadata (docs/storage-schema.md#d1).
-- Every row carries its tenant; every query filters on it.

CREATE TABLE IF NOT EXISTS documents (
  tenant          TEXT NOT NULL,
  id              TEXT NOT NULL,
  title           TEXT,
  metadata        TEXT NOT NULL DEFAULT '{}',   -- JSON object of scalars, copied to each chunk's vector
  content_hash    TEXT NOT NULL,                -- SHA-256 of the text: re-ingesting the same text is a no-op
  chars           INTEGER NOT NULL,
  chunk_count     INTEGER NOT NULL,
  embedding_model TEXT NOT NULL,
  mutation_id     TEXT,                         -- the vector index mutation that wrote its chunks
  created_at      INTEGER NOT NULL,             -- ms since epoch
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS documents_tenant_created ON documents (tenant, created_at, id);

CREATE TABLE IF NOT EXISTS chunks (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- FTS rowid; monotonic, so bookmarks can name "up to here"
  id              TEXT NOT NULL UNIQUE,         -- also the vector id
  tenant          TEXT NOT NULL,
  document_id     TEXT NOT NULL,
  position        INTEGER NOT NULL,
  heading         TEXT NOT NULL DEFAULT '',
  text            TEXT NOT NULL,
  content_hash    TEXT NOT NULL,
  embedding       BLOB NOT NULL,                -- Float32 little-endian: the fresh tail is scored from here
  created_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (tenant, document_id, position);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks (tenant, content_hash);
CREATE INDEX IF NOT EXISTS chunks_tenant_seq ON chunks (tenant, seq);

-- Keyword search: an external-content FTS5 index over chunks, kept in sync by triggers.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
  text, heading, content = 'chunks', content_rowid = 'seq', tokenize = 'porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, text, heading) VALUES (new.seq, new.text, new.heading);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text, heading) VALUES ('delete', old.seq, old.text, old.heading);
END;
CREATE TRIGGER IF NOT EXISTS chunks_au AFTER UPDATE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text, heading) VALUES ('delete', old.seq, old.text, old.heading);
  INSERT INTO chunks_fts (rowid, text, heading) VALUES (new.seq, new.text, new.heading);
END;

-- Idempotency-Key of ingest requests: a retry with the same key and body replays the stored answer.
CREATE TABLE IF NOT EXISTS ingest_requests (
  tenant          TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  request_hash    TEXT NOT NULL,
  response        TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (tenant, idempotency_key)
);

-- The embedding model and dimensions each vector index was written with: writes from another model are refused.
CREATE TABLE IF NOT EXISTS rag_index_meta (
  index_name      TEXT PRIMARY KEY,
  model           TEXT NOT NULL,
  dimensions      INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
);
