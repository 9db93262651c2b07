import { randomUUID } from 'node:crypto';
import { SmtpSink } from '../../support/smtp-sink.js';
import { adminQuery, createScenarioDatabase, type ScenarioDatabase } from './database.js';
import { ApiKeyClient, SessionClient, type Response } from './http.js';
import type { Cleanup } from './processes.js';
import { ThrowawayRedis } from './redis.js';
import { ServerProcess } from './server.js';

export const PASSWORD = 'correct horse battery staple';

export interface Stack {
  db: ScenarioDatabase;
  redis: ThrowawayRedis;
  sink: SmtpSink;
  server: ServerProcess;
}

export interface StackOptions {
  env?: Record<string, string>;
  /** Where the server connects instead of the database directly (a proxy or PgBouncer). */
  databaseUrl?: (db: ScenarioDatabase) => Promise<string>;
}

/**
 * Everything one scenario needs, all its own: a fresh migrated database, a throwaway Redis, an
 * SMTP sink and the built server wired to them. Each piece registers its own teardown.
 */
export async function startStack(cleanup: Cleanup, label: string, opts: StackOptions = {}): Promise<Stack> {
  const db = await createScenarioDatabase(cleanup, label);
  const redis = await ThrowawayRedis.start(cleanup);
  const sink = new SmtpSink();
  await sink.start();
  cleanup.add('smtp sink', () => sink.stop());
  const databaseUrl = opts.databaseUrl ? await opts.databaseUrl(db) : db.url;
  const server = await ServerProcess.start(cleanup, {
    databaseUrl,
    redisUrl: redis.url,
    smtpUrl: sink.url,
    ...(opts.env ? { env: opts.env } : {}),
  });
  return { db, redis, sink, server };
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.test`;
}

function expectStatus(res: Response, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.text}`);
}

/** A fresh account, signed in. */
export async function signUp(baseUrl: string, email = uniqueEmail()): Promise<SessionClient> {
  const client = new SessionClient(baseUrl);
  await client.refreshCsrf();
  const res = await client.post('/v1/auth/signup', { email, password: PASSWORD, name: 'Resilience' });
  expectStatus(res, 201, 'signup');
  const body = res.body as { user: SessionClient['user']; csrfToken: string };
  client.user = body.user;
  client.csrfToken = body.csrfToken;
  return client;
}

/** Creates a tenant as `client`, who owns it and has it active. */
export async function createTenant(client: SessionClient, name = 'Acme'): Promise<string> {
  const res = await client.post('/v1/tenants', { name });
  expectStatus(res, 201, 'create tenant');
  return (res.body as { id: string }).id;
}

export async function ownerWithTenant(baseUrl: string, name = 'Acme'): Promise<{ owner: SessionClient; tenantId: string }> {
  const owner = await signUp(baseUrl);
  return { owner, tenantId: await createTenant(owner, name) };
}

/** A service account and a read-write API key, through the API. */
export async function createApiKey(owner: SessionClient, tenantId: string): Promise<ApiKeyClient> {
  const account = await owner.post(`/v1/tenants/${tenantId}/service-accounts`, { name: `bot-${randomUUID().slice(0, 6)}` });
  expectStatus(account, 201, 'create service account');
  const key = await owner.post(`/v1/tenants/${tenantId}/api-keys`, {
    serviceAccountId: (account.body as { id: string }).id,
    name: 'resilience key',
    scopes: ['read', 'write'],
  });
  expectStatus(key, 201, 'create api key');
  return new ApiKeyClient(owner.baseUrl, (key.body as { key: string }).key);
}

export function newIncident(i: number | string = 0): { title: string; severity: string } {
  return { title: `Resilience incident ${i}`, severity: 'SEV3' };
}

/** Superuser queries on the scenario's database (what the app wrote, unfiltered by RLS). */
export function scenarioQuery<T extends Record<string, unknown>>(db: ScenarioDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  return adminQuery<T>(sql, params, db.name);
}

export interface WriteLedger {
  incidents: { id: string; number: number }[];
  createdAudits: string[];
  quotaUsed: number;
}

/** The incidents of a tenant, their incident.created audit rows and today's metered writes. */
export async function writeLedger(db: ScenarioDatabase, tenantId: string): Promise<WriteLedger> {
  const incidents = await scenarioQuery<{ id: string; number: number }>(db, 'SELECT id, number FROM incidents WHERE tenant_id = $1 ORDER BY number', [tenantId]);
  const audits = await scenarioQuery<{ target_id: string }>(
    db,
    `SELECT target_id FROM audit_log_events WHERE tenant_id = $1 AND action = 'incident.created' ORDER BY target_id`,
    [tenantId],
  );
  const quota = await scenarioQuery<{ n: number }>(
    db,
    'SELECT COALESCE(sum(incident_writes), 0)::int AS n FROM usage_counters WHERE tenant_id = $1',
    [tenantId],
  );
  return { incidents, createdAudits: audits.map((a) => a.target_id), quotaUsed: quota[0]?.n ?? -1 };
}
