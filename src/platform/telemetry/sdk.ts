import type { IncomingMessage } from 'node:http';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as OTLPJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_DB_QUERY_TEXT } from '@opentelemetry/semantic-conventions';
import type { OtlpProtocol } from '../../config.js';
import { setTelemetryShutdown } from './lifecycle.js';
import { redactSqlLiterals } from './tracing.js';

export interface TelemetryOptions {
  serviceName: string;
  /** `deployment.environment.name` on every span and metric. */
  environment: string;
  /** Where spans go: OTLP behind a batch processor when running, an in-memory exporter in tests. */
  spanProcessors: SpanProcessor[];
  metricReaders: IMetricReader[];
}

/** Query-string keys whose values never reach a span (keys are refused there, but still sent). */
const REDACTED_QUERY_PARAMS = ['api_key', 'apiKey', 'x-api-key', 'key', 'token', 'password', 'AWSAccessKeyId', 'Signature', 'sig', 'X-Goog-Signature'];

/**
 * HTTP (server spans and `http.server.request.duration`), Express (router and handler layers),
 * pg and ioredis. What they are told to leave out matters as much as what they record:
 * - http: no request or response headers are captured (cookies, `x-api-key`, `x-csrf-token`
 *   stay out); secret-looking query values are redacted; `/health` probes are not traced; client
 *   spans only inside a traced operation.
 * - pg: no parameter values (`enhancedDatabaseReporting` off) and string literals redacted from
 *   the statement (the transaction preamble inlines the tenant and lookup settings); no span per
 *   pool checkout.
 * - ioredis: the command name only; keys carry session ids and emails.
 * - express: middleware and router layers are skipped; the request-handler span remains.
 */
export function instrumentations(): Instrumentation[] {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req: IncomingMessage) => req.url?.split('?')[0] === '/health',
      redactedQueryParamsServer: REDACTED_QUERY_PARAMS,
      requireParentforOutgoingSpans: true,
    }),
    // Router spans are zero-length markers (the instrumentation ends them at once); the route
    // still reaches http.route and the request-handler span.
    new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER] }),
    new PgInstrumentation({
      enhancedDatabaseReporting: false,
      requireParentSpan: true,
      // A pool checkout per request is not worth a span: its wait shows as the gap before the
      // first query span, and the pool metrics count connections.
      ignoreConnectSpans: true,
      requestHook: (span, info) => {
        span.setAttribute(ATTR_DB_QUERY_TEXT, redactSqlLiterals(info.query.text));
      },
    }),
    new IORedisInstrumentation({
      requireParentSpan: true,
      dbStatementSerializer: (command) => command,
    }),
  ];
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
 * Starts the Node SDK: the instrumentations above, the W3C trace-context propagator (an incoming
 * `traceparent` continues its trace), and a resource with the service name, the environment and
 * whatever `OTEL_RESOURCE_ATTRIBUTES` adds. It must run before express, pg and ioredis are
 * loaded; `src/telemetry.ts` does this for the server.
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
    instrumentations: instrumentations(),
  });
  sdk.start();
  setTelemetryShutdown(() => sdk.shutdown());
  return sdk;
}
