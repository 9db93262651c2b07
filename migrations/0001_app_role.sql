-- The role every request transaction switches to with SET LOCAL ROLE. It cannot log in, is not
-- a superuser, cannot bypass row-level security and owns nothing, so RLS always applies to it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'incident_app') THEN
    CREATE ROLE incident_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
  END IF;
END
$$;

-- The connecting (migrating) user must be able to SET ROLE to it.
GRANT incident_app TO CURRENT_USER;

GRANT USAGE ON SCHEMA public TO incident_app;

-- Tenant and user context, read from transaction-local settings. A missing or empty setting is
-- NULL, and NULL never equals a tenant id, so a transaction without context sees nothing.
CREATE OR REPLACE FUNCTION app_current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE OR REPLACE FUNCTION app_current_user_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$;
