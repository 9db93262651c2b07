-- The event record: one row per incident-domain change, written in the change's transaction.
-- `seq` numbers a tenant's events in commit order. Every writer holds the tenant's audit chain
-- head lock (audit_chain_heads, FOR UPDATE) when it inserts, and takes max(seq) + 1 under it, so
-- a later number always belongs to a later commit: the same serialisation point as the audit
-- chain, no second lock. The primary key both enforces uniqueness and serves that max() and the
-- readers' `seq > $after` keyset scans.
CREATE TABLE events (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  seq bigint NOT NULL CHECK (seq > 0),
  id uuid NOT NULL,
  type text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
  incident_id uuid,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'service_account', 'system', 'anonymous')),
  actor_id uuid,
  data jsonb NOT NULL,
  occurred_at timestamptz NOT NULL,
  -- The W3C traceparent of the request that wrote the event (links delivery spans to it).
  trace_parent text CHECK (length(trace_parent) <= 100),
  CONSTRAINT events_pkey PRIMARY KEY (tenant_id, seq),
  CONSTRAINT events_id_key UNIQUE (tenant_id, id)
);
-- ?incidentId= lists and streams: one index range per incident, in seq order.
CREATE INDEX events_tenant_incident_seq_idx ON events (tenant_id, incident_id, seq) WHERE incident_id IS NOT NULL;

-- Append-only for the app: no UPDATE or DELETE grant (retention runs as the owner).
GRANT SELECT, INSERT ON events TO incident_app;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant_isolation ON events
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
