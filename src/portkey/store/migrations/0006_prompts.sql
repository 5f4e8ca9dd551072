-- Prompt registry (portkey.prompts): immutable versions, movable labels, partials, feedback.
-- content is the version's JSON (messages or template, model, params); hash is its SHA-256,
-- so storing the same content again is a no-op. prompt_revision moves on every write: each
-- replica polls it and reloads the registry into memory when it moved.
CREATE TABLE prompt_versions (
  prompt_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  content TEXT NOT NULL,
  hash TEXT NOT NULL,
  note TEXT,
  created_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (prompt_id, version)
);
CREATE TABLE prompt_labels (
  prompt_id TEXT NOT NULL,
  label TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (prompt_id, label)
);
CREATE TABLE prompt_partials (
  name TEXT PRIMARY KEY,
  content TEXT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE prompt_feedback (
  id TEXT PRIMARY KEY,
  trace_id TEXT NOT NULL,
  value DOUBLE PRECISION NOT NULL,
  weight DOUBLE PRECISION NOT NULL,
  metadata TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX prompt_feedback_trace ON prompt_feedback (trace_id);
CREATE TABLE prompt_revision (
  id INTEGER PRIMARY KEY,
  revision INTEGER NOT NULL
);
INSERT INTO prompt_revision (id, revision) VALUES (1, 0)
