import { isSpanContextValid, trace, type Span } from '@opentelemetry/api';
import type { Request } from 'express';
import type { RequestContext } from '../http/context.js';
import { serverSpanOf } from './http.js';

/** Span attributes this service adds to the request's spans (see README, Observability). */
export const ATTR_TENANT_ID = 'app.tenant.id';
export const ATTR_PRINCIPAL_TYPE = 'app.principal.type';

/**
 * The trace id of the active span, or null when tracing is off (no SDK registered, or no span
 * for this request). The request-id middleware uses it so that `x-request-id`, the error body's
 * `traceId` and the audit rows' `trace_id` all name the trace.
 */
export function activeTraceId(): string | null {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : null;
}

/**
 * The W3C `traceparent` of the active span (`00-<trace id>-<span id>-<flags>`), or null when
 * tracing is off. Stored with an event so that work it causes later (webhook deliveries) can link
 * its spans to the request that wrote it.
 */
export function activeTraceParent(): string | null {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * Tags the request with who is calling and for which tenant, once the route wrapper has resolved
 * them: on the HTTP server span (so traces can be searched by tenant) and on the active span if
 * that is another one. Ids and types only, never credentials.
 */
export function setRequestSpanAttributes(req: Request, ctx: Pick<RequestContext, 'principal' | 'tenant'>): void {
  const server = serverSpanOf(req);
  if (server === undefined) return;
  const current = trace.getActiveSpan();
  const attributes = { [ATTR_PRINCIPAL_TYPE]: ctx.principal.type, ...(ctx.tenant ? { [ATTR_TENANT_ID]: ctx.tenant.id } : {}) };
  const targets = new Set<Span>([server, current].filter((s): s is Span => s !== undefined));
  for (const span of targets) span.setAttributes(attributes);
}

/**
 * SQL text with every string literal replaced by `?`. Queries are parameterised, but the
 * transaction preamble inlines the tenant, user and lookup settings (`set_config(..., '<id>')`),
 * and values must not reach a span.
 */
export function redactSqlLiterals(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'/g, '?');
}

/** `SELECT`, `INSERT`, ...: the first keyword, as instrumentation-pg named its spans. */
export function sqlOperation(sql: string): string {
  const first = /^\s*([A-Za-z]+)/.exec(sql)?.[1];
  return first ? first.toUpperCase() : 'QUERY';
}
