-- GET /v1/tenants/:tenantId/members pages newest first by (created_at, user_id); this index lets
-- every page be read in order instead of sorting the tenant's whole membership each time.
CREATE INDEX memberships_tenant_created_idx ON memberships (tenant_id, created_at DESC, user_id DESC);
