import { randomUUID } from 'node:crypto';
import { apiKeyLookup, authenticateApiKey } from '../../src/features/api-keys/api-key.auth.js';
import { parseApiKey } from '../../src/features/api-keys/api-key.token.js';
import { presentIncident } from '../../src/features/incidents/incidents.presenters.js';
import type { UpdateIncidentInput } from '../../src/features/incidents/incidents.schema.js';
import { patchIncident } from '../../src/features/incidents/incidents.service.js';
import { countWrite, decideWrite } from '../../src/features/usage/usage.quota.js';
import { loadConfig } from '../../src/config.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import { etagOf, parseIfMatch } from '../../src/platform/http/etag.js';
import type { RequestContext } from '../../src/platform/http/context.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { observeDatabase } from '../../src/platform/telemetry/database.js';
import { isUuid, readBody, sendJson, serve } from './common.js';

/**
 * B4, the floor for P4: exactly the app's PATCH /v1/incidents/:id transaction on bare `node:http`.
 * Nothing of it is copied: the same database layer (src/platform/db/postgres.ts: the pool, the
 * pipelining and corking, the named statements, the one-round-trip opening with the API-key
 * lookup), the same database settings (loadConfig, with the harness's --app-env), and the same
 * functions issuing the statements, in the order the route wrapper (src/platform/http/route.ts)
 * calls them: the opening with the key lookup and the quota count (countWrite), authenticateApiKey, the quota decision, patchIncident (the row lock and the audit chain head's in one statement,
 * then one statement with the UPDATE, timeline event, audit row, event and head move), COMMIT, then the body. What it
 * leaves out is everything around the transaction: Express, routing, zod validation, the session
 * store, CSRF, idempotency, logging, telemetry, security headers.
 *
 * PATCH /v1/incidents/<uuid> with `x-api-key` and `{ "title"?, "severity"? }`, as the app.
 * Keep it in step with route.ts when the tenant route's transaction changes.
 */
const config = loadConfig(process.env);
if (config.database.kind !== 'postgres') throw new Error('B4 needs DATABASE_URL (PostgreSQL)');
const logger = createLogger('warn');
const pg = createPostgresDatabase({ ...config.database, logger });
const db = observeDatabase(pg);

interface Body {
  title?: unknown;
  severity?: unknown;
}

serve('b4', pg.pool, async (req, res, path) => {
  const parts = path.split('/');
  const incidentId = parts[3];
  const apiKey = req.headers['x-api-key'];
  if (req.method !== 'PATCH' || parts.length !== 4 || parts[1] !== 'v1' || parts[2] !== 'incidents' || !isUuid(incidentId) || typeof apiKey !== 'string') {
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  const parsed = parseApiKey(apiKey);
  const body = JSON.parse(await readBody(req)) as Body;
  if (!parsed || (body.title !== undefined && typeof body.title !== 'string') || (body.severity !== undefined && typeof body.severity !== 'string')) {
    sendJson(res, 400, { error: 'bad request' });
    return;
  }
  const input = body as UpdateIncidentInput;
  const now = new Date();
  const ctx: RequestContext = {
    requestId: randomUUID(),
    ip: req.socket.remoteAddress ?? null,
    userAgent: req.headers['user-agent'] ?? null,
    principal: { type: 'anonymous' },
    tenant: null,
    now,
    authorized: new Set(),
  };
  const change = await db.withAppTx(
    { tenantId: null, userId: null, apiKeyPublicId: parsed.publicId, lookups: [apiKeyLookup(parsed.publicId), countWrite(now, config.dailyWriteQuota)] },
    async (tx, opened) => {
      // The opening round trip carried the key lookup and the quota count, as on the app's metered route.
      const key = await authenticateApiKey(tx, apiKey, now, opened.lookups[0] ?? []);
      ctx.principal = { type: 'service_account', serviceAccountId: key.serviceAccountId, apiKeyId: key.apiKeyId, scopes: key.scopes };
      ctx.tenant = { id: key.tenantId, role: null };
      decideWrite(opened.lookups[1] ?? [], now);
      const pending = await patchIncident(tx, ctx, key.tenantId, incidentId, input, parseIfMatch(req.headers['if-match']));
      // The row settles with the COMMIT's round trip, as the app's whenAnswered result does.
      pending.row.catch(() => undefined);
      return pending;
    },
  );
  const row = await change.row;
  const text = JSON.stringify(presentIncident(row));
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), etag: etagOf(row.version) });
  res.end(text);
});
