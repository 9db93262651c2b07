/**
 * A webhook receiver, a delivery worker driven by the test, and the suite set-up that the webhook
 * delivery tests share (test/webhooks/delivery.test.ts, test/telemetry/webhooks.test.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { WebhookDeliveryQueue } from '../../src/features/webhooks/webhook-delivery.queue.js';
import { WebhookSecrets } from '../../src/features/webhooks/webhook.secrets.js';
import { PinnedHttpClient } from '../../src/platform/http-out/pinned-client.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { createTestApp, type TestApp } from './app.js';
import { ownerWithTenant, type SessionClient } from './factories.js';

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** Which of the receiver's secrets verified it (standardwebhooks, the reference library). */
  verifiedWith: string[];
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A webhook receiver on a free loopback port that verifies every request with the
 * `standardwebhooks` package against the secrets it was given, records it, and answers with the
 * queued replies in order (200 once they run out).
 */
export class Receiver {
  readonly received: Received[] = [];
  readonly replies: Reply[] = [];
  secrets: string[] = [];
  private server: Server | null = null;
  url = '';

  async start(path = '/hook'): Promise<this> {
    this.server = createServer((req, res) => {
      void readBody(req).then((body) => {
        const headers = {
          'webhook-id': String(req.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        };
        const verifiedWith = this.secrets.filter((secret) => {
          try {
            new Webhook(secret).verify(body, headers);
            return true;
          } catch {
            return false;
          }
        });
        this.received.push({ id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'], body, verifiedWith });
        const reply = this.replies.shift() ?? { status: 200 };
        res.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? 'ok');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}${path}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => { resolve(); }));
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { resolve(Buffer.concat(chunks).toString('utf8')); });
  });
}

/**
 * A delivery worker for the test app's database; runs are driven by the test, with its clock. Set
 * `tenantId` to the test's tenant: on PostgreSQL concurrent files share one database, and a worker
 * serving every tenant would attempt (and count, and trace) other files' deliveries.
 */
export function deliveryWorker(t: TestApp, opts: { allowPrivateNetworks?: boolean; random?: () => number } = {}) {
  const client = new PinnedHttpClient({ allowPrivateNetworks: opts.allowPrivateNetworks ?? true });
  const deps = {
    db: t.db,
    logger: createLogger('silent'),
    secrets: WebhookSecrets.fromConfig(t.config),
    client,
    leaseMs: t.config.webhooks.leaseMs,
    random: opts.random ?? (() => 0.5),
  };
  return {
    tenantId: null as string | null,
    /** Runs the queue at `now` until it finds nothing more to do. */
    async drain(now: Date = new Date()): Promise<void> {
      const queue = new WebhookDeliveryQueue(this.tenantId === null ? deps : { ...deps, tenantId: this.tenantId });
      for (let i = 0; i < 50 && (await queue.runOnce(now, 50)) > 0; i++);
    },
    close: () => client.close(),
  };
}

export type DeliveryWorker = ReturnType<typeof deliveryWorker>;

/** What a webhook delivery suite works with; `receiver`, `owner` and `tenantId` are new for each test. */
export interface WebhookSuite {
  t: TestApp;
  worker: DeliveryWorker;
  receiver: Receiver;
  owner: SessionClient;
  tenantId: string;
}

/**
 * Registers the suite's hooks: one app that may deliver to loopback, one worker, and for each test
 * a fresh receiver (listening on `receiverPath`) and an owner with a tenant of their own, to which
 * the worker is limited. The fields are set once the hooks have run.
 */
export function webhookSuite(receiverPath?: string): WebhookSuite {
  const s = {} as WebhookSuite;
  beforeAll(async () => {
    s.t = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
    s.worker = deliveryWorker(s.t);
  });
  afterAll(async () => {
    await s.worker.close();
    await s.t.close();
  });
  beforeEach(async () => {
    s.receiver = await new Receiver().start(receiverPath);
    ({ owner: s.owner, tenantId: s.tenantId } = await ownerWithTenant(s.t));
    s.worker.tenantId = s.tenantId;
    return () => s.receiver.close();
  });
  return s;
}
