/**
 * `pnpm demo`: fills a running server (`pnpm dev`; `BASE` to point elsewhere) with something to
 * explore: a demo user, a tenant, a service account with a write key, and incidents with timeline
 * notes, tasks and status updates. It goes through the public API only, as a client would, so it
 * works against any deployment that allows signup. Run again, it signs in instead of signing up
 * and adds to the same tenant. `DEMO_EMAIL` and `DEMO_PASSWORD` override the demo account.
 */
import { pathToFileURL } from 'node:url';

export const DEMO_EMAIL = process.env.DEMO_EMAIL ?? 'demo@example.com';
export const DEMO_PASSWORD = process.env.DEMO_PASSWORD ?? 'demo-incident-tracker-2026';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** A cookie-keeping, CSRF-sending client: the same rules a browser follows. */
class DemoClient {
  private cookies = new Map<string, string>();
  private csrfToken = '';

  constructor(private readonly base: string) {}

  async call(method: string, path: string, body?: unknown, apiKey?: string): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (apiKey) headers['x-api-key'] = apiKey;
    else {
      if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      if (method !== 'GET') headers['x-csrf-token'] = this.csrfToken;
    }
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : {};
    const answer = { status: res.status, body: parsed as Record<string, unknown> };
    if (typeof answer.body.csrfToken === 'string') this.csrfToken = answer.body.csrfToken;
    return answer;
  }

  /** Like `call`, but any status other than `expected` stops the demo with the server's answer. */
  async expect(expected: number, method: string, path: string, body?: unknown, apiKey?: string): Promise<Record<string, unknown>> {
    const answer = await this.call(method, path, body, apiKey);
    if (answer.status !== expected) {
      throw new Error(`${method} ${path} answered ${String(answer.status)}: ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }
}

function idOf(body: Record<string, unknown>): string {
  if (typeof body.id !== 'string') throw new Error(`expected an id in ${JSON.stringify(body)}`);
  return body.id;
}

export interface DemoResult {
  email: string;
  password: string;
  tenantId: string;
  apiKey: string;
  incidentIds: string[];
}

/** Creates the demo data on the server at `base` and returns what a user needs to sign in. */
export async function runDemo(base: string): Promise<DemoResult> {
  const client = new DemoClient(base);
  await client.expect(200, 'GET', '/v1/auth/me');
  const signup = await client.call('POST', '/v1/auth/signup', { email: DEMO_EMAIL, password: DEMO_PASSWORD, name: 'Demo User' });
  let tenantId: string | null = null;
  if (signup.status === 409 && signup.body.code === 'EMAIL_ALREADY_REGISTERED') {
    const login = await client.expect(200, 'POST', '/v1/auth/login', { email: DEMO_EMAIL, password: DEMO_PASSWORD });
    const active = login.activeTenant as { id: string } | null;
    tenantId = active?.id ?? null;
  } else if (signup.status !== 201) {
    throw new Error(`POST /v1/auth/signup answered ${String(signup.status)}: ${JSON.stringify(signup.body)}`);
  }
  tenantId ??= idOf(await client.expect(201, 'POST', '/v1/tenants', { name: 'Demo Corp' }));

  const account = idOf(
    await client.expect(201, 'POST', `/v1/tenants/${tenantId}/service-accounts`, { name: 'demo-bot', description: 'Created by pnpm demo' }),
  );
  const created = await client.expect(201, 'POST', `/v1/tenants/${tenantId}/api-keys`, {
    serviceAccountId: account,
    name: 'demo write key',
    scopes: ['write'],
  });
  if (typeof created.key !== 'string') throw new Error('the API key answer carried no key');
  const apiKey = created.key;

  const incidentIds: string[] = [];
  // A resolved incident with its whole story, by the signed-in user.
  const db = idOf(
    await client.expect(201, 'POST', '/v1/incidents', {
      title: 'Primary database CPU at 100%',
      description: 'Checkout and search time out; the database primary is saturated.',
      severity: 'SEV1',
    }),
  );
  incidentIds.push(db);
  await client.expect(201, 'POST', `/v1/incidents/${db}/timeline-events`, { message: 'Paged the database on-call.' });
  await client.expect(201, 'POST', `/v1/incidents/${db}/tasks`, { title: 'Find the query behind the CPU spike' });
  await client.expect(201, 'POST', `/v1/incidents/${db}/status-updates`, {
    message: 'A missing index on orders.created_at after last night\'s migration.',
    visibility: 'internal',
    status: 'identified',
  });
  await client.expect(201, 'POST', `/v1/incidents/${db}/timeline-events`, { message: 'Index created concurrently; CPU back to 35%.' });
  await client.expect(201, 'POST', `/v1/incidents/${db}/status-updates`, {
    message: 'Checkout and search are back to normal.',
    visibility: 'public',
    status: 'resolved',
  });

  // An open incident with tasks in progress.
  const login = idOf(
    await client.expect(201, 'POST', '/v1/incidents', { title: 'Some users cannot sign in with SSO', severity: 'SEV2' }),
  );
  incidentIds.push(login);
  const task = idOf(await client.expect(201, 'POST', `/v1/incidents/${login}/tasks`, { title: 'Check the identity provider status page' }));
  await client.expect(200, 'PATCH', `/v1/incidents/${login}/tasks/${task}`, { status: 'in_progress' });
  await client.expect(201, 'POST', `/v1/incidents/${login}/tasks`, { title: 'Draft a customer notice' });
  await client.expect(201, 'POST', `/v1/incidents/${login}/status-updates`, {
    message: 'We are investigating sign-in failures for some SSO customers.',
    visibility: 'public',
  });

  // One opened by automation, with the API key: no cookie, no CSRF token.
  const deploy = idOf(
    await client.expect(201, 'POST', '/v1/incidents', { title: 'Deploy 4812 failed health checks', severity: 'SEV3' }, apiKey),
  );
  incidentIds.push(deploy);
  await client.expect(201, 'POST', `/v1/incidents/${deploy}/timeline-events`, { message: 'Rolled back to 4811 automatically.' }, apiKey);

  return { email: DEMO_EMAIL, password: DEMO_PASSWORD, tenantId, apiKey, incidentIds };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const base = (process.env.BASE ?? 'http://localhost:3000').replace(/\/+$/, '');
  try {
    const r = await runDemo(base);
    process.stdout.write(
      [
        `Demo data created on ${base} (tenant ${r.tenantId}, ${String(r.incidentIds.length)} incidents).`,
        '',
        `Sign in:   email ${r.email}   password ${r.password}`,
        `Explore:   ${base}/docs  (POST /v1/auth/login with the email and password, then "Try it out")`,
        `API key:   ${r.apiKey}  (write scope; shown once, keep it)`,
        `Try it:    curl -s -H 'x-api-key: ${r.apiKey}' ${base}/v1/incidents`,
        '',
      ].join('\n'),
    );
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    process.stderr.write(`pnpm demo: ${reason}\nIs the server running at ${base}? Start it with \`pnpm dev\`, or set BASE.\n`);
    process.exitCode = 1;
  }
}
