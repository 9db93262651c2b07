import { appTxPreamble } from '../../src/platform/db/database.js';
import { createPool, isUuid, LIST_SQL, sendJson, serve } from './common.js';

/**
 * B1, the floor for tenant isolation: the same SELECT inside exactly the app's tenant
 * transaction. The preamble is imported from the app (BEGIN; SET LOCAL ROLE incident_app;
 * set_config ... in one simple-query round trip), so RLS applies as it does to the app; then the
 * SELECT; then COMMIT. GET /incidents?tenant=<uuid>
 */
const pool = createPool('bench-b1');

serve('b1', pool, async (req, res, path, query) => {
  const tenantId = query.get('tenant');
  if (req.method !== 'GET' || path !== '/incidents' || !isUuid(tenantId)) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const client = await pool.connect();
  let broken = false;
  try {
    // Exactly the app's opening round trip, with its default statement timeout (5000 ms).
    await client.query(appTxPreamble({ tenantId, userId: null }, 5000));
    const { rows } = await client.query(LIST_SQL, [tenantId]);
    await client.query('COMMIT');
    sendJson(res, 200, { data: rows });
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    client.release(broken);
  }
});
