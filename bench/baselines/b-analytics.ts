import { incidentAnalytics } from '../../src/features/analytics/analytics.service.js';
import { INTERVALS, type Interval } from '../../src/features/analytics/analytics.schema.js';
import { autocommit, createPool, isUuid, sendJson, serve } from './common.js';

/**
 * B-analytics, the floor for P15: the app's incident analytics on bare `node:http`, autocommit,
 * as the connecting (owner) role. The aggregate statement and the answer's shape are the app's
 * own (`incidentAnalytics` and the `incidentBuckets` query it runs, imported, not copied).
 * GET /analytics?tenant=<uuid>&from=&to=&interval=&groupBy=
 */
const pool = createPool('bench-b-analytics');
const tx = autocommit(pool);

serve('b-analytics', pool, async (req, res, path, query) => {
  const tenantId = query.get('tenant');
  const interval = query.get('interval') ?? 'day';
  const groupBy = query.get('groupBy') ?? 'none';
  if (req.method !== 'GET' || path !== '/analytics' || !isUuid(tenantId) || !INTERVALS.includes(interval as Interval) || (groupBy !== 'none' && groupBy !== 'severity')) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const body = await incidentAnalytics(tx, tenantId, new Date(), {
    from: query.get('from') ?? undefined,
    to: query.get('to') ?? undefined,
    interval: interval as Interval,
    groupBy,
  });
  sendJson(res, 200, body);
});
