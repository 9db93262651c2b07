import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import type { FeatureDeps } from '../../deps.js';
import { AppError } from '../../platform/http/errors.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { streamCredentialCheck } from './events.credentials.js';
import { lastEventIdSchema, listEventsQuery, streamEventsQuery } from './events.schema.js';
import { listEvents } from './events.service.js';
import { MemoryStreamSlots, RedisStreamSlots, type StreamSlots } from './events.slots.js';
import { EventStream } from './events.stream.js';

const read = { tenant: 'active', apiKeys: true, action: 'incidents.read', authorize: 'route' } as const;

/** `Last-Event-ID` (what EventSource sends on reconnect) wins over `?after=`; neither means "from now". */
function resumePoint(lastEventId: string | undefined, after: number | undefined): number | null {
  if (lastEventId === undefined || lastEventId === '') return after ?? null;
  const parsed = lastEventIdSchema.safeParse(lastEventId);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'Last-Event-ID', message: 'Must be the seq of an event (a non-negative integer).' }] } });
  }
  return parsed.data;
}

/** The event record, read as a list and as a Server-Sent Events stream (session or API key, incidents.read). */
export function registerEventRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  const { eventHub, eventStreams } = deps;
  const slots: StreamSlots = deps.redis ? new RedisStreamSlots(deps.redis, eventStreams.recheckIntervalMs * 3, deps.logger) : new MemoryStreamSlots();

  routes.tenant({
    ...read,
    method: 'get',
    path: '/events',
    query: listEventsQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listEvents(tx, tenantId, query) };
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/events/stream',
    query: streamEventsQuery,
    handler({ ctx, tenantId, query, req }) {
      const resume = resumePoint(req.get('last-event-id'), query.after);
      const recheck = streamCredentialCheck(deps.db, deps.clock, req, ctx, tenantId);
      const filter = { types: query.types, incidentId: query.incidentId };
      // Opened after the transaction commits: the slot is taken only for a stream that starts.
      const stream = async (res: Response): Promise<void> => {
        const streamId = randomUUID();
        if (!(await slots.acquire(tenantId, streamId, deps.clock.now().getTime()))) {
          throw new AppError('RATE_LIMITED', {
            message: 'This tenant has the most event streams open that it may; close one or try again later.',
            headers: { 'Retry-After': '30' },
          });
        }
        const events = new EventStream(res, {
          db: deps.db,
          hub: eventHub,
          tenantId,
          filter,
          after: resume,
          keepAliveMs: eventStreams.keepAliveMs,
          recheck: async () => {
            const ok = await recheck();
            if (ok) await slots.renew(tenantId, streamId, deps.clock.now().getTime());
            return ok;
          },
          onEnd: () => {
            slots.release(tenantId, streamId).catch(() => undefined);
          },
        });
        try {
          await events.start();
        } catch (err) {
          events.end('could not start');
          throw err;
        }
      };
      return Promise.resolve({ status: 200, stream });
    },
  });
}
