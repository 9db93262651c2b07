import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { ResponseValidator } from '../../support/contract.js';
import { recordContractProblem } from '../../support/state.js';
import { recordRequest, recordResponse } from './secrets.js';

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: unknown;
  /** Wall time from sending the request to the end of the response. */
  ms: number;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

let validator: ResponseValidator | null = null;

/**
 * One request on a fresh connection (no keep-alive pool, so "new connections" in the shutdown
 * scenario really are new). Production trusts one proxy hop, so every request says it came over
 * https, as the proxy in front would, and the Secure `__Host-sid` cookie is issued. Every
 * response is checked against openapi.yaml like the integration suite's.
 */
export function send(baseUrl: string, method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { 'x-forwarded-proto': 'https', accept: 'application/json', ...opts.headers };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  recordRequest(`${baseUrl}${path}`, headers, opts.body);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = undefined;
        if (text !== '' && (res.headers['content-type'] ?? '').includes('json')) {
          try {
            body = JSON.parse(text) as unknown;
          } catch {
            body = text;
          }
        }
        recordResponse(res.headers, body);
        const status = res.statusCode ?? 0;
        validator ??= new ResponseValidator();
        const problem = validator.check(method, path.split('?')[0] ?? path, status, body);
        if (problem) recordContractProblem(problem);
        resolve({ status, headers: res.headers, text, body, ms: performance.now() - started });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 15_000, () => {
      req.destroy(new Error(`${method} ${path} timed out after ${opts.timeoutMs ?? 15_000} ms`));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface SignedInUser {
  id: string;
  email: string;
  name: string;
}

/**
 * A browser-like client of one server: keeps the session cookie it is given (sending it back
 * itself, since the cookie is Secure and the transport plain http) and sends the CSRF token on
 * unsafe methods.
 */
export class SessionClient {
  cookie: string | null = null;
  csrfToken = '';
  user: SignedInUser | null = null;

  constructor(public baseUrl: string) {}

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (UNSAFE.has(method) && !('x-csrf-token' in headers)) headers['x-csrf-token'] = this.csrfToken;
    const res = await send(this.baseUrl, method, path, { ...opts, headers });
    this.remember(res.headers['set-cookie']);
    return res;
  }

  private remember(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      if (name !== '__Host-sid' && name !== 'sid') continue;
      const cleared = pair.slice(eq + 1) === '' || /expires=Thu, 01 Jan 1970/i.test(line);
      this.cookie = cleared ? null : pair.trim();
    }
  }

  get(path: string, opts?: RequestOptions) {
    return this.request('GET', path, opts);
  }
  post(path: string, body?: unknown, opts: RequestOptions = {}) {
    return this.request('POST', path, body === undefined ? opts : { ...opts, body });
  }
  patch(path: string, body: unknown, opts: RequestOptions = {}) {
    return this.request('PATCH', path, { ...opts, body });
  }

  async refreshCsrf(): Promise<void> {
    const res = await this.get('/v1/auth/me');
    if (res.status !== 200) throw new Error(`GET /v1/auth/me: ${res.status} ${res.text}`);
    this.csrfToken = (res.body as { csrfToken: string }).csrfToken;
  }
}

/** A client authenticating with an API key (no cookie, no CSRF token). */
export class ApiKeyClient {
  constructor(
    public baseUrl: string,
    readonly key: string,
  ) {}

  request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    return send(this.baseUrl, method, path, { ...opts, headers: { ...opts.headers, 'x-api-key': this.key } });
  }
  get(path: string, opts?: RequestOptions) {
    return this.request('GET', path, opts);
  }
  post(path: string, body: unknown, opts: RequestOptions = {}) {
    return this.request('POST', path, { ...opts, body });
  }
}

export function codeOf(res: Response): string | undefined {
  return (res.body as { code?: string } | undefined)?.code;
}

/**
 * A 503 that says only what the catalog says: the envelope, code SERVICE_UNAVAILABLE, the
 * catalog message, and nothing from the driver, SQL or a stack.
 */
export function isCleanUnavailable(res: Response): boolean {
  const body = res.body as { code?: unknown; message?: unknown; traceId?: unknown; details?: unknown } | undefined;
  return (
    res.status === 503 &&
    body !== undefined &&
    Object.keys(body).sort().join(',') === 'code,details,message,traceId' &&
    body.code === 'SERVICE_UNAVAILABLE' &&
    body.message === 'The service is temporarily unavailable.' &&
    JSON.stringify(body.details) === '{}' &&
    !LEAK_RE.test(res.text)
  );
}

/** Text that must never reach a client: driver and SQL wording, constraint names, stack frames. */
export const LEAK_RE = /terminat|connection|ECONN|ETIMEDOUT|timeout|sqlstate|select |insert |update |relation|constraint|postgres|redis|stack|\bat \S+ \(|\.ts:\d|\.js:\d/i;

/** How many responses had each status (and error code): `{ '201': 3, '429 QUOTA_EXCEEDED': 2 }`. */
export function statuses(responses: Response[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of responses) {
    const code = codeOf(r);
    const k = code ? `${String(r.status)} ${code}` : String(r.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
