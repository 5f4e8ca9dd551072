-- Data sync (portkey.orchestrator.sync): one row per run, a lock per job so two replicas never
-- run one job at once, and the last schedule slot each job was claimed for. The cursor that
-- makes a run exactly-once lives in the target (_portkey_sync_state), committed with the rows.
CREATE TABLE sync_runs (
  id TEXT PRIMARY KEY,
  job TEXT NOT NULL,
  status TEXT NOT NULL,
  triggered_by TEXT NOT NULL,
  started_at DOUBLE PRECISION NOT NULL,
  finished_at DOUBLE PRECISION,
  rows_read BIGINT NOT NULL DEFAULT 0,
  rows_written BIGINT NOT NULL DEFAULT 0,
  bytes BIGINT NOT NULL DEFAULT 0,
  changes TEXT,
  verification TEXT,
  error TEXT,
  holder TEXT
);
CREATE INDEX sync_runs_job ON sync_runs (job, started_at);
CREATE TABLE sync_locks (
  job TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  run_id TEXT,
  expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE sync_slots (
  job TEXT PRIMARY KEY,
  last_slot DOUBLE PRECISION NOT NULL
)
