// Must stay the first import: it starts the SDK before the app's modules load (see support.ts).
import { counterValue, histogramTotals, isKind, serverSpanOf, spanExporter, spansOfTrace } from './support.js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_METRIC } from '../../src/features/webhooks/webhooks.metrics.js';
import { webhookSuite } from '../support/webhook-receiver.js';
import { createEndpoint } from '../webhooks/support.js';

const s = webhookSuite('/hooks/secret-path?token=receiver-token');

const OUTCOMES = ['succeeded', 'retry', 'failed', 'gone'] as const;

async function attemptCounts(): Promise<Record<(typeof OUTCOMES)[number], number>> {
  const values = await Promise.all(OUTCOMES.map((outcome) => counterValue(WEBHOOK_METRIC.deliveries, { outcome })));
  return Object.fromEntries(OUTCOMES.map((o, i) => [o, values[i] ?? 0])) as Record<(typeof OUTCOMES)[number], number>;
}

function moved<K extends string>(before: Record<K, number>, after: Record<K, number>): Record<K, number> {
  return Object.fromEntries(Object.keys(before).map((k) => [k, after[k as K] - before[k as K]])) as Record<K, number>;
}

/**
 * Creates an incident; returns its trace id (the x-request-id), the ids of every span of that trace
 * (once the request's server span has ended), and when its event was written.
 */
async function incidentWithTrace(title: string): Promise<{ traceId: string; spanIds: string[]; occurredAt: Date }> {
  const res = await s.owner.post('/v1/incidents', { title, severity: 'SEV2' });
  expect(res.status).toBe(201);
  const traceId = res.headers['x-request-id'] ?? '';
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  const { rows } = await s.t.db.withSystemTx((tx) =>
    tx.query<{ occurred_at: Date }>("SELECT occurred_at FROM events WHERE tenant_id = $1 AND type = 'incident.created'", [s.tenantId]),
  );
  await serverSpanOf(traceId);
  return { traceId, spanIds: spansOfTrace(traceId).map((sp) => sp.spanContext().spanId), occurredAt: rows[0]?.occurred_at ?? new Date(0) };
}

function deliverSpans(): ReadableSpan[] {
  return spanExporter.getFinishedSpans().filter((s) => s.name === 'webhook.deliver');
}

const at = (base: Date, ms: number) => new Date(base.getTime() + ms);

describe('webhook delivery telemetry', () => {
  it('when a delivery fails once and then succeeds, then attempts count retry and succeeded, the lag histogram records event-to-success time, and each attempt is one webhook.deliver span linked to the event\'s trace', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url, eventTypes: ['incident.created'] });
    s.receiver.secrets = [ep.secret];
    s.receiver.replies.push({ status: 500 });
    const { traceId, spanIds, occurredAt } = await incidentWithTrace('Checkout down');
    spanExporter.reset();
    const countsBefore = await attemptCounts();
    const lagBefore = await histogramTotals(WEBHOOK_METRIC.lag);

    await s.worker.drain(at(occurredAt, 2_000));
    // Attempt 2 comes due 5 s after the first (the schedule, jitter pinned to none).
    await s.worker.drain(at(occurredAt, 8_000));
    expect(s.receiver.received).toHaveLength(2);

    expect(moved(countsBefore, await attemptCounts())).toEqual({ succeeded: 1, retry: 1, failed: 0, gone: 0 });
    const lag = await histogramTotals(WEBHOOK_METRIC.lag);
    // Only the success is a lag: 8 s from the event to the attempt that delivered it.
    expect(lag.count - lagBefore.count).toBe(1);
    expect(lag.sum - lagBefore.sum).toBeCloseTo(8, 6);

    const spans = deliverSpans();
    expect(spans.map((s) => [s.attributes['webhook.attempt'], s.attributes['webhook.outcome'], s.attributes['http.response.status_code'], s.status.code])).toEqual([
      [1, 'retry', 500, SpanStatusCode.ERROR],
      [2, 'succeeded', 200, SpanStatusCode.UNSET],
    ]);
    for (const span of spans) {
      expect(isKind(span, SpanKind.CLIENT)).toBe(true);
      expect(span.attributes['webhook.event_type']).toBe('incident.created');
      // The receiver's origin only: its path and query (a token) never reach a span.
      expect(span.attributes['server.address']).toBe(new URL(s.receiver.url).origin);
      expect(JSON.stringify(span.attributes)).not.toContain('receiver-token');
      // A root span of its own trace, linked to a span of the request that wrote the event.
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceId).not.toBe(traceId);
      expect(span.links).toHaveLength(1);
      expect(span.links[0]?.context.traceId).toBe(traceId);
      expect(spanIds).toContain(span.links[0]?.context.spanId);
    }
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(2);
  });

  it('when the endpoint answers 410, then the attempt counts as gone, records no lag, and its span says gone with an error status', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url, eventTypes: ['incident.created'] });
    s.receiver.secrets = [ep.secret];
    s.receiver.replies.push({ status: 410 });
    const { traceId, occurredAt } = await incidentWithTrace('Gone receiver');
    spanExporter.reset();
    const countsBefore = await attemptCounts();
    const lagBefore = await histogramTotals(WEBHOOK_METRIC.lag);

    await s.worker.drain(at(occurredAt, 1_000));

    expect(moved(countsBefore, await attemptCounts())).toEqual({ succeeded: 0, retry: 0, failed: 0, gone: 1 });
    expect((await histogramTotals(WEBHOOK_METRIC.lag)).count).toBe(lagBefore.count);
    const [span, ...rest] = deliverSpans();
    expect(rest).toEqual([]);
    expect(span?.attributes).toMatchObject({ 'webhook.attempt': 1, 'webhook.outcome': 'gone', 'http.response.status_code': 410 });
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.links[0]?.context.traceId).toBe(traceId);
  });
});
