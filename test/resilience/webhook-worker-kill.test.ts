/**
 * Webhook delivery across a worker's death (README "How deliveries are made"): a worker-only
 * process SIGKILLed while its attempt is in flight leaves its lease to run out; another worker then
 * delivers the same event with the same webhook-id, and the attempt log records the lost attempt
 * once and the success once. Production configuration throughout, so the receiver speaks https
 * with a certificate the workers trust through NODE_EXTRA_CA_CERTS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST, report, waitFor } from './support/env.js';
import type { SessionClient } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { assertNoLeaks, recordSecret } from './support/secrets.js';
import { startWorker, type ServerOptions } from './support/server.js';
import { newIncident, ownerWithTenant, startStack, type Stack } from './support/stack.js';

const LEASE_SECONDS = 15;
const cleanup = new Cleanup();
let stack: Stack;
let certFile: string;

interface Received {
  id: string;
  body: string;
  verified: boolean;
  at: number;
}

/**
 * An https receiver that verifies each request with the reference `standardwebhooks` library and
 * records it; while `holding`, it answers nothing (the attempt stays in flight), afterwards 204.
 */
class HoldingReceiver {
  readonly received: Received[] = [];
  holding = true;
  secret = '';
  private readonly held: ServerResponse[] = [];
  private server: Server | null = null;
  url = '';

  async start(dir: string): Promise<void> {
    const key = path.join(dir, 'key.pem');
    certFile = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '1', '-subj', `/CN=${HOST}`, '-addext', `subjectAltName=IP:${HOST}`], { stdio: 'ignore' });
    this.server = createServer({ key: readFileSync(key), cert: readFileSync(certFile) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
        let verified = true;
        try {
          new Webhook(this.secret).verify(body, headers);
        } catch {
          verified = false;
        }
        this.received.push({ id: headers['webhook-id'], body, verified, at: Date.now() });
        if (this.holding) this.held.push(res);
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, HOST, resolve));
    this.url = `https://${HOST}:${String((this.server.address() as AddressInfo).port)}/hooks/incidents`;
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => { resolve(); }));
  }
}

const receiver = new HoldingReceiver();
let workerOpts: ServerOptions;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'webhook-tls-'));
  cleanup.add('tls files', () => {
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  });
  await receiver.start(dir);
  cleanup.add('webhook receiver', () => receiver.close());
  // An API-only node: it writes events and endpoints and never delivers.
  const env = { WORKERS: 'off', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_LEASE_SECONDS: String(LEASE_SECONDS) };
  stack = await startStack(cleanup, 'webhooks', { env });
  workerOpts = { databaseUrl: stack.db.url, redisUrl: stack.redis.url, smtpUrl: stack.sink.url, env: { ...env, NODE_EXTRA_CA_CERTS: certFile } };
});
afterAll(() => cleanup.run());

interface Attempt {
  at: string;
  responseStatus: number | null;
  error: string | null;
}
interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  status: string;
  attempts: number;
  attemptLog: Attempt[];
}

async function deliveryOf(owner: SessionClient, base: string, eventType: string): Promise<Delivery | undefined> {
  const list = await owner.get(`${base}/deliveries?limit=100`);
  const found = (list.body as { data: Delivery[] }).data.find((d) => d.eventType === eventType);
  if (!found) return undefined;
  return (await owner.get(`${base}/deliveries/${found.id}`)).body as Delivery;
}

describe('webhook delivery across a killed worker', () => {
  it('when the worker is SIGKILLed mid-attempt, then after its lease another worker delivers the event with the same webhook-id, and the log shows the lost attempt and one success', async () => {
    const { server } = stack;
    const { owner, tenantId } = await ownerWithTenant(server.baseUrl, 'Webhooks across a kill');
    const created = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints`, { url: receiver.url, eventTypes: ['incident.created'] });
    expect(created.status).toBe(201);
    const endpoint = created.body as { id: string; secret: string };
    recordSecret('webhook signing secret', endpoint.secret);
    receiver.secret = endpoint.secret;
    const base = `/v1/tenants/${tenantId}/webhook-endpoints/${endpoint.id}`;

    const first = await startWorker(cleanup, workerOpts);
    const incident = await owner.post('/v1/incidents', newIncident('delivered across a kill'));
    expect(incident.status).toBe(201);

    // The first worker's attempt reaches the receiver, which holds it open; the kill lands during it.
    await waitFor('the first attempt to arrive', () => Promise.resolve(receiver.received.length === 1 ? true : undefined), 20_000);
    await first.kill();
    const killedAt = Date.now();
    const inFlight = await deliveryOf(owner, base, 'incident.created');
    expect(inFlight).toMatchObject({ status: 'pending', attempts: 1, attemptLog: [] });
    receiver.holding = false;

    const second = await startWorker(cleanup, workerOpts);
    const delivered = await waitFor(
      'the second worker to deliver',
      async () => {
        const d = await deliveryOf(owner, base, 'incident.created');
        return d?.status === 'succeeded' ? d : undefined;
      },
      LEASE_SECONDS * 1000 + 20_000,
    );
    const redeliveredAfterKill = (receiver.received[1]?.at ?? 0) - killedAt;

    // The same event, the same webhook-id and bytes, correctly signed both times.
    expect(receiver.received).toHaveLength(2);
    const [lost, done] = receiver.received as [Received, Received];
    expect(lost.id).toBe(delivered.eventId);
    expect(done.id).toBe(lost.id);
    expect(done.body).toBe(lost.body);
    expect([lost.verified, done.verified]).toEqual([true, true]);
    const event = JSON.parse(done.body) as { id: string; type: string; data: { incident: { id: string } } };
    expect(event).toMatchObject({ id: lost.id, type: 'incident.created', data: { incident: { id: (incident.body as { id: string }).id } } });

    // One log entry per attempt: the lost one (no answer), then the success.
    expect(delivered.attempts).toBe(2);
    expect(delivered.attemptLog).toHaveLength(2);
    const [lostLog, doneLog] = delivered.attemptLog as [Attempt, Attempt];
    expect(lostLog).toMatchObject({ responseStatus: null, error: expect.stringContaining('lease ran out') as unknown });
    expect(doneLog).toMatchObject({ responseStatus: 204, error: null });
    // The second worker waited for the lease: it claimed no sooner than the first claim plus the lease.
    expect(Date.parse(doneLog.at) - Date.parse(lostLog.at)).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000);
    expect(second.lines.filter((l) => l.includes('"level":50') || l.includes('after its lease ran out'))).toEqual([]);
    await second.stop();
    report('webhook after a worker kill', { redeliveredAfterKill, lease: `${String(LEASE_SECONDS)}s` });
  });

  it('leaks no signing secret, session or CSRF token into any process log, URL or audit row', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    expect(searched.logSources).toBeGreaterThanOrEqual(3);
  });
});
