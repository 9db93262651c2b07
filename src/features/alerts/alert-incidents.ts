import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { findIncident, insertIncident, nextIncidentNumber, type ActorRef } from '../incidents/incidents.queries.js';
import type { Severity } from '../incidents/incidents.schema.js';
import { acknowledgeLockedIncident, appendSystemEvent, changeIncident } from '../incidents/incidents.service.js';
import { recordEvent } from '../events/events.record.js';
import { presentIncident } from '../incidents/incidents.presenters.js';
import { countWrite, decideWrite, markQuotaExceeded } from '../usage/usage.quota.js';
import { presentAlert } from './alerts.presenters.js';
import type { AlertSourceRow } from './alert-sources.queries.js';
import { findIncidentToJoin, incidentHasOpenAlerts, setAlertIncident, type AlertRow } from './alerts.queries.js';

/**
 * What alerts do to incidents (docs/api-guide.md "Alerts"). Every function here runs in the
 * ingestion transaction after the alert's row is locked, and takes the remaining locks in the
 * order every writer uses: the source (new alerts only), the tenant's quota counter, the incident,
 * then the audit chain.
 */
export interface AlertScope {
  tx: Queryable;
  ctx: RequestContext;
  tenantId: string;
  source: AlertSourceRow;
  dailyWriteQuota: number;
}

function by(scope: AlertScope): ActorRef {
  return { type: 'alert_source', id: scope.source.id };
}

/**
 * Counts one incident write; false when the tenant's quota is used up (audited once a day). The
 * alert is kept either way: alerts are never dropped for quota, only their incident work is.
 */
async function incidentWriteAllowed(scope: AlertScope): Promise<boolean> {
  try {
    // The same counting statement as a metered route's opening (the tenant is already set).
    const count = countWrite(scope.ctx.now, scope.dailyWriteQuota);
    decideWrite((await scope.tx.query(count.sql, count.params)).rows, scope.ctx.now);
    return true;
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'QUOTA_EXCEEDED') throw err;
    if (await markQuotaExceeded(scope.tx, scope.tenantId, scope.ctx.now)) {
      await recordAuditEvent(scope.tx, scope.ctx, scope.tenantId, {
        action: 'quota.exceeded',
        target: { type: 'tenant', id: scope.tenantId },
        metadata: { limit: err.details.limit, alertSourceId: scope.source.id },
        actor: by(scope),
      });
    }
    return false;
  }
}

const SEVERITY_OF = { critical: 'SEV1', error: 'SEV2', warning: 'SEV3', info: 'SEV4' } as const satisfies Record<AlertRow['severity'], Severity>;

function naming(alert: AlertRow): string {
  return `"${alert.summary}" (alert ${alert.id}, dedup key ${alert.dedup_key})`;
}

/**
 * A new alert joins the open incident of its group (Alertmanager `groupKey`) or of its source's
 * grouping window, or opens an incident. The source row is locked first, so two new alerts of one
 * source decide one after the other and never open two incidents for one group. Returns the
 * incident's id, or null over quota (the alert stays, with no incident).
 */
export async function attachNewAlert(scope: AlertScope, alert: AlertRow): Promise<string | null> {
  const { tx, ctx, tenantId, source } = scope;
  // FOR NO KEY UPDATE, not FOR UPDATE: every alert insert holds a KEY SHARE lock on its source (the
  // foreign key), which FOR UPDATE would wait for, so two new alerts would deadlock on each other.
  await tx.query('SELECT 1 FROM alert_sources WHERE tenant_id = $1 AND id = $2 FOR NO KEY UPDATE', [tenantId, source.id]);
  if (!(await incidentWriteAllowed(scope))) return null;
  const joined = await findIncidentToJoin(tx, {
    tenantId,
    sourceId: source.id,
    groupKey: alert.group_key,
    windowSeconds: source.grouping_window_seconds,
    now: ctx.now,
  });
  let incidentId = joined;
  if (incidentId === null) {
    const number = await nextIncidentNumber(tx, tenantId);
    const incident = await insertIncident(tx, {
      tenantId,
      number,
      title: Array.from(alert.summary).slice(0, 200).join('').trim() || alert.dedup_key.slice(0, 200),
      description: null,
      severity: SEVERITY_OF[alert.severity],
      commanderId: null,
      createdBy: by(scope),
      now: ctx.now,
    });
    incidentId = incident.id;
    await Promise.all([
      recordAuditEvent(tx, ctx, tenantId, {
        action: 'incident.created',
        target: { type: 'incident', id: incident.id },
        metadata: { number: incident.number, severity: incident.severity, alertId: alert.id, alertSourceId: source.id },
        actor: by(scope),
      }),
      recordEvent(tx, ctx, tenantId, { type: 'incident.created', incidentId: incident.id, data: { incident: presentIncident(incident) }, actor: by(scope) }),
    ]);
  }
  await setAlertIncident(tx, tenantId, alert.id, incidentId);
  await appendSystemEvent(tx, ctx, tenantId, incidentId, 'alert_triggered', `Alert triggered: ${naming(alert)}${joined ? '; joined this incident' : ''}.`, by(scope));
  return incidentId;
}

/**
 * Records an alert's change in the tenant's event record (alert.triggered for a new alert,
 * alert.acknowledged, alert.resolved), after the incident work so that `data.alert` names its
 * incident. Events that only add to an open alert are not recorded: its `eventCount` says how many.
 */
export async function recordAlertEvent(scope: AlertScope, type: 'alert.triggered' | 'alert.acknowledged' | 'alert.resolved', alert: AlertRow): Promise<void> {
  await recordEvent(scope.tx, scope.ctx, scope.tenantId, { type, incidentId: alert.incident_id, data: { alert: presentAlert(alert) }, actor: by(scope) });
}

/** An events-v2 `acknowledge`: the alert's incident is acknowledged too, once. */
export async function acknowledgeAlertIncident(scope: AlertScope, alert: AlertRow): Promise<boolean> {
  const { tx, ctx, tenantId } = scope;
  if (alert.incident_id === null || !(await incidentWriteAllowed(scope))) return false;
  const incident = await findIncident(tx, tenantId, alert.incident_id, true);
  if (!incident) return false;
  await appendSystemEvent(tx, ctx, tenantId, incident.id, 'alert_acknowledged', `Alert acknowledged: ${naming(alert)}.`, by(scope));
  await acknowledgeLockedIncident(tx, ctx, tenantId, incident, by(scope), `Acknowledged by alert ${alert.id}.`);
  return true;
}

/**
 * A resolved alert: noted on its incident, and when it was the incident's last open alert and
 * the source has autoResolve, the incident moves to resolved. The incident is locked before its
 * alerts are counted, so of two last alerts resolving at once the second sees the first resolved.
 */
export async function resolveAlertIncident(scope: AlertScope, alert: AlertRow): Promise<boolean> {
  const { tx, ctx, tenantId, source } = scope;
  if (alert.incident_id === null || !(await incidentWriteAllowed(scope))) return false;
  const incident = await findIncident(tx, tenantId, alert.incident_id, true);
  if (!incident) return false;
  await appendSystemEvent(tx, ctx, tenantId, incident.id, 'alert_resolved', `Alert resolved: ${naming(alert)}.`, by(scope));
  if (source.auto_resolve && incident.status !== 'resolved' && !(await incidentHasOpenAlerts(tx, tenantId, incident.id))) {
    const change = await changeIncident(tx, ctx, tenantId, incident, { status: 'resolved' }, { by: by(scope) });
    await change.row;
  }
  return true;
}
