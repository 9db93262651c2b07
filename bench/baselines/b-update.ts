import { createPool, isUuid, readBody, sendJson, serve } from './common.js';

/**
 * B-update, the floor for P4: only the UPDATE of an incident, autocommit, as the connecting role.
 * PATCH /incidents/<tenant uuid>/<incident uuid> with `{ "title": "..." }`.
 */
const pool = createPool('bench-b-update');
const UPDATE_SQL = 'UPDATE incidents SET title = $3, version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2';

serve('b-update', pool, async (req, res, path) => {
  const parts = path.split('/');
  const tenantId = parts[2];
  const incidentId = parts[3];
  if (req.method !== 'PATCH' || parts.length !== 4 || parts[1] !== 'incidents' || !isUuid(tenantId) || !isUuid(incidentId)) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const body = JSON.parse(await readBody(req)) as { title?: unknown };
  if (typeof body.title !== 'string' || body.title.length < 1 || body.title.length > 200) {
    sendJson(res, 400, { error: 'title required' });
    return;
  }
  const result = await pool.query(UPDATE_SQL, [tenantId, incidentId, body.title]);
  if (result.rowCount === 0) sendJson(res, 404, { error: 'not found' });
  else sendJson(res, 200, { updated: result.rowCount });
});
