-- Request logs (portkey.observe): one row per request, written in batches off the hot path.
-- id is time-ordered text (zero-padded epoch nanoseconds + random tail): the cursor of the logs API.
-- Bodies are NULL unless logs.bodies is hashed (a SHA-256) or full; keys are never stored.
CREATE TABLE request_logs (
  id TEXT PRIMARY KEY,
  trace_id TEXT NOT NULL,
  ts DOUBLE PRECISION NOT NULL,
  route TEXT NOT NULL,
  api_key_id TEXT,
  virtual_key TEXT,
  config TEXT,
  provider TEXT,
  model TEXT,
  status INTEGER NOT NULL,
  error_type TEXT,
  target TEXT,
  retries INTEGER NOT NULL,
  attempts TEXT NOT NULL,
  cache_status TEXT NOT NULL,
  stream INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  cost_usd DOUBLE PRECISION,
  ttft_ms DOUBLE PRECISION,
  latency_ms DOUBLE PRECISION NOT NULL,
  overhead_ms DOUBLE PRECISION NOT NULL,
  metadata TEXT NOT NULL,
  request_body TEXT,
  response_body TEXT
);
CREATE INDEX request_logs_ts ON request_logs (ts);
CREATE INDEX request_logs_trace ON request_logs (trace_id);
CREATE INDEX request_logs_model_ts ON request_logs (model, ts);
CREATE INDEX request_logs_provider_ts ON request_logs (provider, ts);
CREATE INDEX request_logs_key_ts ON request_logs (api_key_id, ts)
