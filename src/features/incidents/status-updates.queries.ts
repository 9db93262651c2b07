import type { Queryable } from '../../platform/db/database.js';
import type { Cursor } from '../../platform/http/pagination.js';
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

const COLUMNS = 'id, incident_id, message, status, visibility, actor_type, actor_id, created_at';

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
  const { rows } = await tx.query<StatusUpdateRow>(
    `INSERT INTO status_updates (tenant_id, incident_id, message, status, visibility, actor_type, actor_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [s.tenantId, s.incidentId, s.message, s.status, s.visibility, s.actor.type, s.actor.id, s.now],
  );
  return rows[0] as StatusUpdateRow;
}

/** A page of the incident's status updates, newest first, keyset on (created_at, id). */
export async function listStatusUpdateRows(
  tx: Queryable,
  tenantId: string,
  incidentId: string,
  cursor: Cursor | null,
  limit: number,
): Promise<StatusUpdateRow[]> {
  const { rows } = await tx.query<StatusUpdateRow>(
    `SELECT ${COLUMNS} FROM status_updates
      WHERE tenant_id = $1 AND incident_id = $2
        AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    [tenantId, incidentId, cursor?.createdAt ?? null, cursor?.id ?? null, limit],
  );
  return rows;
}
