import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebhookDeliveryQueue } from '../../src/features/webhooks/webhook-delivery.queue.js';
import { WebhookSecrets } from '../../src/features/webhooks/webhook.secrets.js';
import { PinnedHttpClient } from '../../src/platform/http-out/pinned-client.js';
import { JobRunner } from '../../src/platform/jobs/runner.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { Receiver } from '../support/webhook-receiver.js';
import { createEndpoint, createIncident } from './support.js';

let t: TestApp;
const client = new PinnedHttpClient({ allowPrivateNetworks: true });

beforeAll(async () => {
  t = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
});
afterAll(async () => {
  await client.close();
  await t.close();
});

/** A runner over the tenant's webhook queue whose poll would take an hour: only wake-ups and drain() run it. */
function hourlyPollRunner(tenantId: string): JobRunner {
  const queue = new WebhookDeliveryQueue({
    db: t.db,
    logger: createLogger('silent'),
    secrets: WebhookSecrets.fromConfig(t.config),
    client,
    leaseMs: t.config.webhooks.leaseMs,
    tenantId,
  });
  return new JobRunner({ queues: [queue], clock: { now: () => new Date() }, logger: createLogger('silent'), pollIntervalMs: 3_600_000 });
}

it('when an event commits, then the delivery queue is woken by its notification: it arrives although the poll would take an hour', async () => {
  const { owner, tenantId } = await ownerWithTenant(t);
  const receiver = await new Receiver().start();
  try {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.secrets = [ep.secret];
    const runner = hourlyPollRunner(tenantId);
    runner.start();
    try {
      // The start-up run is over and found nothing: only a wake-up can deliver what comes next.
      await runner.drain();
      expect(receiver.received).toHaveLength(0);
      const incident = await createIncident(owner);
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (receiver.received.length > 0) resolve();
          else setTimeout(check, 5);
        };
        check();
      });
      const got = receiver.received[0];
      expect(got?.verifiedWith).toEqual([ep.secret]);
      expect(JSON.parse(got?.body ?? '{}')).toMatchObject({ type: 'incident.created', data: { incident: { id: incident.id } } });
    } finally {
      await runner.stop();
    }
  } finally {
    await receiver.close();
  }
});

it('when an endpoint is more events behind than one run fans out, then one drain of the runner still delivers every event once', async () => {
  const { owner, tenantId } = await ownerWithTenant(t);
  const receiver = await new Receiver().start();
  try {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.secrets = [ep.secret];
    const incident = await createIncident(owner);
    // 1 + 229 events: more than a run's fan-out takes from one endpoint (200) and than one batch.
    for (let i = 0; i < 229; i++) expect((await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: `note ${String(i)}` })).status).toBe(201);
    const runner = hourlyPollRunner(tenantId);
    try {
      await runner.drain();
    } finally {
      await runner.stop();
    }
    const ids = receiver.received.map((r) => r.id);
    expect(ids).toHaveLength(230);
    expect(new Set(ids).size).toBe(230);
  } finally {
    await receiver.close();
  }
});
