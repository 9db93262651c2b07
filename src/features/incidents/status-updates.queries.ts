import type { Queryable } from '../../platform/db/database.js';
import { columnsOf, oneRow } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import type { IncidentStatus } from './incidents.schema.js';

export interface StatusUpdateRow {
  id: string;
  incident_id: string;
  message: string;
  status: IncidentStatus | null;
  visibility: 'internal' | 'public';
  actor_type: 'user' | 'service_account';
  actor_id: string;
  created_at: Date;
}

const COLUMNS = columnsOf<StatusUpdateRow>()('id', 'incident_id', 'message', 'status', 'visibility', 'actor_type', 'actor_id', 'created_at');

export async function insertStatusUpdate(
  tx: Queryable,
  s: {
    tenantId: string;
    incidentId: string;
    message: string;
    status: IncidentStatus | null;
    visibility: 'internal' | 'public';
    actor: { type: 'user' | 'service_account'; id: string };
    now: Date;
  },
): Promise<StatusUpdateRow> {
  const res = await tx.query<StatusUpdateRow>(
    `INSERT INTO status_updates (tenant_id, incident_id, message, status, visibility, actor_type, actor_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [s.tenantId, s.incidentId, s.message, s.status, s.visibility, s.actor.type, s.actor.id, s.now],
  );
  return oneRow(res, 'status update insert');
}

const PAGE = keyset('newest first', 3);
const LIST_STATUS_UPDATES_SQL = `SELECT ${COLUMNS}, ${PAGE.key} FROM status_updates
      WHERE tenant_id = $1 AND incident_id = $2 AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** A page of the incident's status updates, newest first. */
export async function listStatusUpdateRows(tx: Queryable, tenantId: string, incidentId: string, page: PageRequest): Promise<(StatusUpdateRow & KeyedRow)[]> {
  const { rows } = await tx.query<StatusUpdateRow & KeyedRow>(LIST_STATUS_UPDATES_SQL, [tenantId, incidentId, ...keysetParams(page, 'newest first')]);
  return rows;
}
