-- Control plane: virtual keys, API keys, budgets, rate limits, stored configs, audit log.
-- One file for SQLite and PostgreSQL: portable types only, ids are text, times are epoch seconds.
CREATE TABLE portkey_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE portkey_revision (
  id INTEGER PRIMARY KEY,
  revision BIGINT NOT NULL
);
INSERT INTO portkey_revision (id, revision) VALUES (1, 0);
CREATE TABLE virtual_keys (
  name TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  secret TEXT NOT NULL,
  previous_secret TEXT,
  secret_hint TEXT NOT NULL,
  options TEXT NOT NULL,
  models TEXT NOT NULL,
  team TEXT,
  created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  key_hash TEXT NOT NULL UNIQUE,
  last4 TEXT NOT NULL,
  team TEXT,
  scopes TEXT NOT NULL,
  metadata TEXT NOT NULL,
  expires_at DOUBLE PRECISION,
  revoked_at DOUBLE PRECISION,
  created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE budgets (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  target TEXT NOT NULL,
  period TEXT NOT NULL,
  limit_usd DOUBLE PRECISION,
  limit_tokens BIGINT,
  alert_at DOUBLE PRECISION,
  created_at DOUBLE PRECISION NOT NULL,
  UNIQUE (scope, target, period)
);
CREATE TABLE budget_usage (
  budget_id TEXT NOT NULL,
  window_start DOUBLE PRECISION NOT NULL,
  spent_usd DOUBLE PRECISION NOT NULL,
  spent_tokens BIGINT NOT NULL,
  PRIMARY KEY (budget_id, window_start)
);
CREATE TABLE rate_limits (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  target TEXT NOT NULL,
  rpm BIGINT,
  tpm BIGINT,
  created_at DOUBLE PRECISION NOT NULL,
  UNIQUE (scope, target)
);
CREATE TABLE configs (
  name TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  at DOUBLE PRECISION NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  before TEXT,
  after TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
