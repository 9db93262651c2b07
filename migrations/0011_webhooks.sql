-- Webhook endpoints, their signing secrets, deliveries and the attempt log.
--
-- Deliveries are derived from the event record: each endpoint keeps a cursor (the last event seq
-- it has been given deliveries for). A worker step turns the events after the cursor into
-- delivery rows and advances the cursor in one statement; since seq increases in commit order, a
-- cursor never skips an event. The request that writes an event therefore pays nothing for
-- webhooks.

-- The worker's context: set transaction-locally by the webhook worker only (never by request
-- handling). The narrow policies below let that context see and move webhook rows of every
-- tenant, because one worker serves all tenants. Empty or missing means "not the worker".
CREATE OR REPLACE FUNCTION app_current_worker() RETURNS text
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.worker', true), '') $$;

CREATE TABLE webhook_endpoints (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  description text CHECK (length(description) <= 1000),
  event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1),
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text,
  -- The last event seq turned into deliveries for this endpoint.
  cursor_seq bigint NOT NULL DEFAULT 0,
  -- When the current run of failed attempts began (NULL after any success): 5 days of it disables.
  failing_since timestamptz,
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  version integer NOT NULL DEFAULT 1,
  CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_tenant_created_idx ON webhook_endpoints (tenant_id, created_at DESC, id DESC);
CREATE INDEX webhook_endpoints_enabled_idx ON webhook_endpoints (tenant_id, id) WHERE enabled;

-- Signing secrets, AES-256-GCM encrypted under DATA_ENCRYPTION_KEY (docs/security.md 51). A
-- rotation sets expires_at on the old secret; until then both sign.
CREATE TABLE webhook_endpoint_secrets (
  tenant_id uuid NOT NULL,
  endpoint_id uuid NOT NULL,
  id uuid NOT NULL,
  secret_ciphertext text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz,
  CONSTRAINT webhook_endpoint_secrets_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT webhook_endpoint_secrets_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
    REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_endpoint_secrets_endpoint_idx ON webhook_endpoint_secrets (tenant_id, endpoint_id);

CREATE TABLE webhook_deliveries (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  endpoint_id uuid NOT NULL,
  -- The webhook-id header: the event's id, the same on every retry, redelivery and replay.
  event_id uuid NOT NULL,
  -- The event's seq (NULL for webhook.test, which is not in the event record).
  event_seq bigint,
  event_type text NOT NULL,
  -- The body of a webhook.test delivery; other deliveries present their event from the record.
  payload jsonb,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 8,
  next_attempt_at timestamptz NOT NULL,
  -- A claimed delivery is leased: a worker that dies mid-attempt loses the lease and another
  -- worker retries it (same webhook-id). lease_token fences a worker whose lease ran out.
  lease_until timestamptz,
  lease_token uuid,
  last_attempt_at timestamptz,
  last_response_status integer,
  trace_parent text,
  created_at timestamptz NOT NULL,
  CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (tenant_id, endpoint_id)
    REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_created_idx ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_delivery_attempts (
  tenant_id uuid NOT NULL,
  delivery_id uuid NOT NULL,
  attempt integer NOT NULL,
  at timestamptz NOT NULL,
  duration_ms integer NOT NULL,
  response_status integer,
  response_body_excerpt text,
  error text,
  CONSTRAINT webhook_delivery_attempts_pkey PRIMARY KEY (tenant_id, delivery_id, attempt),
  CONSTRAINT webhook_delivery_attempts_delivery_fkey FOREIGN KEY (tenant_id, delivery_id)
    REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);

GRANT SELECT, INSERT, DELETE ON webhook_endpoints TO incident_app;
GRANT UPDATE (url, description, event_types, enabled, disabled_reason, cursor_seq, failing_since, updated_at, version)
  ON webhook_endpoints TO incident_app;
GRANT SELECT, INSERT ON webhook_endpoint_secrets TO incident_app;
GRANT UPDATE (expires_at) ON webhook_endpoint_secrets TO incident_app;
GRANT SELECT, INSERT ON webhook_deliveries TO incident_app;
GRANT UPDATE (status, attempts, max_attempts, next_attempt_at, lease_until, lease_token, last_attempt_at, last_response_status)
  ON webhook_deliveries TO incident_app;
GRANT SELECT, INSERT ON webhook_delivery_attempts TO incident_app;

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoints_tenant_isolation ON webhook_endpoints
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
CREATE POLICY webhook_endpoints_worker_read ON webhook_endpoints FOR SELECT
  USING ((SELECT app_current_worker()) = 'webhooks');
CREATE POLICY webhook_endpoints_worker_cursor ON webhook_endpoints FOR UPDATE
  USING ((SELECT app_current_worker()) = 'webhooks')
  WITH CHECK ((SELECT app_current_worker()) = 'webhooks');

ALTER TABLE webhook_endpoint_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoint_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoint_secrets_tenant_isolation ON webhook_endpoint_secrets
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
CREATE POLICY webhook_endpoint_secrets_worker_read ON webhook_endpoint_secrets FOR SELECT
  USING ((SELECT app_current_worker()) = 'webhooks');

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_deliveries_tenant_isolation ON webhook_deliveries
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
CREATE POLICY webhook_deliveries_worker ON webhook_deliveries
  USING ((SELECT app_current_worker()) = 'webhooks')
  WITH CHECK ((SELECT app_current_worker()) = 'webhooks');

ALTER TABLE webhook_delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_delivery_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_delivery_attempts_tenant_isolation ON webhook_delivery_attempts
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
CREATE POLICY webhook_delivery_attempts_worker ON webhook_delivery_attempts
  USING ((SELECT app_current_worker()) = 'webhooks')
  WITH CHECK ((SELECT app_current_worker()) = 'webhooks');

-- The worker turns every tenant's new events into deliveries: it reads events across tenants,
-- and only in its own context.
CREATE POLICY events_webhook_worker_read ON events FOR SELECT
  USING ((SELECT app_current_worker()) = 'webhooks');
