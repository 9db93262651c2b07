CREATE TABLE service_accounts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text CHECK (length(description) <= 1000),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT service_accounts_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX service_accounts_tenant_created_idx ON service_accounts (tenant_id, created_at DESC, id DESC);

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  service_account_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- The public part of itk_<public id>_<secret>; safe to show and to index.
  public_id text NOT NULL,
  -- SHA-256 of the whole key; the key itself is never stored.
  secret_hash text NOT NULL,
  scopes text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write']::text[] AND cardinality(scopes) >= 1),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT api_keys_public_id_key UNIQUE (tenant_id, public_id),
  CONSTRAINT api_keys_service_account_fkey FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_public_id_idx ON api_keys (public_id);
CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at DESC, id DESC);

-- Daily per-tenant write counters: one row per tenant per UTC day.
CREATE TABLE usage_counters (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day date NOT NULL,
  incident_writes integer NOT NULL DEFAULT 0 CHECK (incident_writes >= 0),
  exceeded_at timestamptz,
  CONSTRAINT usage_counters_pkey PRIMARY KEY (tenant_id, day)
);

CREATE TABLE idempotency_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  principal_type text NOT NULL,
  principal_id uuid NOT NULL,
  key text NOT NULL,
  fingerprint text NOT NULL,
  state text NOT NULL CHECK (state IN ('in_progress', 'completed')),
  response_status integer,
  response_body jsonb,
  response_headers jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, principal_type, principal_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

GRANT SELECT, INSERT ON service_accounts TO incident_app;
GRANT SELECT, INSERT ON api_keys TO incident_app;
GRANT UPDATE (revoked_at, last_used_at) ON api_keys TO incident_app;
GRANT SELECT, INSERT, UPDATE ON usage_counters TO incident_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO incident_app;

ALTER TABLE service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY service_accounts_tenant_isolation ON service_accounts
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant_isolation ON api_keys
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
-- Narrow cross-tenant read: the one key whose public id the caller presented (authentication
-- happens before the tenant is known).
CREATE POLICY api_keys_by_public_id ON api_keys FOR SELECT
  USING (public_id = NULLIF(current_setting('app.api_key_public_id', true), ''));

ALTER TABLE usage_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY usage_counters_tenant_isolation ON usage_counters
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_tenant_isolation ON idempotency_keys
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
