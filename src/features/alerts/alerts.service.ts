import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import type { PageQuery } from '../incidents/incidents.schema.js';
import { loadIncident } from '../incidents/incidents.service.js';
import { presentAlert } from './alerts.presenters.js';
import { findAlert, listAlertRows } from './alerts.queries.js';
import type { ListAlertsQuery } from './alerts.schema.js';

export async function listAlerts(tx: Queryable, tenantId: string, query: ListAlertsQuery) {
  const page = pageRequest(query, query);
  const rows = await listAlertRows(tx, tenantId, query, page);
  return pageOf(rows, page, presentAlert);
}

/** One alert of the tenant: 404 for another tenant's and a random id alike, then authorised. */
export async function getAlert(tx: Queryable, ctx: RequestContext, tenantId: string, alertId: string) {
  const row = await findAlert(tx, tenantId, alertId);
  if (!row) throw new AppError('NOT_FOUND');
  enforce('incidents.read', { tenantId }, ctx);
  return presentAlert(row);
}

/** The alerts on one incident, newest first. */
export async function listIncidentAlerts(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, query: PageQuery) {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.read');
  const page = pageRequest(query, { incidentId });
  const rows = await listAlertRows(tx, tenantId, { incidentId }, page);
  return pageOf(rows, page, presentAlert);
}
