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

/**
 * A chain's head as this transaction last left it (its row lock is held): the audit chain's seq,
 * hash and time, and `event_seq`, the tenant's last event number (the event record's counter,
 * features/events/events.record.ts, kept on the same locked row so that numbering an event costs
 * no lookup). Writers change it in place, synchronously, before they issue the statement that
 * writes it; every statement that writes the head writes all of it (headWrite), so the last one
 * issued leaves the row as the transaction does.
 */
export interface ChainHead {
  seq: number;
  hash: string;
  created_at: Date;
  event_seq: number;
}

/** Per chain: the head as this transaction last left it. */
const HEADS = new TxSlot(() => new Map<string, Promise<ChainHead>>());

const HEAD_COLUMNS = 'seq, hash, created_at, event_seq';
const HEAD_SQL = {
  tenant: `SELECT ${HEAD_COLUMNS} FROM audit_chain_heads WHERE tenant_id = $1 FOR UPDATE`,
  account: `SELECT ${HEAD_COLUMNS} FROM audit_chain_heads WHERE tenant_id IS NULL FOR UPDATE`,
};

/**
 * Locks the chain's head row and reads it (with FOR UPDATE, a statement that waited for the lock
 * reads the row as its holder committed it). A chain with no head row yet (its first event, or a
 * tenant created by SQL) gets one here, its event counter starting from the tenant's events (a
 * tenant whose events were written by SQL); two such first appends racing: the second's insert
 * waits for the first's and then locks the head it committed.
 */
async function lockHead(tx: Queryable, tenantId: string | null): Promise<ChainHead> {
  const [sql, params] = tenantId === null ? [HEAD_SQL.account, []] : [HEAD_SQL.tenant, [tenantId]];
  // int8 columns: numbers from the pg pool's parser, possibly strings from another driver.
  type HeadRow = Omit<ChainHead, 'seq' | 'event_seq'> & { seq: number | string; event_seq: number | string };
  let row = (await tx.query<HeadRow>(sql, params)).rows[0];
  if (row === undefined) {
    await tx.query(
      `INSERT INTO audit_chain_heads (tenant_id, seq, hash, created_at, event_seq)
       VALUES ($1, 0, '', 'epoch', (SELECT coalesce(max(seq), 0) FROM events WHERE tenant_id = $1))
       ON CONFLICT (tenant_id) DO NOTHING`,
      [tenantId],
    );
    row = (await tx.query<HeadRow>(sql, params)).rows[0];
    if (row === undefined) throw new Error('audit chain head missing after its insert');
  }
  return { seq: Number(row.seq), hash: row.hash, created_at: row.created_at, event_seq: Number(row.event_seq) };
}

/**
 * The chain head's lock and read as a LATERAL subquery of a caller's statement that locks its own
 * rows first (`LEFT JOIN LATERAL (...) head ON true`, `$tenant` the tenant id's parameter,
 * `after` a column of the rows locked before it, so the head is locked after them and only when
 * there are any): one statement instead of two. Its columns, prefixed `head_`, go to
 * adoptChainHead.
 */
export function lockedHeadSubquery(tenant: string, after: string): string {
  return `SELECT seq AS head_seq, hash AS head_hash, created_at AS head_created_at, event_seq AS head_event_seq
    FROM audit_chain_heads WHERE tenant_id = ${tenant} AND ${after} IS NOT NULL FOR UPDATE`;
}

/** What lockedHeadSubquery answers: null columns when the chain has no head row yet. */
export interface LockedHeadColumns {
  head_seq: number | string | null;
  head_hash: string | null;
  head_created_at: Date | null;
  head_event_seq: number | string | null;
}

/**
 * Takes the head a caller's statement locked (lockedHeadSubquery) as the transaction's head of the
 * tenant's chain, as prepareAuditChain would have; a chain with no head row yet gets one the way
 * prepareAuditChain makes it.
 */
export function adoptChainHead(tx: Queryable, tenantId: string, row: LockedHeadColumns): Promise<ChainHead> {
  const heads = tx.local(HEADS);
  const known = heads.get(tenantId);
  if (known !== undefined) return known;
  const head =
    row.head_seq === null || row.head_hash === null || row.head_created_at === null || row.head_event_seq === null
      ? lockHead(tx, tenantId)
      : Promise.resolve({ seq: Number(row.head_seq), hash: row.head_hash, created_at: row.head_created_at, event_seq: Number(row.head_event_seq) });
  head.catch(() => undefined);
  heads.set(tenantId, head);
  return head;
}

/**
 * Locks the chain's head for this transaction and reads it (seq 0: the chain has no event yet);
 * once per transaction and chain. A transaction that will audit can await this together with its
 * other first reads, so that the append itself costs no round trip. The lock order everywhere is:
 * quota counter, then the rows a request changes, then the chain.
 */
export function prepareAuditChain(tx: Queryable, tenantId: string | null): Promise<ChainHead> {
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
 * The statement part that writes a chain's head as the transaction has left it so far, for a
 * data-modifying CTE (`head AS (...)`) or on its own; its parameters start at `$first`, the first
 * being the tenant id (omitted for the account chain). A statement writes the head at most once.
 */
export function headWrite(tenantId: string | null, head: ChainHead, first: number): { sql: string; params: unknown[] } {
  const n = (k: number): string => `$${String(first + k)}`;
  return tenantId === null
    ? {
        sql: `UPDATE audit_chain_heads SET seq = ${n(0)}, hash = ${n(1)}, created_at = ${n(2)}, event_seq = ${n(3)} WHERE tenant_id IS NULL`,
        params: [head.seq, head.hash, head.created_at, head.event_seq],
      }
    : {
        sql: `UPDATE audit_chain_heads SET seq = ${n(1)}, hash = ${n(2)}, created_at = ${n(3)}, event_seq = ${n(4)} WHERE tenant_id = ${n(0)}`,
        params: [tenantId, head.seq, head.hash, head.created_at, head.event_seq],
      };
}

/**
 * Builds the next audit row of the chain (the tenant's, or the account-level chain when the
 * transaction has no tenant) onto the transaction's locked head (`prepareAuditChain`) and moves
 * the head past it, without writing either: the caller must issue, in this transaction, a
 * statement that inserts the row (auditInsert) and writes the head (headWrite), as
 * recordAuditEvent does. The lock on the chain's head row serialises writers, so concurrent
 * requests cannot fork the chain; it is released at commit or rollback together with the row.
 */
export function chainAuditRow(
  head: ChainHead,
  tx: Queryable,
  ctx: Pick<RequestContext, 'principal' | 'ip' | 'userAgent' | 'requestId' | 'now'>,
  tenantId: string | null,
  event: AuditEventInput,
): AuditRow {
  const metadata = event.metadata ?? {};
  assertNoSecrets(metadata);
  const actor = event.actor ?? actorOf(ctx.principal);
  const first = head.seq === 0;
  // created_at never runs backwards within a chain, even with a fake or skewed clock.
  const createdAt = !first && head.created_at > ctx.now ? head.created_at : ctx.now;
  const unhashed: Omit<AuditRow, 'hash'> = {
    id: randomUUID(),
    tenant_id: tenantId,
    seq: head.seq + 1,
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
    prev_hash: first ? null : head.hash,
  };
  const row: AuditRow = { ...unhashed, hash: auditRowHash(unhashed) };
  head.seq = row.seq;
  head.hash = row.hash;
  head.created_at = row.created_at;
  countAuditEvent(tx, row.action);
  return row;
}

/** The INSERT of a chained audit row, its parameters starting at `$first`. */
export function auditInsert(row: AuditRow, first: number): { sql: string; params: unknown[] } {
  const values = Array.from({ length: 15 }, (_, k) => `$${String(first + k)}`).join(', ');
  return {
    sql: `INSERT INTO audit_log_events (id, tenant_id, seq, actor_type, actor_id, action, target_type, target_id,
         metadata, ip, user_agent, trace_id, created_at, prev_hash, hash) VALUES (${values})`,
    params: [
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
      row.hash,
    ],
  };
}

/**
 * Appends one audit row inside the caller's transaction, chained to the previous row of the same
 * chain, and moves the chain's head, in one statement. The returned promise settles with its
 * answer; the new head is remembered, so a second event in the same transaction needs no round
 * trip to read it.
 */
export async function recordAuditEvent(
  tx: Queryable,
  ctx: Pick<RequestContext, 'principal' | 'ip' | 'userAgent' | 'requestId' | 'now'>,
  tenantId: string | null,
  event: AuditEventInput,
): Promise<void> {
  const head = await prepareAuditChain(tx, tenantId);
  const row = chainAuditRow(head, tx, ctx, tenantId, event);
  const insert = auditInsert(row, 1);
  const write = headWrite(tenantId, head, insert.params.length + 1);
  await tx.query(`WITH event AS (${insert.sql}) ${write.sql}`, [...insert.params, ...write.params]);
}
