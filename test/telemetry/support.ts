/**
 * The server's own SDK set-up (src/platform/telemetry/sdk.ts: same providers and propagator) with
 * in-memory destinations. A telemetry test file imports this module FIRST, before it builds an
 * app, since the app traces its requests only when it finds the SDK running. Each test file runs
 * in its own process (vitest forks, isolate), so the global providers registered here belong to
 * that file alone.
 */
import { SpanKind } from '@opentelemetry/api';
import { DataPointType, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { vi } from 'vitest';
import { HTTP_SCOPE } from '../../src/platform/telemetry/http.js';
import { startTelemetry } from '../../src/platform/telemetry/sdk.js';

/** Collects on demand (`collect()`), exports nowhere. */
class InMemoryMetricReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export const spanExporter = new InMemorySpanExporter();
export const metricReader = new InMemoryMetricReader();

startTelemetry({
  serviceName: 'incident-tracker-api-test',
  environment: 'test',
  // Simple, not batch: a span is in the exporter as soon as it ends.
  spanProcessors: [new SimpleSpanProcessor(spanExporter)],
  metricReaders: [metricReader],
});
/**
 * The API's ESM and CommonJS builds each declare SpanKind (equal values, distinct enum types), and
 * the spans are typed with the CommonJS one; compare the numbers.
 */
export function isKind(span: ReadableSpan, kind: SpanKind): boolean {
  return (span.kind as number) === (kind as number);
}

export function spansOfTrace(traceId: string): ReadableSpan[] {
  return spanExporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

/** The HTTP server span of a trace; it ends as the response finishes, so it is waited for. */
export async function serverSpanOf(traceId: string): Promise<ReadableSpan> {
  return vi.waitFor(
    () => {
      const span = spansOfTrace(traceId).find((s) => isKind(s, SpanKind.SERVER) && s.instrumentationScope.name === HTTP_SCOPE);
      if (!span) throw new Error(`no HTTP server span in trace ${traceId}`);
      return span;
    },
    { timeout: 5000, interval: 20 },
  );
}

/** True when `ancestorId` is the span's parent, grandparent, ... within `trace`. */
export function descendsFrom(span: ReadableSpan, ancestorId: string, trace: ReadableSpan[]): boolean {
  const byId = new Map(trace.map((s) => [s.spanContext().spanId, s]));
  let parentId = span.parentSpanContext?.spanId;
  for (let hops = 0; parentId !== undefined && hops < 100; hops++) {
    if (parentId === ancestorId) return true;
    parentId = byId.get(parentId)?.parentSpanContext?.spanId;
  }
  return false;
}

async function collected(name: string): Promise<MetricData | undefined> {
  const { resourceMetrics } = await metricReader.collect();
  return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
}

function matches(attributes: Record<string, unknown>, wanted: Record<string, string | number>): boolean {
  return Object.entries(wanted).every(([k, v]) => attributes[k] === v);
}

/** The cumulative value of a counter over its data points whose attributes include `wanted`. */
export async function counterValue(name: string, wanted: Record<string, string | number> = {}): Promise<number> {
  const metric = await collected(name);
  if (metric?.dataPointType !== DataPointType.SUM) return 0;
  return metric.dataPoints.filter((p) => matches(p.attributes, wanted)).reduce((sum, p) => sum + p.value, 0);
}

/** Count and sum of a histogram's recordings so far, over its data points whose attributes include `wanted`. */
export async function histogramTotals(name: string, wanted: Record<string, string | number> = {}): Promise<{ count: number; sum: number }> {
  const metric = await collected(name);
  if (metric?.dataPointType !== DataPointType.HISTOGRAM) return { count: 0, sum: 0 };
  return metric.dataPoints.filter((p) => matches(p.attributes, wanted)).reduce((t, p) => ({ count: t.count + p.value.count, sum: t.sum + (p.value.sum ?? 0) }), { count: 0, sum: 0 });
}
