-- GET /v1/analytics/incidents reads one tenant's incidents by startedAt: a range scan on this
-- index, which carries every column the aggregate needs (an index-only scan where the
-- visibility map allows).
CREATE INDEX incidents_tenant_started_idx ON incidents (tenant_id, started_at)
  INCLUDE (severity, status, acknowledged_at, resolved_at);
