-- Usage per caller API key and UTC day: what the admin API's /admin/usage reports.
CREATE TABLE api_key_usage (
  api_key_id TEXT NOT NULL,
  day TEXT NOT NULL,
  requests BIGINT NOT NULL,
  tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (api_key_id, day)
);
