import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { OtlpProtocol } from '../../config.js';
import { setTelemetryShutdown } from './lifecycle.js';

export interface TelemetryOptions {
  serviceName: string;
  /** `deployment.environment.name` on every span and metric. */
  environment: string;
  /** Where spans go: OTLP behind a batch processor when running, an in-memory exporter in tests. */
  spanProcessors: SpanProcessor[];
  metricReaders: IMetricReader[];
}

/**
 * OTLP over HTTP to `endpoint` (the collector's base URL): batched spans, metrics every minute.
 * Protobuf by default, as the OTLP specification says; `http/json` for collectors that want it.
 */
export function otlpExport(endpoint: string, protocol: OtlpProtocol = 'http/protobuf'): Pick<TelemetryOptions, 'spanProcessors' | 'metricReaders'> {
  const base = endpoint.replace(/\/+$/, '');
  const traces = { url: `${base}/v1/traces` };
  const metrics = { url: `${base}/v1/metrics` };
  const json = protocol === 'http/json';
  return {
    spanProcessors: [new BatchSpanProcessor(json ? new OTLPJsonTraceExporter(traces) : new OTLPProtoTraceExporter(traces))],
    metricReaders: [new PeriodicExportingMetricReader({ exporter: json ? new OTLPJsonMetricExporter(metrics) : new OTLPProtoMetricExporter(metrics) })],
  };
}

/**
 * Starts the Node SDK: the tracer and meter providers, the async-context manager, the W3C
 * trace-context propagator (an incoming `traceparent` continues its trace), and a resource with
 * the service name, the environment and whatever `OTEL_RESOURCE_ATTRIBUTES` adds. No
 * instrumentation packages: the app records its own HTTP, Express, database and Redis spans
 * (src/platform/telemetry/http.ts, database.ts, redis.ts), which measured a fraction of the
 * contrib instrumentations' cost per request (README, Performance). It must run before the app is
 * built; `src/telemetry.ts` does this for the server.
 */
export function startTelemetry(opts: TelemetryOptions): NodeSDK {
  const sdk = new NodeSDK({
    serviceName: opts.serviceName,
    resource: defaultResource().merge(resourceFromAttributes({ 'deployment.environment.name': opts.environment })),
    textMapPropagator: new W3CTraceContextPropagator(),
    spanProcessors: opts.spanProcessors,
    metricReaders: opts.metricReaders,
    // Logs go to stdout through pino; no OTLP log pipeline.
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  setTelemetryShutdown(() => sdk.shutdown());
  return sdk;
}
