import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from '../db/database.js';
import { actorOf, type Actor, type RequestContext } from '../http/context.js';
import { countAuditedAction } from '../telemetry/metrics.js';

export interface AuditEventInput {
  action: string;
  target?: { type: string; id: string } | null;
  metadata?: Record<string, unknown>;
  /** Defaults to the request's principal. */
  actor?: Actor;
}

export interface AuditRow {
  id: string;
  tenant_id: string | null;
  seq: number;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  user_agent: string | null;
  trace_id: string | null;
  created_at: Date;
  prev_hash: string | null;
  hash: string;
}

/** JSON with object keys sorted at every level, so equal content always hashes equally. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** hash = sha256(prevHash || canonical row), the chain rule the verify endpoint recomputes. */
export function auditRowHash(row: Omit<AuditRow, 'hash'>): string {
  const canonical = canonicalJson([
    row.id,
    row.tenant_id,
    row.seq,
    row.actor_type,
    row.actor_id,
    row.action,
    row.target_type,
    row.target_id,
    row.metadata,
    row.ip,
    row.user_agent,
    row.trace_id,
    row.created_at.toISOString(),
  ]);
  return createHash('sha256')
    .update(row.prev_hash ?? '')
    .update(canonical)
    .digest('hex');
}

/** Keys whose values must never be written to an audit row, at any depth. */
const SECRET_KEY_RE = /pass(word)?|token|secret|^key$|apikey|api_key|cookie|session/i;

function assertNoSecrets(metadata: Record<string, unknown>, path = 'metadata'): void {
  for (const [k, v] of Object.entries(metadata)) {
    if (SECRET_KEY_RE.test(k)) throw new Error(`audit ${path}.${k} looks like a secret and is refused`);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) assertNoSecrets(v as Record<string, unknown>, `${path}.${k}`);
  }
}

/**
 * Takes the chain's transaction-scoped lock. Exported so that code which locks other rows before
 * auditing can take this lock first and keep one lock order (audit chain, then rows).
 */
export async function lockAuditChain(tx: Queryable, tenantId: string | null): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`audit:${tenantId ?? 'account'}`]);
}

/**
 * Appends one audit row inside the caller's transaction, chained to the previous row of the same
 * chain (the tenant's, or the account-level chain when the transaction has no tenant). A
 * transaction-scoped advisory lock per chain serialises writers so concurrent requests cannot fork
 * the chain; it is released at commit or rollback together with the row.
 */
export async function recordAuditEvent(
  tx: Queryable,
  ctx: Pick<RequestContext, 'principal' | 'ip' | 'userAgent' | 'requestId' | 'now'>,
  tenantId: string | null,
  event: AuditEventInput,
): Promise<void> {
  const metadata = event.metadata ?? {};
  assertNoSecrets(metadata);
  const actor = event.actor ?? actorOf(ctx.principal);
  await lockAuditChain(tx, tenantId);
  const { rows } = await tx.query<{ seq: number; hash: string; created_at: Date }>(
    tenantId === null
      ? 'SELECT seq, hash, created_at FROM audit_log_events WHERE tenant_id IS NULL ORDER BY seq DESC LIMIT 1'
      : 'SELECT seq, hash, created_at FROM audit_log_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1',
    tenantId === null ? [] : [tenantId],
  );
  const prev = rows[0];
  // created_at never runs backwards within a chain, even with a fake or skewed clock.
  const createdAt = prev && prev.created_at > ctx.now ? prev.created_at : ctx.now;
  const row: Omit<AuditRow, 'hash'> = {
    id: randomUUID(),
    tenant_id: tenantId,
    seq: (prev?.seq ?? 0) + 1,
    actor_type: actor.type,
    actor_id: actor.id,
    action: event.action,
    target_type: event.target?.type ?? null,
    target_id: event.target?.id ?? null,
    metadata,
    ip: ctx.ip,
    user_agent: ctx.userAgent,
    trace_id: ctx.requestId,
    created_at: new Date(Math.floor(createdAt.getTime())),
    prev_hash: prev?.hash ?? null,
  };
  const hash = auditRowHash(row);
  await tx.query(
    `INSERT INTO audit_log_events (id, tenant_id, seq, actor_type, actor_id, action, target_type, target_id,
       metadata, ip, user_agent, trace_id, created_at, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [
      row.id,
      row.tenant_id,
      row.seq,
      row.actor_type,
      row.actor_id,
      row.action,
      row.target_type,
      row.target_id,
      JSON.stringify(row.metadata),
      row.ip,
      row.user_agent,
      row.trace_id,
      row.created_at,
      row.prev_hash,
      hash,
    ],
  );
  countAuditedAction(tx, row.action);
}
