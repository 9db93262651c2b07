-- Accounts are global (not tenant data): one row per person, email unique after normalisation.
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 320),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  password_hash text NOT NULL,
  -- Bumped by password reset and change; a session whose stored epoch differs is dead.
  session_epoch integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE password_reset_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- SHA-256 of the emailed token; the token itself is never stored.
  token_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT password_reset_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id, created_at DESC);

GRANT SELECT, INSERT, UPDATE ON users, password_reset_tokens TO incident_app;

-- Append-only, tamper-evident audit log. tenant_id is NULL for account-level events (signup,
-- login, password reset), which form their own chain. Each row's hash covers the previous row's
-- hash in the same chain, so any later edit breaks verification from that row on.
CREATE TABLE audit_log_events (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid,
  seq bigint NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('user', 'service_account', 'anonymous', 'system')),
  actor_id uuid,
  action text NOT NULL,
  target_type text,
  target_id text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  ip text,
  user_agent text,
  trace_id text,
  created_at timestamptz NOT NULL,
  prev_hash text,
  hash text NOT NULL,
  CONSTRAINT audit_log_events_pkey PRIMARY KEY (id)
);
-- One position per chain; NULLS NOT DISTINCT is PostgreSQL 15+, so the account-level chain gets
-- its own partial index instead.
CREATE UNIQUE INDEX audit_log_events_tenant_seq_key ON audit_log_events (tenant_id, seq) WHERE tenant_id IS NOT NULL;
CREATE UNIQUE INDEX audit_log_events_account_seq_key ON audit_log_events (seq) WHERE tenant_id IS NULL;
CREATE INDEX audit_log_events_tenant_created_idx ON audit_log_events (tenant_id, created_at DESC, id DESC);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log_events is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_log_events_no_update BEFORE UPDATE OR DELETE ON audit_log_events
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_events_no_truncate BEFORE TRUNCATE ON audit_log_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

REVOKE ALL ON audit_log_events FROM incident_app;
GRANT SELECT, INSERT ON audit_log_events TO incident_app;

ALTER TABLE audit_log_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log_events FORCE ROW LEVEL SECURITY;
-- A tenant transaction sees and writes its tenant's chain; an account-level transaction (no
-- tenant) sees and writes only the account-level chain.
CREATE POLICY audit_log_events_tenant_isolation ON audit_log_events
  USING (tenant_id IS NOT DISTINCT FROM (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id IS NOT DISTINCT FROM (SELECT app_current_tenant_id()));
