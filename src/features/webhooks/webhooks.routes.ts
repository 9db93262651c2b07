import type { FeatureDeps } from '../../deps.js';
import type { Queryable } from '../../platform/db/database.js';
import { PinnedHttpClient } from '../../platform/http-out/pinned-client.js';
import { WEBHOOK_QUEUE, WebhookDeliveryQueue } from './webhook-delivery.queue.js';
import { etagOf, parseIfMatch } from '../../platform/http/etag.js';
import type { HttpResult, RouteRegistry } from '../../platform/http/route.js';
import { getDelivery, listDeliveries, redeliver, replay, sendTestEvent } from './webhook-deliveries.service.js';
import { WebhookSecrets } from './webhook.secrets.js';
import {
  createEndpointBody,
  deliveryParams,
  endpointParams,
  listDeliveriesQuery,
  listEndpointsQuery,
  replayBody,
  rotateSecretBody,
  tenantPathParams,
  updateEndpointBody,
} from './webhooks.schema.js';
import {
  createEndpoint,
  listEndpoints,
  loadEndpoint,
  patchEndpoint,
  presentEndpoint,
  removeEndpoint,
  rotateEndpointSecret,
  type WebhookServiceDeps,
} from './webhooks.service.js';
import type { EndpointRow } from './webhooks.queries.js';

/** Webhook endpoints and their deliveries: session only, `webhooks.manage`, tenant in the path. */
const manage = { action: 'webhooks.manage', tenant: 'path' } as const;

function endpointResult(row: EndpointRow, status: number): HttpResult {
  return { status, body: presentEndpoint(row), headers: { ETag: etagOf(row.version) } };
}

/** The delivery queue this process's job runner runs (features/index.ts). */
export function webhookDeliveryQueue(deps: FeatureDeps): WebhookDeliveryQueue {
  return new WebhookDeliveryQueue({
    db: deps.db,
    logger: deps.logger,
    secrets: WebhookSecrets.fromConfig(deps.config),
    client: new PinnedHttpClient({ allowPrivateNetworks: deps.config.webhooks.allowPrivateNetworks }),
    leaseMs: deps.config.webhooks.leaseMs,
  });
}

export function registerWebhookRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  const service: WebhookServiceDeps = { config: deps.config, secrets: WebhookSecrets.fromConfig(deps.config) };
  // Work a request queues is started once it commits, not at the next poll.
  const wakeAfterCommit = (tx: Queryable) => {
    tx.afterCommit(() => {
      deps.wakeJobs(WEBHOOK_QUEUE);
    });
  };
  const base = '/tenants/:tenantId/webhook-endpoints';
  const one = `${base}/:endpointId`;

  routes.tenant({
    ...manage,
    method: 'get',
    path: base,
    authorize: 'route',
    params: tenantPathParams,
    query: listEndpointsQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listEndpoints(tx, tenantId, query) };
    },
  });

  // A replay answers the original status and body without `secret`: it is shown once, never stored.
  routes.tenant({
    ...manage,
    method: 'post',
    path: base,
    authorize: 'route',
    idempotent: true,
    notReplayed: ['secret'],
    params: tenantPathParams,
    body: createEndpointBody,
    async handler({ ctx, tx, tenantId, body }) {
      const created = await createEndpoint(tx, ctx, tenantId, body, service);
      return { status: 201, body: created, headers: { ETag: etagOf(created.version), Location: `/v1/tenants/${tenantId}/webhook-endpoints/${created.id}` } };
    },
  });

  routes.tenant({
    ...manage,
    method: 'get',
    path: one,
    authorize: 'service',
    params: endpointParams,
    async handler({ ctx, tx, tenantId, params }) {
      return endpointResult(await loadEndpoint(tx, ctx, tenantId, params.endpointId), 200);
    },
  });

  routes.tenant({
    ...manage,
    method: 'patch',
    path: one,
    authorize: 'service',
    params: endpointParams,
    body: updateEndpointBody,
    async handler({ ctx, tx, tenantId, params, body, req }) {
      const ifMatch = parseIfMatch(req.get('if-match'));
      return endpointResult(await patchEndpoint(tx, ctx, tenantId, params.endpointId, body, ifMatch, service), 200);
    },
  });

  routes.tenant({
    ...manage,
    method: 'delete',
    path: one,
    authorize: 'service',
    params: endpointParams,
    async handler({ ctx, tx, tenantId, params }) {
      await removeEndpoint(tx, ctx, tenantId, params.endpointId);
      return { status: 204 };
    },
  });

  routes.tenant({
    ...manage,
    method: 'post',
    path: `${one}/rotate-secret`,
    authorize: 'service',
    params: endpointParams,
    body: rotateSecretBody,
    async handler({ ctx, tx, tenantId, params, body }) {
      return { status: 200, body: await rotateEndpointSecret(tx, ctx, tenantId, params.endpointId, body?.overlapSeconds, service) };
    },
  });

  routes.tenant({
    ...manage,
    method: 'post',
    path: `${one}/test`,
    authorize: 'service',
    params: endpointParams,
    async handler({ ctx, tx, tenantId, params }) {
      const body = await sendTestEvent(tx, ctx, tenantId, params.endpointId);
      wakeAfterCommit(tx);
      return { status: 202, body };
    },
  });

  routes.tenant({
    ...manage,
    method: 'post',
    path: `${one}/replay`,
    authorize: 'service',
    params: endpointParams,
    body: replayBody,
    async handler({ ctx, tx, tenantId, params, body }) {
      const result = await replay(tx, ctx, tenantId, params.endpointId, body.afterSeq);
      wakeAfterCommit(tx);
      return { status: 202, body: result };
    },
  });

  routes.tenant({
    ...manage,
    method: 'get',
    path: `${one}/deliveries`,
    authorize: 'service',
    params: endpointParams,
    query: listDeliveriesQuery,
    async handler({ ctx, tx, tenantId, params, query }) {
      return { status: 200, body: await listDeliveries(tx, ctx, tenantId, params.endpointId, query) };
    },
  });

  routes.tenant({
    ...manage,
    method: 'get',
    path: `${one}/deliveries/:deliveryId`,
    authorize: 'service',
    params: deliveryParams,
    async handler({ ctx, tx, tenantId, params }) {
      return { status: 200, body: await getDelivery(tx, ctx, tenantId, params.endpointId, params.deliveryId) };
    },
  });

  routes.tenant({
    ...manage,
    method: 'post',
    path: `${one}/deliveries/:deliveryId/redeliver`,
    authorize: 'service',
    params: deliveryParams,
    async handler({ ctx, tx, tenantId, params }) {
      await redeliver(tx, ctx, tenantId, params.endpointId, params.deliveryId);
      wakeAfterCommit(tx);
      return { status: 202, body: {} };
    },
  });
}
