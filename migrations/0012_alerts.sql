-- Alert ingestion (docs/api-guide.md "Alerts"): sources with a routing key, alerts deduplicated
-- per source and dedup key, incidents opened, joined, acknowledged and resolved by alerts.

CREATE TABLE alert_sources (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('events_v2', 'alertmanager')),
  default_severity text NOT NULL CHECK (default_severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')),
  auto_resolve boolean NOT NULL,
  grouping_window_seconds integer NOT NULL CHECK (grouping_window_seconds BETWEEN 0 AND 86400),
  -- SHA-256 (hex) of the routing key; the key itself is never stored. NULL once deleted.
  key_hash text CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  last_event_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deleted_at timestamptz,
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT alert_sources_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT alert_sources_key_hash_key UNIQUE (tenant_id, key_hash)
);
-- Ingestion finds the source (and so the tenant) by the digest of the presented key.
CREATE INDEX alert_sources_key_hash_idx ON alert_sources (key_hash) WHERE key_hash IS NOT NULL;
CREATE INDEX alert_sources_tenant_created_idx ON alert_sources (tenant_id, created_at DESC, id DESC);

CREATE TABLE alerts (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  source_id uuid NOT NULL,
  dedup_key text NOT NULL CHECK (length(dedup_key) BETWEEN 1 AND 255),
  status text NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
  summary text NOT NULL CHECK (length(summary) <= 1024),
  severity text NOT NULL CHECK (severity IN ('critical', 'error', 'warning', 'info')),
  source text NOT NULL CHECK (length(source) <= 255),
  details jsonb NOT NULL DEFAULT '{}',
  -- Alertmanager's groupKey: alerts of one group share one incident.
  group_key text CHECK (length(group_key) <= 1024),
  incident_id uuid,
  event_count integer NOT NULL DEFAULT 1 CHECK (event_count >= 1),
  first_seen_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  acknowledged_at timestamptz,
  resolved_at timestamptz,
  created_at timestamptz NOT NULL,
  CONSTRAINT alerts_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT alerts_source_fkey FOREIGN KEY (tenant_id, source_id) REFERENCES alert_sources (tenant_id, id),
  CONSTRAINT alerts_incident_fkey FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, id) ON DELETE SET NULL (incident_id)
);
-- At most one open alert per source and dedup key: concurrent triggers meet in INSERT ... ON
-- CONFLICT on this index, so the first inserts and every other adds to it. A resolved alert
-- leaves the index, and the next trigger with its key opens a new alert.
CREATE UNIQUE INDEX alerts_open_dedup_key ON alerts (tenant_id, source_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_tenant_created_idx ON alerts (tenant_id, created_at DESC, id DESC);
CREATE INDEX alerts_incident_idx ON alerts (tenant_id, incident_id, created_at DESC, id DESC) WHERE incident_id IS NOT NULL;
CREATE INDEX alerts_source_group_idx ON alerts (tenant_id, source_id, group_key) WHERE group_key IS NOT NULL;

-- Events that only added to an alert, per tenant per UTC day (GET /v1/usage alertEvents). A table
-- of its own: an incident write locks usage_counters before the incident, an alert before this.
CREATE TABLE alert_event_counters (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  alert_events integer NOT NULL DEFAULT 0 CHECK (alert_events >= 0),
  CONSTRAINT alert_event_counters_pkey PRIMARY KEY (tenant_id, day)
);

-- Incidents: acknowledgement, and alert sources as creators and timeline actors.
ALTER TABLE incidents ADD COLUMN acknowledged_at timestamptz;
ALTER TABLE incidents ADD COLUMN acknowledged_by_type text CHECK (acknowledged_by_type IN ('user', 'service_account', 'alert_source'));
ALTER TABLE incidents ADD COLUMN acknowledged_by_id uuid;
ALTER TABLE incidents DROP CONSTRAINT incidents_created_by_type_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_created_by_type_check CHECK (created_by_type IN ('user', 'service_account', 'alert_source'));
ALTER TABLE timeline_events DROP CONSTRAINT timeline_events_actor_type_check;
ALTER TABLE timeline_events ADD CONSTRAINT timeline_events_actor_type_check CHECK (actor_type IN ('user', 'service_account', 'alert_source'));
ALTER TABLE timeline_events DROP CONSTRAINT timeline_events_type_check;
ALTER TABLE timeline_events ADD CONSTRAINT timeline_events_type_check CHECK (type IN ('note', 'status_changed', 'severity_changed', 'task_created',
  'task_completed', 'status_update_posted', 'acknowledged', 'alert_triggered', 'alert_acknowledged', 'alert_resolved'));
ALTER TABLE audit_log_events DROP CONSTRAINT audit_log_events_actor_type_check;
ALTER TABLE audit_log_events ADD CONSTRAINT audit_log_events_actor_type_check CHECK (actor_type IN ('user', 'service_account', 'anonymous', 'system', 'alert_source'));
ALTER TABLE events DROP CONSTRAINT events_actor_type_check;
ALTER TABLE events ADD CONSTRAINT events_actor_type_check CHECK (actor_type IN ('user', 'service_account', 'system', 'anonymous', 'alert_source'));

GRANT SELECT, INSERT ON alert_sources TO incident_app;
GRANT UPDATE (name, default_severity, auto_resolve, grouping_window_seconds, key_hash, last_event_at, updated_at, deleted_at, version)
  ON alert_sources TO incident_app;
GRANT SELECT, INSERT ON alerts TO incident_app;
GRANT UPDATE (status, summary, severity, source, details, incident_id, event_count, last_seen_at, acknowledged_at, resolved_at)
  ON alerts TO incident_app;
GRANT SELECT, INSERT, UPDATE ON alert_event_counters TO incident_app;

ALTER TABLE alert_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_sources FORCE ROW LEVEL SECURITY;
CREATE POLICY alert_sources_tenant_isolation ON alert_sources
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
-- Narrow cross-tenant read: the one live source whose routing key digest the caller presented
-- (ingestion authenticates before the tenant is known), as api_keys_by_public_id does for keys.
CREATE POLICY alert_sources_by_key_hash ON alert_sources FOR SELECT
  USING (key_hash = NULLIF(current_setting('app.routing_key_hash', true), ''));

ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY alerts_tenant_isolation ON alerts
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));

ALTER TABLE alert_event_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_event_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY alert_event_counters_tenant_isolation ON alert_event_counters
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
