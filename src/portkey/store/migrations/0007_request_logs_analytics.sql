-- Analytics (portkey.observe.analytics, portkey.observe.rollup).
-- One covering index, so an aggregate over a time window reads the index alone, never the
-- wide log rows (bodies, attempts, metadata).
CREATE INDEX request_logs_analytics ON request_logs (
  ts, provider, model, status, cache_status, latency_ms, cost_usd,
  api_key_id, virtual_key, prompt_tokens, completion_tokens
);
-- ts leads the covering index, which serves every time-range scan: the single-column index
-- only cost the log writer another B-tree per row.
DROP INDEX request_logs_ts;
-- Per-minute rollups of settled minutes, rebuilt from request_logs (never written on the hot
-- path): counts and sums per provider and model ('' for none), and a latency histogram of
-- the answered calls as JSON [first bin, count, count...] ('' for none), 5 %-wide bins from
-- 1 microsecond (portkey.observe.rollup.latency_bin).
CREATE TABLE request_log_minutes (
  minute BIGINT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  lookups INTEGER NOT NULL,
  hits INTEGER NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  tokens BIGINT NOT NULL,
  latency_hist TEXT NOT NULL,
  PRIMARY KEY (minute, provider, model)
);
-- Per-minute totals by one more dimension (dim = api_key_id | virtual_key; value '' for none).
CREATE TABLE request_log_minute_dims (
  dim TEXT NOT NULL,
  minute BIGINT NOT NULL,
  value TEXT NOT NULL,
  requests INTEGER NOT NULL,
  tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (minute, dim, value)
);
-- How far the rollups reach: every minute before rolled_to (epoch seconds) is rolled up.
CREATE TABLE analytics_state (
  name TEXT PRIMARY KEY,
  value DOUBLE PRECISION NOT NULL
);
-- Totals per key read this index alone, in key order (no sort).
CREATE INDEX request_log_minute_dims_value ON request_log_minute_dims (
  dim, value, minute, requests, tokens, cost_usd
)
