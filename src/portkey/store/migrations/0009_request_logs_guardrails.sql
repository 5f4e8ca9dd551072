-- Request logs: what the guardrails did for a request (checks run and failed by check id,
-- time spent, flagged, transformed) as JSON; NULL when no guardrail ran.
ALTER TABLE request_logs ADD COLUMN guardrails TEXT
