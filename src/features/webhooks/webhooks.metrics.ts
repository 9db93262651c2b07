import { context, SpanKind, SpanStatusCode, trace, type Link } from '@opentelemetry/api';
import type { Counter, Histogram } from '@opentelemetry/api';
import { perMeterProvider } from '../../platform/telemetry/instruments.js';

export const WEBHOOK_METRIC = {
  deliveries: 'incident_tracker.webhooks.delivery_attempts',
  lag: 'incident_tracker.webhooks.delivery_lag',
} as const;

/** What became of one attempt: delivered, to be retried, failed for good, or the endpoint said 410. */
export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'gone';

const instruments = perMeterProvider('incident-tracker-api', (meter): { attempts: Counter; lag: Histogram } => ({
  attempts: meter.createCounter(WEBHOOK_METRIC.deliveries, { description: 'Webhook delivery attempts by outcome (succeeded, retry, failed, gone).', unit: '{attempt}' }),
  lag: meter.createHistogram(WEBHOOK_METRIC.lag, {
    description: 'Time from an event being written to its successful delivery.',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36_000, 129_600] },
  }),
}));

export function recordAttemptOutcome(outcome: AttemptOutcome, lagSeconds: number | null): void {
  const m = instruments();
  m.attempts.add(1, { outcome });
  if (outcome === 'succeeded' && lagSeconds !== null) m.lag.record(Math.max(0, lagSeconds));
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A span link to the trace that wrote the event (its W3C traceparent), when there is one. */
function linkTo(traceParent: string | null): Link[] {
  const m = traceParent ? TRACEPARENT.exec(traceParent) : null;
  if (!m?.[1] || !m[2] || !m[3]) return [];
  return [{ context: { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true } }];
}

/**
 * One span per delivery attempt (a root span: the worker is not inside a request), linked to the
 * trace of the request that wrote the event. Attributes never carry the URL's path or query.
 */
export async function inAttemptSpan<T>(
  attrs: { eventType: string; attempt: number; origin: string; traceParent: string | null },
  fn: () => Promise<{ result: T; status: number | null; outcome: AttemptOutcome; error: string | null }>,
): Promise<T> {
  const span = trace.getTracer('incident-tracker-api').startSpan(
    'webhook.deliver',
    {
      kind: SpanKind.CLIENT,
      root: true,
      links: linkTo(attrs.traceParent),
      attributes: { 'webhook.event_type': attrs.eventType, 'webhook.attempt': attrs.attempt, 'server.address': attrs.origin },
    },
    context.active(),
  );
  try {
    const out = await fn();
    if (out.status !== null) span.setAttribute('http.response.status_code', out.status);
    span.setAttribute('webhook.outcome', out.outcome);
    if (out.outcome !== 'succeeded') span.setStatus({ code: SpanStatusCode.ERROR, message: out.error ?? `HTTP ${String(out.status)}` });
    return out.result;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'delivery attempt crashed' });
    throw err;
  } finally {
    span.end();
  }
}
