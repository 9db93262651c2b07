import type { Queryable } from '../../platform/db/database.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';

export interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
  version: number;
}

const ENDPOINT_COLUMNS = 'id, url, description, event_types, enabled, disabled_reason, created_at, updated_at, version';

function one<T>(rows: T[], what: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${what} returned no row`);
  return row;
}

/**
 * Inserts an endpoint with its first secret. Its cursor starts at the tenant's newest event, so it
 * receives what happens from now on; seq increases in commit order, so no event committed after
 * this transaction can be numbered below that.
 */
export async function insertEndpoint(
  tx: Queryable,
  e: { tenantId: string; id: string; url: string; description: string | null; eventTypes: string[]; createdBy: string | null; now: Date },
  secret: { id: string; ciphertext: string },
): Promise<EndpointRow> {
  const { rows } = await tx.query<EndpointRow>(
    `WITH endpoint AS (
       INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, cursor_seq, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5::text[], (SELECT coalesce(max(seq), 0) FROM events WHERE tenant_id = $1), $6, $7, $7)
       RETURNING ${ENDPOINT_COLUMNS}),
     secret AS (
       INSERT INTO webhook_endpoint_secrets (tenant_id, endpoint_id, id, secret_ciphertext, created_at)
       SELECT $1, id, $8, $9, $7 FROM endpoint)
     SELECT * FROM endpoint`,
    [e.tenantId, e.id, e.url, e.description, e.eventTypes, e.createdBy, e.now, secret.id, secret.ciphertext],
  );
  return one(rows, 'webhook endpoint insert');
}

const ENDPOINT_PAGE = keyset('newest first', 2);
const LIST_ENDPOINTS_SQL = `SELECT ${ENDPOINT_COLUMNS}, ${ENDPOINT_PAGE.key} FROM webhook_endpoints
      WHERE tenant_id = $1 AND ${ENDPOINT_PAGE.after} ${ENDPOINT_PAGE.orderAndLimit}`;

/** One keyset page, newest first. */
export async function listEndpointRows(tx: Queryable, tenantId: string, page: PageRequest): Promise<(EndpointRow & KeyedRow)[]> {
  const { rows } = await tx.query<EndpointRow & KeyedRow>(LIST_ENDPOINTS_SQL, [tenantId, ...keysetParams(page, 'newest first')]);
  return rows;
}

/** The endpoint, locked for update when `lock` (a change follows). */
export async function findEndpoint(tx: Queryable, tenantId: string, id: string, lock = false): Promise<EndpointRow | null> {
  const { rows } = await tx.query<EndpointRow>(
    `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
    [tenantId, id],
  );
  return rows[0] ?? null;
}

export interface EndpointChange {
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  /** Re-enabling starts a fresh failure window. */
  clearFailing: boolean;
}

export async function updateEndpoint(tx: Queryable, tenantId: string, id: string, c: EndpointChange, now: Date): Promise<EndpointRow> {
  const { rows } = await tx.query<EndpointRow>(
    `UPDATE webhook_endpoints
        SET url = $3, description = $4, event_types = $5::text[], enabled = $6, disabled_reason = $7,
            failing_since = CASE WHEN $8 THEN NULL ELSE failing_since END, updated_at = $9, version = version + 1
      WHERE tenant_id = $1 AND id = $2
      RETURNING ${ENDPOINT_COLUMNS}`,
    [tenantId, id, c.url, c.description, c.eventTypes, c.enabled, c.disabledReason, c.clearFailing, now],
  );
  return one(rows, 'webhook endpoint update');
}

/** Deletes the endpoint; its secrets, deliveries and attempt log go with it (ON DELETE CASCADE). */
export async function deleteEndpoint(tx: Queryable, tenantId: string, id: string): Promise<void> {
  await tx.query('DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
}

/**
 * Rotation: every secret still signing stops at `overlapEnd` (or keeps an earlier end), and the new
 * secret signs from now on.
 */
export async function rotateSecret(
  tx: Queryable,
  tenantId: string,
  endpointId: string,
  secret: { id: string; ciphertext: string },
  now: Date,
  overlapEnd: Date,
): Promise<void> {
  await tx.query(
    `WITH retired AS (
       UPDATE webhook_endpoint_secrets SET expires_at = $6
        WHERE tenant_id = $1 AND endpoint_id = $2 AND (expires_at IS NULL OR expires_at > $6))
     INSERT INTO webhook_endpoint_secrets (tenant_id, endpoint_id, id, secret_ciphertext, created_at)
     VALUES ($1, $2, $3, $4, $5)`,
    [tenantId, endpointId, secret.id, secret.ciphertext, now, overlapEnd],
  );
}
