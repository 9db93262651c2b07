import { createHash, randomUUID } from 'node:crypto';
import { TxSlot, type Queryable } from '../db/database.js';
import { actorOf, type Actor, type RequestContext } from '../http/context.js';
import { countAuditEvent } from '../telemetry/metrics.js';

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

interface ChainHead {
  seq: number;
  hash: string;
  created_at: Date;
}

/** Per chain: the head as this transaction last left it (its row lock is held). */
const HEADS = new TxSlot(() => new Map<string, Promise<ChainHead | undefined>>());

const HEAD_SQL = {
  tenant: 'SELECT seq, hash, created_at FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE',
  account: 'SELECT seq, hash, created_at FROM audit_chain_heads WHERE tenant_id IS NULL FOR UPDATE',
};
const ADVANCE_SQL = {
  tenant: 'UPDATE audit_chain_heads SET seq = $2, hash = $3, created_at = $4 WHERE tenant_id = $1',
  account: 'UPDATE audit_chain_heads SET seq = $2, hash = $3, created_at = $4 WHERE tenant_id IS NULL',
};

/**
 * Locks the chain's head row and reads it (with FOR UPDATE, a statement that waited for the lock
 * reads the row as its holder committed it). A chain with no head row yet (its first event, or a
 * tenant created by SQL) gets one here; two such first appends racing: the second's insert waits
 * for the first's and then locks the head it committed.
 */
async function lockHead(tx: Queryable, tenantId: string | null): Promise<ChainHead | undefined> {
  const [sql, params] = tenantId === null ? [HEAD_SQL.account, []] : [HEAD_SQL.tenant, [tenantId]];
  let row = (await tx.query<ChainHead>(sql, params)).rows[0];
  if (row === undefined) {
    await tx.query(
      `INSERT INTO audit_chain_heads (tenant_id, seq, hash, created_at) VALUES ($1, 0, '', 'epoch')
       ON CONFLICT (tenant_id) DO NOTHING`,
      [tenantId],
    );
    row = (await tx.query<ChainHead>(sql, params)).rows[0];
    if (row === undefined) throw new Error('audit chain head missing after its insert');
  }
  return row.seq === 0 ? undefined : row;
}

/**
 * Locks the chain's head for this transaction and reads the previous seq and hash (undefined: the
 * chain has no event yet); once per transaction and chain. A transaction that will audit can
 * await this together with its other first reads, so that the append itself costs no round trip.
 * The lock order everywhere is: quota counter, then the rows a request changes, then the chain.
 */
export function prepareAuditChain(tx: Queryable, tenantId: string | null): Promise<ChainHead | undefined> {
  const heads = tx.local(HEADS);
  const chain = tenantId ?? '';
  let head = heads.get(chain);
  if (head === undefined) {
    head = lockHead(tx, tenantId);
    head.catch(() => undefined);
    heads.set(chain, head);
  }
  return head;
}

/**
 * Appends one audit row inside the caller's transaction, chained to the previous row of the same
 * chain (the tenant's, or the account-level chain when the transaction has no tenant). The lock
 * on the chain's head row serialises writers so concurrent requests cannot fork the chain; it is
 * released at commit or rollback together with the row. The returned promise settles with the
 * INSERT's answer; the new head is remembered, so a second event in the same transaction needs no
 * round trip to read it.
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
  const prev = await prepareAuditChain(tx, tenantId);
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
  tx.local(HEADS).set(tenantId ?? '', Promise.resolve({ seq: row.seq, hash, created_at: row.created_at }));
  countAuditEvent(tx, row.action);
  // The event and the chain's new head, in one statement.
  await tx.query(
    `WITH event AS (
       INSERT INTO audit_log_events (id, tenant_id, seq, actor_type, actor_id, action, target_type, target_id,
         metadata, ip, user_agent, trace_id, created_at, prev_hash, hash)
       VALUES ($5, $1, $2, $6, $7, $8, $9, $10, $11, $12, $13, $14, $4, $15, $3))
     ${tenantId === null ? ADVANCE_SQL.account : ADVANCE_SQL.tenant}`,
    [
      row.tenant_id,
      row.seq,
      hash,
      row.created_at,
      row.id,
      row.actor_type,
      row.actor_id,
      row.action,
      row.target_type,
      row.target_id,
      JSON.stringify(row.metadata),
      row.ip,
      row.user_agent,
      row.trace_id,
      row.prev_hash,
    ],
  );
}
