import type autocannon from 'autocannon';
import type { TenantFixture, WriteIncident } from './setup.js';

/**
 * The requests each variant sends, per connection. Every connection keeps its own tenant (list
 * scenarios) or its own tenant and incidents (P4), so variants compared in one scenario do the
 * same work on the same rows.
 *
 * App requests carry `x-forwarded-proto: https` and a per-connection `x-forwarded-for` from the
 * benchmarking range 198.18.0.0/15: the app trusts one proxy hop in production, so sessions get
 * their Secure cookie and the per-IP counters of the bench never meet anyone else's.
 */
export function proxyHeaders(conn: number): Record<string, string> {
  return { 'x-forwarded-proto': 'https', 'x-forwarded-for': `198.18.0.${(conn % 250) + 1}` };
}

function pick<T>(items: readonly T[], conn: number): T {
  const item = items[conn % items.length];
  if (item === undefined) throw new Error('no fixture for connection');
  return item;
}

/** B0 and B1: GET /incidents?tenant=<id>. */
export function baselineList(tenants: readonly TenantFixture[]) {
  return (conn: number): autocannon.Request[] => [{ method: 'GET', path: `/incidents?tenant=${pick(tenants, conn).id}` }];
}

/** The app's list by API key; `query` is appended as is (`?cursor=...` for P5). */
export function appListByKey(tenants: readonly TenantFixture[], query = '') {
  return (conn: number): autocannon.Request[] => [
    { method: 'GET', path: `/v1/incidents${query}`, headers: { 'x-api-key': pick(tenants, conn).apiKey, ...proxyHeaders(conn) } },
  ];
}

/** The app's list by session cookie (Redis store); one signed-in session per connection. */
export function appListBySession(cookies: readonly string[]) {
  return (conn: number): autocannon.Request[] => [
    { method: 'GET', path: '/v1/incidents', headers: { cookie: pick(cookies, conn), ...proxyHeaders(conn) } },
  ];
}

const SEVERITIES = ['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const;

function nextSeverity(current: string): string {
  const i = SEVERITIES.indexOf(current as (typeof SEVERITIES)[number]);
  return SEVERITIES[(i + 1) % SEVERITIES.length] ?? 'SEV1';
}

interface WriteSet {
  tenant: TenantFixture;
  incidents: WriteIncident[];
}

/**
 * P4, the app: PATCH an incident's title and severity by API key. The connection cycles through
 * its tenant's incidents and always moves the severity on (reading the current one back from each
 * answer), so every PATCH changes the row and writes a `severity_changed` timeline event, an
 * audit row and a quota count.
 */
export function appPatch(sets: readonly WriteSet[], connections: number) {
  return (conn: number): autocannon.Request[] => {
    const set = pick(sets, conn);
    const sharers = Math.max(1, Math.ceil(connections / sets.length));
    // Connections that share a tenant start at different incidents.
    let n = Math.floor(conn / sets.length) * Math.floor(set.incidents.length / sharers);
    let pending: WriteIncident | null = null;
    return [
      {
        method: 'PATCH',
        setupRequest: (req) => {
          const incident = set.incidents[n++ % set.incidents.length];
          if (!incident) throw new Error('no incident to patch');
          pending = incident;
          return {
            ...req,
            path: `/v1/incidents/${incident.id}`,
            headers: { 'content-type': 'application/json', 'x-api-key': set.tenant.apiKey, ...proxyHeaders(conn) },
            body: JSON.stringify({ title: `Bench update ${conn}-${n}`, severity: nextSeverity(incident.severity) }),
          };
        },
        onResponse: (status, body) => {
          if (status === 200 && pending) {
            try {
              const severity = (JSON.parse(body) as { severity?: unknown }).severity;
              if (typeof severity === 'string') pending.severity = severity;
            } catch {
              // keep the last known severity
            }
          }
          pending = null;
        },
      },
    ];
  };
}

/** P4, the floor: the same incidents, only the UPDATE. */
export function baselinePatch(sets: readonly WriteSet[], connections: number) {
  return (conn: number): autocannon.Request[] => {
    const set = pick(sets, conn);
    const sharers = Math.max(1, Math.ceil(connections / sets.length));
    let n = Math.floor(conn / sets.length) * Math.floor(set.incidents.length / sharers);
    return [
      {
        method: 'PATCH',
        setupRequest: (req) => {
          const incident = set.incidents[n++ % set.incidents.length];
          if (!incident) throw new Error('no incident to patch');
          return {
            ...req,
            path: `/incidents/${set.tenant.id}/${incident.id}`,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ title: `Bench update ${conn}-${n}` }),
          };
        },
      },
    ];
  };
}

export interface LoginCounters {
  ok: number;
  failed: number;
  statuses: Record<string, number>;
}

export function newLoginCounters(): LoginCounters {
  return { ok: 0, failed: 0, statuses: {} };
}

/** The `name=value` part of the session cookie in a Set-Cookie header (or list of them). */
export function sessionCookieFrom(setCookie: string | string[] | undefined): string | null {
  const all = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  for (const c of all) {
    const pair = c.split(';')[0]?.trim();
    if (pair && /^(__Host-)?sid=/.test(pair)) return pair;
  }
  return null;
}

function headerValue(headers: autocannon.Request['headers'], name: string): string | string[] | undefined {
  if (!headers) return undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * The login flood: each connection loops GET /v1/auth/me (a fresh anonymous session and its
 * CSRF token) then POST /v1/auth/login with that cookie and token, as a browser would. Only the
 * login answers are counted. Login regenerates the session id, so the next loop starts over.
 */
export function loginFlood(emails: readonly string[], password: string, counters: LoginCounters) {
  return (conn: number): autocannon.Request[] => {
    const email = pick(emails, conn);
    const state: { cookie: string | null; csrf: string | null } = { cookie: null, csrf: null };
    return [
      {
        method: 'GET',
        path: '/v1/auth/me',
        headers: proxyHeaders(conn),
        onResponse: (status, body, _context, headers) => {
          state.cookie = null;
          state.csrf = null;
          if (status !== 200) return;
          state.cookie = sessionCookieFrom(headerValue(headers, 'set-cookie'));
          try {
            const parsed = JSON.parse(body) as { csrfToken?: unknown };
            state.csrf = typeof parsed.csrfToken === 'string' ? parsed.csrfToken : null;
          } catch {
            state.csrf = null;
          }
        },
      },
      {
        method: 'POST',
        path: '/v1/auth/login',
        setupRequest: (req) => ({
          ...req,
          headers: {
            'content-type': 'application/json',
            ...proxyHeaders(conn),
            ...(state.cookie ? { cookie: state.cookie } : {}),
            ...(state.csrf ? { 'x-csrf-token': state.csrf } : {}),
          },
          body: JSON.stringify({ email, password }),
        }),
        onResponse: (status) => {
          if (status === 200) counters.ok++;
          else counters.failed++;
          counters.statuses[String(status)] = (counters.statuses[String(status)] ?? 0) + 1;
        },
      },
    ];
  };
}
