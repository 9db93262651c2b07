import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ATTR_DB_OPERATION_NAME, ATTR_DB_QUERY_TEXT, ATTR_DB_SYSTEM_NAME, ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import type { Redis } from 'ioredis';

export const REDIS_SCOPE = 'incident-tracker-api/redis';

/**
 * A client span per command this client sends while a request is traced (none at start-up or in
 * the background). The command's name only: keys and arguments carry session ids and emails.
 * Every command of an ioredis client goes through `sendCommand`, so wrapping this one client's
 * method sees them all, without patching the library for every client in the process.
 */
export function traceRedisCommands(redis: Redis): void {
  const tracer = trace.getTracer(REDIS_SCOPE);
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    const parent = context.active();
    if (trace.getSpan(parent) === undefined) return send(command, stream);
    const span = tracer.startSpan(command.name, { kind: SpanKind.CLIENT }, parent);
    if (span.isRecording()) {
      span.setAttributes({
        [ATTR_DB_SYSTEM_NAME]: 'redis',
        [ATTR_DB_OPERATION_NAME]: command.name,
        [ATTR_DB_QUERY_TEXT]: command.name,
        [ATTR_SERVER_ADDRESS]: redis.options.host,
        [ATTR_SERVER_PORT]: redis.options.port,
      });
    }
    const result = send(command, stream);
    command.promise.then(
      () => {
        span.end();
      },
      (err: unknown) => {
        span.setAttribute(ATTR_ERROR_TYPE, err instanceof Error ? err.name : 'Error');
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    );
    return result;
  };
}
