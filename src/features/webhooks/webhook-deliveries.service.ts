import { randomUUID } from 'node:crypto';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { actorOf, type RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { activeTraceParent } from '../../platform/telemetry/tracing.js';
import {
  attemptRows,
  findDelivery,
  insertReplayDeliveries,
  insertTestDelivery,
  listDeliveryRows,
  markForRedelivery,
  type AttemptRow,
  type DeliveryRow,
} from './webhook-deliveries.queries.js';
import type { ListDeliveriesInput } from './webhooks.schema.js';
import { loadEndpoint } from './webhooks.service.js';

/** Replay queues at most this many events per call. */
export const REPLAY_MAX = 10_000;

export function presentDelivery(r: DeliveryRow) {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    seq: r.event_seq === null ? null : Number(r.event_seq),
    status: r.status,
    attempts: r.attempts,
    lastAttemptAt: r.last_attempt_at?.toISOString() ?? null,
    nextAttemptAt: r.status === 'pending' ? r.next_attempt_at.toISOString() : null,
    lastResponseStatus: r.last_response_status,
    createdAt: r.created_at.toISOString(),
  };
}

function presentAttempt(a: AttemptRow) {
  return {
    at: a.at.toISOString(),
    durationMs: a.duration_ms,
    responseStatus: a.response_status,
    responseBodyExcerpt: a.response_body_excerpt,
    error: a.error,
  };
}

export async function listDeliveries(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string, input: ListDeliveriesInput) {
  await loadEndpoint(tx, ctx, tenantId, endpointId);
  const filters = { status: input.status };
  const page = pageRequest(input, filters);
  const rows = await listDeliveryRows(tx, tenantId, endpointId, input.status ?? null, page);
  return pageOf(rows, page, presentDelivery);
}

async function loadDelivery(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string, deliveryId: string): Promise<DeliveryRow> {
  const row = await findDelivery(tx, tenantId, endpointId, deliveryId);
  if (!row) throw new AppError('NOT_FOUND');
  await loadEndpoint(tx, ctx, tenantId, endpointId);
  return row;
}

export async function getDelivery(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string, deliveryId: string) {
  const row = await loadDelivery(tx, ctx, tenantId, endpointId, deliveryId);
  return { ...presentDelivery(row), attemptLog: (await attemptRows(tx, tenantId, deliveryId)).map(presentAttempt) };
}

export async function redeliver(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string, deliveryId: string): Promise<void> {
  const row = await loadDelivery(tx, ctx, tenantId, endpointId, deliveryId);
  await markForRedelivery(tx, tenantId, deliveryId, ctx.now);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'webhook_delivery.redelivered',
    target: { type: 'webhook_delivery', id: deliveryId },
    metadata: { endpointId, eventId: row.event_id, eventType: row.event_type },
  });
}

/**
 * A `webhook.test` event for this endpoint only: never in the record, so never listed or
 * streamed. One attempt, due now (a test that fails is reported, not retried).
 */
export async function sendTestEvent(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string) {
  await loadEndpoint(tx, ctx, tenantId, endpointId);
  const deliveryId = randomUUID();
  const eventId = randomUUID();
  const payload = {
    id: eventId,
    seq: null,
    type: 'webhook.test',
    occurredAt: ctx.now.toISOString(),
    actor: actorOf(ctx.principal),
    data: { endpointId },
  };
  await insertTestDelivery(tx, { tenantId, id: deliveryId, endpointId, eventId, payload, traceParent: activeTraceParent(), now: ctx.now });
  return { deliveryId };
}

export async function replay(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string, afterSeq: number) {
  await loadEndpoint(tx, ctx, tenantId, endpointId, true);
  const queued = await insertReplayDeliveries(tx, tenantId, endpointId, afterSeq, REPLAY_MAX, ctx.now);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'webhook_endpoint.replayed',
    target: { type: 'webhook_endpoint', id: endpointId },
    metadata: { afterSeq, queued },
  });
  return { queued };
}
