import { randomUUID } from 'node:crypto';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { userIdOf, type RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import { SCOPES } from '../../platform/rbac/roles.js';
import { issueApiKey, prefixOf } from './api-key.token.js';
import {
  findApiKey,
  insertApiKey,
  insertServiceAccount,
  listApiKeyRows,
  listServiceAccountRows,
  markApiKeyRevoked,
  serviceAccountExists,
  type ApiKeyRow,
  type ServiceAccountRow,
} from './api-keys.queries.js';
import type { CreateApiKeyInput, CreateServiceAccountInput } from './api-keys.schema.js';

interface ListInput {
  limit: number;
  cursor?: string | undefined;
}

function presentServiceAccount(r: ServiceAccountRow) {
  return { id: r.id, name: r.name, description: r.description, createdAt: r.created_at.toISOString() };
}

/** The public view of a key: never the key or its hash, only the recognisable prefix. */
function presentApiKey(r: ApiKeyRow) {
  return {
    id: r.id,
    name: r.name,
    serviceAccountId: r.service_account_id,
    scopes: r.scopes,
    prefix: prefixOf(r.public_id),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    expiresAt: r.expires_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
  };
}

function fieldError(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', { details: { fields: [{ path, message }] } });
}

export async function listServiceAccounts(tx: Queryable, tenantId: string, input: ListInput) {
  const page = pageRequest(input);
  return pageOf(await listServiceAccountRows(tx, tenantId, page), page, presentServiceAccount);
}

export async function createServiceAccount(tx: Queryable, ctx: RequestContext, tenantId: string, input: CreateServiceAccountInput) {
  const id = randomUUID();
  const description = input.description ?? null;
  await insertServiceAccount(tx, { tenantId, id, name: input.name, description, createdBy: userIdOf(ctx.principal), now: ctx.now });
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'service_account.created',
    target: { type: 'service_account', id },
    metadata: { name: input.name },
  });
  return presentServiceAccount({ id, name: input.name, description, created_at: ctx.now });
}

export async function listApiKeys(tx: Queryable, tenantId: string, input: ListInput) {
  const page = pageRequest(input);
  return pageOf(await listApiKeyRows(tx, tenantId, page), page, presentApiKey);
}

/**
 * Issues a key for a service account of the tenant. Only the SHA-256 of the key is stored; the
 * key itself is returned once, here, and is neither audited nor logged.
 */
export async function createApiKey(tx: Queryable, ctx: RequestContext, tenantId: string, input: CreateApiKeyInput) {
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt !== null && expiresAt.getTime() <= ctx.now.getTime()) throw fieldError('expiresAt', 'Must be in the future.');
  if (!(await serviceAccountExists(tx, tenantId, input.serviceAccountId))) {
    throw fieldError('serviceAccountId', 'No such service account in this tenant.');
  }
  // Canonical order, so equal scope sets always read the same.
  const scopes = SCOPES.filter((s) => input.scopes.includes(s));
  const issued = issueApiKey();
  const row = await insertApiKey(tx, {
    tenantId,
    id: randomUUID(),
    serviceAccountId: input.serviceAccountId,
    name: input.name,
    publicId: issued.publicId,
    secretHash: issued.secretHash,
    scopes,
    expiresAt,
    createdBy: userIdOf(ctx.principal),
    now: ctx.now,
  });
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'api_key.created',
    target: { type: 'api_key', id: row.id },
    metadata: { prefix: issued.prefix, name: row.name, serviceAccountId: row.service_account_id, scopes, expiresAt: expiresAt?.toISOString() ?? null },
  });
  return { ...presentApiKey(row), key: issued.key };
}

/**
 * Load (404), authorise (403), then revoke. Authentication reads api_keys on every request without
 * a cache, so the key is refused from the next request on. A second revoke keeps the first
 * revokedAt and writes no second audit row.
 */
export async function revokeApiKey(tx: Queryable, ctx: RequestContext, tenantId: string, apiKeyId: string) {
  const existing = await findApiKey(tx, tenantId, apiKeyId);
  if (!existing) throw new AppError('NOT_FOUND');
  enforce('api_keys.manage', { tenantId }, ctx);
  if (existing.revoked_at !== null) return presentApiKey(existing);
  const revoked = await markApiKeyRevoked(tx, tenantId, apiKeyId, ctx.now);
  if (!revoked) {
    // A concurrent revoke won the row lock; answer with its revokedAt.
    const current = await findApiKey(tx, tenantId, apiKeyId);
    if (!current) throw new AppError('NOT_FOUND');
    return presentApiKey(current);
  }
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'api_key.revoked',
    target: { type: 'api_key', id: apiKeyId },
    metadata: { prefix: prefixOf(revoked.public_id), name: revoked.name, serviceAccountId: revoked.service_account_id },
  });
  return presentApiKey(revoked);
}
