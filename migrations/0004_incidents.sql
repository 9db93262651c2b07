CREATE TABLE incidents (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  number integer NOT NULL CHECK (number > 0),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description text CHECK (length(description) <= 10000),
  severity text NOT NULL CHECK (severity IN ('SEV1', 'SEV2', 'SEV3', 'SEV4')),
  status text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  commander_id uuid REFERENCES users (id) ON DELETE SET NULL,
  created_by_type text NOT NULL CHECK (created_by_type IN ('user', 'service_account')),
  created_by_id uuid NOT NULL,
  started_at timestamptz NOT NULL,
  identified_at timestamptz,
  monitoring_at timestamptz,
  resolved_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', title || ' ' || coalesce(description, ''))
  ) STORED,
  CONSTRAINT incidents_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT incidents_number_key UNIQUE (tenant_id, number)
);
-- Keyset pagination newest first, always inside one tenant.
CREATE INDEX incidents_tenant_created_idx ON incidents (tenant_id, created_at DESC, id DESC);
CREATE INDEX incidents_tenant_status_created_idx ON incidents (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX incidents_search_idx ON incidents USING gin (search_vector);

CREATE TABLE timeline_events (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  incident_id uuid NOT NULL,
  type text NOT NULL CHECK (type IN ('note', 'status_changed', 'severity_changed', 'task_created', 'task_completed', 'status_update_posted')),
  message text NOT NULL CHECK (length(message) BETWEEN 1 AND 5000),
  occurred_at timestamptz NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'service_account')),
  actor_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT timeline_events_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT timeline_events_incident_fkey FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX timeline_events_incident_idx ON timeline_events (tenant_id, incident_id, created_at, id);

CREATE TABLE tasks (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  incident_id uuid NOT NULL,
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done')),
  assignee_id uuid REFERENCES users (id) ON DELETE SET NULL,
  due_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT tasks_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT tasks_incident_fkey FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX tasks_incident_idx ON tasks (tenant_id, incident_id, created_at DESC, id DESC);

CREATE TABLE status_updates (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  incident_id uuid NOT NULL,
  message text NOT NULL CHECK (length(message) BETWEEN 1 AND 5000),
  status text CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
  visibility text NOT NULL CHECK (visibility IN ('internal', 'public')),
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'service_account')),
  actor_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT status_updates_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT status_updates_incident_fkey FOREIGN KEY (tenant_id, incident_id) REFERENCES incidents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX status_updates_incident_idx ON status_updates (tenant_id, incident_id, created_at DESC, id DESC);

GRANT SELECT, INSERT, UPDATE ON incidents, timeline_events, tasks, status_updates TO incident_app;

ALTER TABLE incidents ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents FORCE ROW LEVEL SECURITY;
CREATE POLICY incidents_tenant_isolation ON incidents
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));

ALTER TABLE timeline_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE timeline_events FORCE ROW LEVEL SECURITY;
CREATE POLICY timeline_events_tenant_isolation ON timeline_events
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));

ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tasks_tenant_isolation ON tasks
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));

ALTER TABLE status_updates ENABLE ROW LEVEL SECURITY;
ALTER TABLE status_updates FORCE ROW LEVEL SECURITY;
CREATE POLICY status_updates_tenant_isolation ON status_updates
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
