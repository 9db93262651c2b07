CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- Per-tenant override of DAILY_WRITE_QUOTA; NULL uses the default.
  daily_write_quota integer CHECK (daily_write_quota IS NULL OR daily_write_quota >= 0),
  -- Last incident number handed out; bumped under the tenant row's lock so numbers are gapless
  -- per tenant without any lock across tenants.
  incident_seq integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE invites (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (email = lower(btrim(email))),
  role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  -- SHA-256 of the mailed token, never the token.
  token_hash text NOT NULL,
  invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT invites_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT invites_token_hash_key UNIQUE (tenant_id, token_hash)
);
CREATE INDEX invites_token_hash_idx ON invites (token_hash);
CREATE INDEX invites_tenant_created_idx ON invites (tenant_id, created_at DESC, id DESC);

GRANT SELECT, INSERT ON tenants TO incident_app;
GRANT UPDATE (name, incident_seq) ON tenants TO incident_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships TO incident_app;
GRANT SELECT, INSERT, UPDATE ON invites TO incident_app;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_tenant_isolation ON tenants
  USING (id = (SELECT app_current_tenant_id()))
  WITH CHECK (id = (SELECT app_current_tenant_id()));
-- Narrow cross-tenant read: the tenants the current user belongs to (GET /v1/tenants).
CREATE POLICY tenants_of_current_user ON tenants FOR SELECT
  USING (EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = tenants.id AND m.user_id = (SELECT app_current_user_id())));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant_isolation ON memberships
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
-- Narrow cross-tenant read: the current user's own memberships in every tenant.
CREATE POLICY memberships_own_rows ON memberships FOR SELECT
  USING (user_id = (SELECT app_current_user_id()));

ALTER TABLE invites ENABLE ROW LEVEL SECURITY;
ALTER TABLE invites FORCE ROW LEVEL SECURITY;
CREATE POLICY invites_tenant_isolation ON invites
  USING (tenant_id = (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id = (SELECT app_current_tenant_id()));
-- Narrow cross-tenant read: the one invite whose token hash the accepting user presented.
CREATE POLICY invites_by_token_hash ON invites FOR SELECT
  USING (token_hash = NULLIF(current_setting('app.invite_token_hash', true), ''));
