/**
 * SIGTERM, docs/security.md 45: the server stops accepting at once, finishes what is in flight with
 * its normal answers, closes the pool and Redis, and exits 0 within 10 s.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLockWaiters, withTableLock } from './support/database.js';
import { HOST, report, sleep, waitFor } from './support/env.js';
import { Cleanup } from './support/processes.js';
import { createApiKey, newIncident, ownerWithTenant, scenarioQuery, startStack, type Stack } from './support/stack.js';
import { assertNoLeaks } from './support/secrets.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup, 'shutdown', { env: { DATABASE_STATEMENT_TIMEOUT_MS: '10000' } });
});
afterAll(() => cleanup.run());

/** Resolves with the connect error code, or 'connected' if the port still accepts. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? err.message);
    });
  });
}

describe('graceful shutdown (docs/security.md 45)', () => {
  it('when SIGTERM arrives during slow requests, they complete normally, new connections are refused, and the process exits 0 within 10 s', async () => {
    const { server, db } = stack;
    const { owner, tenantId } = await ownerWithTenant(server.baseUrl);
    const bot = await createApiKey(owner, tenantId);

    // Slow from outside: the requests block on a table lock held for about 2 s.
    const linesBefore = server.logs().length;
    let signalledAt = 0;
    const [write, read] = await withTableLock(db.name, ['incidents'], async (lock) => {
      const inFlight = Promise.all([bot.post('/v1/incidents', newIncident('in flight at SIGTERM')), owner.get('/v1/incidents')]);
      await waitForLockWaiters(db.name, 2);

      signalledAt = performance.now();
      server.child.signal('SIGTERM');
      await waitFor('the shutdown to begin', () => Promise.resolve(server.logs().some((l) => l.msg?.startsWith('shutting down')) ? true : undefined), 2000, 10);
      expect(await tryConnect(server.port)).toBe('ECONNREFUSED');
      expect(server.running).toBe(true);

      await sleep(Math.max(0, 2000 - (performance.now() - signalledAt)));
      await lock.release();
      return inFlight;
    });
    expect(write.status).toBe(201);
    expect(read.status).toBe(200);
    const drainedAt = performance.now();

    const exit = await Promise.race([server.exited, sleep(10_000).then(() => null)]);
    const exitMs = performance.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(10_000);
    // Logged only after the pool and the Redis client have been closed.
    expect(server.logs().map((l) => l.msg)).toContain('shutdown complete');
    expect(server.logs().slice(linesBefore).filter((l) => (l.level ?? 0) >= 50)).toEqual([]);
    // The in-flight write was committed, not cut off.
    const stored = await scenarioQuery<{ n: number }>(db, 'SELECT count(*)::int AS n FROM incidents WHERE id = $1', [(write.body as { id: string }).id]);
    expect(stored[0]?.n).toBe(1);
    report('graceful shutdown', { inFlightCompleted: drainedAt - signalledAt, exitAfterSigterm: exitMs, exitAfterDrain: performance.now() - drainedAt });
  });
  it('leaks none of the passwords, tokens, session ids or CSRF tokens it issued into logs, URLs or audit rows', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    report('graceful-shutdown secrets', { secrets: String(searched.secrets), urls: String(searched.urls), logSources: String(searched.logSources) });
  });
});
