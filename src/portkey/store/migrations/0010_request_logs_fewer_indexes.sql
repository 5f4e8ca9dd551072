-- Request logs: fewer B-trees for the log writer to update per row (every index costs each
-- insert; per-minute rollups now serve analytics over long windows).
-- (model, ts) and (provider, ts) go: there are few providers and models, so the /admin/logs
-- filters on them find a page of rows early when they read the table newest first by primary
-- key (id is time-ordered; since/until bound it), and within a time window the covering
-- request_logs_analytics index (ts, provider, model, ...) serves them, as it serves the
-- analytics, alert and rollup reads. A model or provider with no row in the window is the
-- slow case: a scan of the window (of the whole log without since/until: ~0.6 s on SQLite,
-- ~0.16 s on PostgreSQL at 1M rows).
-- Kept: the primary key (cursor paging, retention by row count), request_logs_trace (trace
-- id lookups), request_logs_key_ts (API keys are many and often sparse: a key's rows would
-- otherwise take a scan of the log) and request_logs_analytics.
DROP INDEX IF EXISTS request_logs_model_ts;
DROP INDEX IF EXISTS request_logs_provider_ts
