-- The head of each audit hash chain: one row per tenant chain, and one (tenant_id NULL) for the
-- account-level chain. An append locks its chain's head row (SELECT ... FOR UPDATE), reads the
-- previous seq and hash from it, and moves it in the statement that inserts the event. This
-- replaces an advisory lock plus "latest event of the chain" query, whose plan was a sort of the
-- whole chain whenever statistics were stale (the RLS filter is estimated at one row): append
-- cost grew with the chain. The events remain the record that GET /v1/audit-logs/verify checks;
-- a head that disagrees with them makes the next event break the chain, which verify reports.
CREATE TABLE audit_chain_heads (
  tenant_id uuid,
  seq bigint NOT NULL CHECK (seq >= 0),
  hash text NOT NULL,
  created_at timestamptz NOT NULL,
  CONSTRAINT audit_chain_heads_tenant_key UNIQUE NULLS NOT DISTINCT (tenant_id)
);

INSERT INTO audit_chain_heads (tenant_id, seq, hash, created_at)
  SELECT DISTINCT ON (tenant_id) tenant_id, seq, hash, created_at
    FROM audit_log_events
   ORDER BY tenant_id, seq DESC;

GRANT SELECT, INSERT, UPDATE ON audit_chain_heads TO incident_app;

ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_chain_heads_tenant_isolation ON audit_chain_heads
  USING (tenant_id IS NOT DISTINCT FROM (SELECT app_current_tenant_id()))
  WITH CHECK (tenant_id IS NOT DISTINCT FROM (SELECT app_current_tenant_id()));
