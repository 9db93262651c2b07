import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Config } from '../../config.js';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { userIdOf, type RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { assertIfMatch, type IfMatch } from '../../platform/http/etag.js';
import { forbiddenAddressReason } from '../../platform/http-out/address-policy.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import { generateSigningSecret } from './webhook.signing.js';
import type { WebhookSecrets } from './webhook.secrets.js';
import type { CreateEndpointInput, UpdateEndpointInput } from './webhooks.schema.js';
import { deleteEndpoint, findEndpoint, insertEndpoint, listEndpointRows, rotateSecret, updateEndpoint, type EndpointRow } from './webhooks.queries.js';

export interface WebhookServiceDeps {
  config: Pick<Config, 'webhooks'>;
  secrets: WebhookSecrets;
}

export const DEFAULT_OVERLAP_SECONDS = 86_400;
export const DISABLED_BY_USER = 'Disabled through the API.';

export function presentEndpoint(r: EndpointRow) {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    eventTypes: r.event_types,
    enabled: r.enabled,
    disabledReason: r.disabled_reason,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: r.version,
  };
}

function urlProblem(message: string): AppError {
  return new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'url', message }] } });
}

/**
 * Where an endpoint may point (docs/security.md 50): an absolute http(s) URL (https only in
 * production) without credentials. A literal private address or `localhost` is refused here
 * already; every address a hostname resolves to is checked again at each delivery.
 */
export function checkedUrl(raw: string, config: Pick<Config, 'webhooks'>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw urlProblem('Must be an absolute URL, e.g. https://example.com/webhooks.');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && !config.webhooks.httpsOnly)) {
    throw urlProblem(config.webhooks.httpsOnly ? 'Must use https.' : 'Must use http or https.');
  }
  if (url.username !== '' || url.password !== '') throw urlProblem('Must not contain credentials (user:password@).');
  if (!config.webhooks.allowPrivateNetworks) {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    const reason = isIP(host) !== 0 ? forbiddenAddressReason(host) : host === 'localhost' || host.endsWith('.localhost') ? 'loopback address' : null;
    if (reason) throw urlProblem(`Must not point to a ${reason}.`);
  }
  return url;
}

/** The endpoint, or 404; then the caller must hold webhooks.manage (403). */
export async function loadEndpoint(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string, lock = false): Promise<EndpointRow> {
  const row = await findEndpoint(tx, tenantId, endpointId, lock);
  if (!row) throw new AppError('NOT_FOUND');
  enforce('webhooks.manage', { tenantId }, ctx);
  return row;
}

export async function listEndpoints(tx: Queryable, tenantId: string, input: { limit: number; cursor?: string | undefined }) {
  const page = pageRequest(input);
  const rows = await listEndpointRows(tx, tenantId, page);
  return pageOf(rows, page, presentEndpoint);
}

/** Creates the endpoint and its first secret, shown once in the answer and stored only sealed. */
export async function createEndpoint(tx: Queryable, ctx: RequestContext, tenantId: string, input: CreateEndpointInput, deps: WebhookServiceDeps) {
  const url = checkedUrl(input.url, deps.config);
  const id = randomUUID();
  const secretId = randomUUID();
  const secret = generateSigningSecret();
  const row = await insertEndpoint(
    tx,
    { tenantId, id, url: url.href, description: input.description ?? null, eventTypes: input.eventTypes, createdBy: userIdOf(ctx.principal), now: ctx.now },
    { id: secretId, ciphertext: deps.secrets.seal(secret, { tenantId, endpointId: id, secretId }) },
  );
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'webhook_endpoint.created',
    target: { type: 'webhook_endpoint', id },
    // The origin only: a URL's path or query may itself carry a receiver's token.
    metadata: { urlOrigin: url.origin, eventTypes: input.eventTypes },
  });
  return { ...presentEndpoint(row), secret };
}

export async function patchEndpoint(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  endpointId: string,
  input: UpdateEndpointInput,
  ifMatch: IfMatch,
  deps: WebhookServiceDeps,
) {
  const current = await loadEndpoint(tx, ctx, tenantId, endpointId, true);
  assertIfMatch(ifMatch, current.version);
  const url = input.url === undefined ? current.url : checkedUrl(input.url, deps.config).href;
  const enabled = input.enabled ?? current.enabled;
  const change = {
    url,
    description: input.description === undefined ? current.description : input.description,
    eventTypes: input.eventTypes ?? current.event_types,
    enabled,
    disabledReason: enabled ? null : input.enabled === false && current.enabled ? DISABLED_BY_USER : current.disabled_reason,
    clearFailing: enabled && !current.enabled,
  };
  const changed = (['url', 'description', 'eventTypes', 'enabled'] as const).filter((k) => {
    const before = { url: current.url, description: current.description, eventTypes: current.event_types, enabled: current.enabled }[k];
    return JSON.stringify(before) !== JSON.stringify(change[k]);
  });
  if (changed.length === 0) return current;
  const row = await updateEndpoint(tx, tenantId, endpointId, change, ctx.now);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'webhook_endpoint.updated',
    target: { type: 'webhook_endpoint', id: endpointId },
    metadata: { changed, urlOrigin: new URL(url).origin, enabled, eventTypes: change.eventTypes },
  });
  return row;
}

export async function removeEndpoint(tx: Queryable, ctx: RequestContext, tenantId: string, endpointId: string): Promise<void> {
  const current = await loadEndpoint(tx, ctx, tenantId, endpointId, true);
  await deleteEndpoint(tx, tenantId, endpointId);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'webhook_endpoint.deleted',
    target: { type: 'webhook_endpoint', id: endpointId },
    metadata: { urlOrigin: new URL(current.url).origin },
  });
}

/** A new secret signs from now on; the old ones keep signing until the overlap ends. */
export async function rotateEndpointSecret(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  endpointId: string,
  overlapSeconds: number | undefined,
  deps: WebhookServiceDeps,
) {
  await loadEndpoint(tx, ctx, tenantId, endpointId, true);
  const overlap = overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  const secretId = randomUUID();
  const secret = generateSigningSecret();
  const overlapEnd = new Date(ctx.now.getTime() + overlap * 1000);
  await rotateSecret(tx, tenantId, endpointId, { id: secretId, ciphertext: deps.secrets.seal(secret, { tenantId, endpointId, secretId }) }, ctx.now, overlapEnd);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'webhook_endpoint.secret_rotated',
    target: { type: 'webhook_endpoint', id: endpointId },
    metadata: { overlapSeconds: overlap, overlapEndsAt: overlapEnd.toISOString() },
  });
  return { secret };
}
