/**
 * Races at PostgreSQL's real concurrency, docs/security.md 22, 39, 40 and 49: the built server on
 * PostgreSQL with a pool of ten, hit with simultaneous requests that all want the same single
 * outcome. Each race is decided by the database (unique constraints, conditional updates, row
 * locks), so exactly one (or exactly N) of them wins, whatever the interleaving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetTokenFrom } from '../support/smtp-sink.js';
import { SessionClient, codeOf, statuses, type ApiKeyClient } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { createApiKey, newIncident, ownerWithTenant, PASSWORD, scenarioQuery, signUp, startStack, uniqueEmail, writeLedger, type Stack } from './support/stack.js';
import { assertNoLeaks } from './support/secrets.js';
import { report } from './support/env.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  // A patient connect timeout: queueing for one of ten connections is not an outage here.
  stack = await startStack(cleanup, 'races', { env: { DATABASE_POOL_MAX: '10', DATABASE_CONNECTION_TIMEOUT_MS: '15000', DATABASE_STATEMENT_TIMEOUT_MS: '15000' } });
});
afterAll(() => cleanup.run());

/** `n` visitors, each with its own session and CSRF token, ready to fire at once. */
async function visitors(n: number): Promise<SessionClient[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const c = new SessionClient(stack.server.baseUrl);
      await c.refreshCsrf();
      return c;
    }),
  );
}

async function count(sql: string, params: unknown[]): Promise<number> {
  return (await scenarioQuery<{ n: number }>(stack.db, `SELECT count(*)::int AS n FROM ${sql}`, params))[0]?.n ?? -1;
}

describe('races on PostgreSQL (docs/security.md 22, 39, 40, 49)', () => {
  it('when 20 signups with one email race, then exactly one account exists and the others get 409', async () => {
    const email = uniqueEmail('race');
    const clients = await visitors(20);
    const results = await Promise.all(clients.map((c) => c.post('/v1/auth/signup', { email, password: PASSWORD, name: 'Racer' })));
    expect(statuses(results)).toEqual({ 201: 1, '409 EMAIL_ALREADY_REGISTERED': 19 });
    expect(await count('users WHERE email = $1', [email])).toBe(1);
    expect(await count(`audit_log_events WHERE action = 'auth.signup' AND target_id = (SELECT id::text FROM users WHERE email = $1)`, [email])).toBe(1);
  });

  it('when 10 accepts of one invite race, then exactly one membership is created', async () => {
    const { owner, tenantId } = await ownerWithTenant(stack.server.baseUrl, 'Invites');
    const email = uniqueEmail('invitee');
    expect((await owner.post(`/v1/tenants/${tenantId}/invites`, { email, role: 'member' })).status).toBe(201);
    const [mail] = await stack.sink.waitForMessages(email);
    const token = /accept-invite\?token=([A-Za-z0-9_-]+)/.exec(mail?.text ?? '')?.[1];
    expect(token).toBeDefined();
    const invitee = await signUp(stack.server.baseUrl, email);
    const results = await Promise.all(Array.from({ length: 10 }, () => invitee.post('/v1/tenants/invites/accept', { token })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(['410 INVITE_EXPIRED', '409 ALREADY_MEMBER']).toContain(`${r.status} ${codeOf(r) ?? ''}`);
    expect(await count('memberships WHERE tenant_id = $1 AND user_id = $2', [tenantId, invitee.user?.id])).toBe(1);
    expect(await count(`audit_log_events WHERE tenant_id = $1 AND action = 'invite.accepted'`, [tenantId])).toBe(1);
  });

  it('when 10 uses of one reset token race, then exactly one succeeds and its password is the one set', async () => {
    const email = uniqueEmail('reset');
    await signUp(stack.server.baseUrl, email);
    const [visitor] = await visitors(1);
    expect((await visitor?.post('/v1/auth/password/forgot', { email }))?.status).toBe(202);
    const [mail] = await stack.sink.waitForMessages(email);
    const token = resetTokenFrom(mail as NonNullable<typeof mail>);
    const clients = await visitors(10);
    const passwords = clients.map((_, i) => `racing passphrase number ${i}`);
    const results = await Promise.all(clients.map((c, i) => c.post('/v1/auth/password/reset', { token, password: passwords[i] })));
    expect(statuses(results)).toEqual({ 204: 1, '400 RESET_TOKEN_INVALID': 9 });
    const winner = passwords[results.findIndex((r) => r.status === 204)];
    const [login] = await visitors(1);
    expect((await login?.post('/v1/auth/login', { email, password: winner }))?.status).toBe(200);
    expect(await count(`audit_log_events WHERE action = 'auth.password_reset.completed' AND target_id = (SELECT id::text FROM users WHERE email = $1)`, [email])).toBe(1);
  });

  it('when two requests with one Idempotency-Key race, then one incident is created and the other is a replay or 409 IDEMPOTENCY_IN_PROGRESS', async () => {
    const { owner, tenantId } = await ownerWithTenant(stack.server.baseUrl, 'Idempotency');
    const bot = await createApiKey(owner, tenantId);
    // Several pairs, so the two really overlap in at least some of them.
    for (let pair = 0; pair < 8; pair++) {
      const key = `race-${pair}`;
      const body = newIncident(`idempotent ${pair}`);
      const send = (c: SessionClient | ApiKeyClient) => c.request('POST', '/v1/incidents', { body, headers: { 'Idempotency-Key': key } });
      const principal = pair % 2 === 0 ? bot : owner;
      const results = await Promise.all([send(principal), send(principal)]);
      const originals = results.filter((r) => r.status === 201 && r.headers['idempotent-replayed'] === undefined);
      expect(originals).toHaveLength(1);
      const id = (originals[0]?.body as { id: string }).id;
      for (const r of results) {
        if (r.status === 201) expect((r.body as { id: string }).id).toBe(id);
        else expect(`${r.status} ${codeOf(r) ?? ''}`).toBe('409 IDEMPOTENCY_IN_PROGRESS');
      }
      expect(await count('incidents WHERE tenant_id = $1 AND title = $2', [tenantId, body.title])).toBe(1);
    }
    const ledger = await writeLedger(stack.db, tenantId);
    expect(ledger.incidents).toHaveLength(8);
    expect(ledger.quotaUsed).toBe(8);
  });

  it('when limit + 20 writes race at a quota of 5, then exactly 5 succeed and 20 get 429', async () => {
    const { owner, tenantId } = await ownerWithTenant(stack.server.baseUrl, 'Quota');
    const bot = await createApiKey(owner, tenantId);
    await scenarioQuery(stack.db, 'UPDATE tenants SET daily_write_quota = 5 WHERE id = $1', [tenantId]);
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? owner : bot).post('/v1/incidents', newIncident(`quota ${i}`))));
    expect(statuses(results)).toEqual({ 201: 5, '429 QUOTA_EXCEEDED': 20 });
    const ledger = await writeLedger(stack.db, tenantId);
    expect(ledger.incidents.map((i) => i.number)).toEqual([1, 2, 3, 4, 5]);
    expect(ledger.quotaUsed).toBe(5);
  });

  it('when 50 incident creates race in one tenant, then they get numbers 1..50 without a gap', async () => {
    const { owner, tenantId } = await ownerWithTenant(stack.server.baseUrl, 'Numbering');
    const bot = await createApiKey(owner, tenantId);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? owner : bot).post('/v1/incidents', newIncident(`numbered ${i}`))));
    expect(statuses(results)).toEqual({ 201: 50 });
    const numbers = results.map((r) => (r.body as { number: number }).number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('when 100 audited writes race in one tenant, then the audit hash chain verifies', async () => {
    const { owner, tenantId } = await ownerWithTenant(stack.server.baseUrl, 'Audit chain');
    const bot = await createApiKey(owner, tenantId);
    const incident = await bot.post('/v1/incidents', newIncident('audited'));
    const id = (incident.body as { id: string }).id;
    const before = await count('audit_log_events WHERE tenant_id = $1', [tenantId]);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        i % 2 ? owner.post(`/v1/incidents/${id}/timeline-events`, { message: `note ${i}` }) : bot.post('/v1/incidents', newIncident(`audited ${i}`)),
      ),
    );
    expect(statuses(results)).toEqual({ 201: 100 });
    expect(await count('audit_log_events WHERE tenant_id = $1', [tenantId])).toBe(before + 100);
    const verify = await owner.get('/v1/audit-logs/verify');
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ valid: true, firstInvalidId: null });
    expect((verify.body as { checked: number }).checked).toBe(before + 100);
  });
  it('leaks none of the passwords, tokens, session ids or CSRF tokens it issued into logs, URLs or audit rows', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    report('races secrets', { secrets: String(searched.secrets), urls: String(searched.urls), logSources: String(searched.logSources) });
  });
});
