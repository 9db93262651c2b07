import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { WebhookDeliveryQueue } from '../../src/features/webhooks/webhook-delivery.queue.js';
import { WebhookSecrets } from '../../src/features/webhooks/webhook.secrets.js';
import { PinnedHttpClient } from '../../src/platform/http-out/pinned-client.js';
import { createLogger } from '../../src/platform/log/logger.js';
import type { TestApp } from '../support/app.js';
import type { SessionClient } from '../support/factories.js';

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

export async function createEndpoint(
  owner: SessionClient,
  tenantId: string,
  body: { url: string; eventTypes?: string[]; description?: string },
): Promise<{ id: string; secret: string; version: number }> {
  const res = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints`, { eventTypes: ['*'], ...body });
  if (res.status !== 201) throw new Error(`endpoint create failed: ${String(res.status)} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; secret: string; version: number };
}

export async function createIncident(client: SessionClient, title = 'Checkout down'): Promise<{ id: string; version: number }> {
  const res = await client.post('/v1/incidents', { title, severity: 'SEV2' });
  if (res.status !== 201) throw new Error(`incident create failed: ${String(res.status)} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; version: number };
}

export interface DeliveryBody {
  id: string;
  eventId: string;
  eventType: string;
  seq: number | null;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastResponseStatus: number | null;
  attemptLog?: { at: string; responseStatus: number | null; error: string | null; responseBodyExcerpt: string | null }[];
}

export async function deliveries(owner: SessionClient, tenantId: string, endpointId: string): Promise<DeliveryBody[]> {
  const res = await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${endpointId}/deliveries?limit=100`);
  if (res.status !== 200) throw new Error(`deliveries failed: ${String(res.status)}`);
  return (res.body as { data: DeliveryBody[] }).data;
}

export async function delivery(owner: SessionClient, tenantId: string, endpointId: string, id: string): Promise<DeliveryBody> {
  const res = await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${endpointId}/deliveries/${id}`);
  if (res.status !== 200) throw new Error(`delivery failed: ${String(res.status)}`);
  return res.body as DeliveryBody;
}
