-- Idempotency keys of creating POSTs that have no tenant yet (POST /v1/tenants): scoped to the
-- signed-in user, as idempotency_keys is to (tenant, principal). Same lifecycle: claimed in its
-- own transaction, completed in the transaction of the write, kept 24 hours.
CREATE TABLE account_idempotency_keys (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key text NOT NULL,
  fingerprint text NOT NULL,
  state text NOT NULL CHECK (state IN ('in_progress', 'completed')),
  response_status integer,
  response_body jsonb,
  response_headers jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  CONSTRAINT account_idempotency_keys_pkey PRIMARY KEY (user_id, key)
);
CREATE INDEX account_idempotency_keys_expires_idx ON account_idempotency_keys (expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON account_idempotency_keys TO incident_app;

-- A user sees and writes only their own keys.
ALTER TABLE account_idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE account_idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY account_idempotency_keys_own_rows ON account_idempotency_keys
  USING (user_id = (SELECT app_current_user_id()))
  WITH CHECK (user_id = (SELECT app_current_user_id()));
