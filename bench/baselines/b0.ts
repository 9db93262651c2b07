import { createPool, isUuid, LIST_SQL, sendJson, serve } from './common.js';

/**
 * B0, the floor: one autocommit SELECT of a tenant's newest 25 incidents on a pg.Pool as the
 * connecting (owner) role, JSON out. No transaction, no role switch, no framework.
 * GET /incidents?tenant=<uuid>
 */
const pool = createPool('bench-b0');

serve('b0', pool, async (req, res, path, query) => {
  const tenantId = query.get('tenant');
  if (req.method !== 'GET' || path !== '/incidents' || !isUuid(tenantId)) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const { rows } = await pool.query(LIST_SQL, [tenantId]);
  sendJson(res, 200, { data: rows });
});
