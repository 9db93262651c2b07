import { ALERT_SEVERITIES, upsertTriggeredAlert, type AlertSeverity } from '../../src/features/alerts/alerts.queries.js';
import { autocommit, createPool, isUuid, readBody, sendJson, serve } from './common.js';

/**
 * B-alert, the floor for P14: one `INSERT ... ON CONFLICT DO UPDATE` per event on the alerts
 * table, autocommit, as the connecting (owner) role: the app's own upsert
 * (`upsertTriggeredAlert`, imported, not copied), so the statement is the one ingestion runs.
 * POST /alerts/<tenant uuid>/<source uuid> with the same events-v2 `trigger` body the app gets;
 * answers 202 with PagerDuty's body, as the app does.
 */
const pool = createPool('bench-b-alert');
const tx = autocommit(pool);

interface Body {
  event_action?: unknown;
  dedup_key?: unknown;
  payload?: { summary?: unknown; source?: unknown; severity?: unknown; custom_details?: unknown };
}

serve('b-alert', pool, async (req, res, path) => {
  const parts = path.split('/');
  const tenantId = parts[2];
  const sourceId = parts[3];
  if (req.method !== 'POST' || parts.length !== 4 || parts[1] !== 'alerts' || !isUuid(tenantId) || !isUuid(sourceId)) {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const body = JSON.parse(await readBody(req)) as Body;
  const p = body.payload;
  if (
    body.event_action !== 'trigger' ||
    typeof body.dedup_key !== 'string' ||
    typeof p?.summary !== 'string' ||
    typeof p.source !== 'string' ||
    !ALERT_SEVERITIES.includes(p.severity as AlertSeverity)
  ) {
    sendJson(res, 400, { status: 'invalid event', message: 'Event object is invalid' });
    return;
  }
  await upsertTriggeredAlert(tx, {
    tenantId,
    sourceId,
    dedupKey: body.dedup_key,
    summary: p.summary,
    severity: p.severity as AlertSeverity,
    source: p.source,
    detailsJson: JSON.stringify({ custom_details: p.custom_details ?? null }),
    groupKey: null,
    now: new Date(),
  });
  sendJson(res, 202, { status: 'success', message: 'Event processed', dedup_key: body.dedup_key });
});
