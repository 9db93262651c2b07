import type { IncomingHttpHeaders } from 'node:http';
import type { SmtpSink } from '../../support/smtp-sink.js';
import { adminQuery } from './database.js';

/**
 * docs/security.md: no password, token, API key, session id or CSRF token may reach a log, a URL or
 * an audit row. Every secret a scenario issues or sends is recorded here as it passes through
 * the suite's HTTP client (and, for mailed tokens, the SMTP sink); every server's output and
 * every URL requested is kept too. `findLeaks` then searches one for the other. The registry is
 * per module instance, so per test file: each file checks the secrets it issued itself.
 */

/** Shorter values are too likely to occur by chance (and the suite issues none). */
const MIN_SECRET_LENGTH = 8;

const secrets = new Map<string, string>();
const urls: string[] = [];
const logSources: { name: string; text: () => string }[] = [];

export function recordSecret(kind: string, value: unknown): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  if (!secrets.has(value)) secrets.set(value, kind);
}

/** A process whose output must stay free of secrets (its lines are read at check time). */
export function recordLogSource(name: string, text: () => string): void {
  logSources.push({ name, text });
}

/** The signed session cookie `s:<id>.<signature>`: the whole value and the bare session id. */
function recordSessionCookie(value: string): void {
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    // Not percent-encoded; keep it as it is.
  }
  recordSecret('session cookie', value);
  recordSecret('session cookie', decoded);
  const id = /^s:([^.]+)\./.exec(decoded)?.[1];
  recordSecret('session id', id);
}

function cookieValues(header: string): string[] {
  return header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair.startsWith('__Host-sid=') || pair.startsWith('sid='))
    .map((pair) => pair.slice(pair.indexOf('=') + 1));
}

const BODY_SECRET_FIELDS = ['password', 'currentPassword', 'newPassword', 'token', 'csrfToken', 'key'] as const;

function recordBodySecrets(where: string, body: unknown): void {
  if (typeof body !== 'object' || body === null) return;
  const fields = body as Record<string, unknown>;
  for (const field of BODY_SECRET_FIELDS) recordSecret(`${field} (${where})`, fields[field]);
}

/** Called by `send` before sending: the URL, and every secret the request carries. */
export function recordRequest(url: string, headers: Record<string, string>, body: unknown): void {
  urls.push(url);
  recordSecret('x-csrf-token header', headers['x-csrf-token']);
  recordSecret('x-api-key header', headers['x-api-key']);
  for (const value of cookieValues(headers.cookie ?? '')) recordSessionCookie(value);
  recordBodySecrets('request body', body);
}

/** Called by `send` for every response: the session cookies and tokens it issued. */
export function recordResponse(headers: IncomingHttpHeaders, body: unknown): void {
  for (const line of headers['set-cookie'] ?? []) {
    for (const value of cookieValues(line.split(';')[0] ?? '')) recordSessionCookie(value);
  }
  recordBodySecrets('response body', body);
}

/** Tokens the app mailed (reset and invite links), whether or not the scenario used them. */
export function recordMailedTokens(sink: SmtpSink): void {
  for (const message of sink.messages) {
    for (const match of message.text.matchAll(/[?&]token=([A-Za-z0-9_%-]+)/g)) {
      const raw = match[1] ?? '';
      recordSecret('mailed token', raw);
      try {
        recordSecret('mailed token', decodeURIComponent(raw));
      } catch {
        // Kept raw.
      }
    }
  }
}

export function issuedSecretCount(): number {
  return secrets.size;
}

/**
 * Every place an issued secret turned up: server output, a requested URL, or an audit row of
 * one of `databases` (read as the superuser, so RLS hides nothing). A finding names the kind of
 * secret and where, never the secret itself.
 */
export async function findLeaks(opts: { databases: string[]; sinks?: SmtpSink[] }): Promise<string[]> {
  for (const sink of opts.sinks ?? []) recordMailedTokens(sink);
  const haystacks: { where: string; text: string }[] = [];
  for (const source of logSources) haystacks.push({ where: `output of ${source.name}`, text: source.text() });
  for (const url of urls) {
    let decoded = url;
    try {
      decoded = decodeURIComponent(url);
    } catch {
      // Search the raw form only.
    }
    haystacks.push({ where: `requested URL ${url.split('?')[0] ?? ''}`, text: `${url}\n${decoded}` });
  }
  for (const database of opts.databases) {
    const rows = await adminQuery<{ id: string; row: string }>('SELECT id::text AS id, row_to_json(a)::text AS row FROM audit_log_events a', [], database);
    for (const r of rows) haystacks.push({ where: `audit row ${r.id} of ${database}`, text: r.row });
  }
  const findings: string[] = [];
  for (const [secret, kind] of secrets) {
    for (const haystack of haystacks) {
      if (haystack.text.includes(secret)) findings.push(`${kind} found in ${haystack.where}`);
    }
  }
  return findings;
}

/**
 * The closing check of a scenario file: fails naming every leak, and fails too when nothing was
 * recorded (a check that searched for nothing proves nothing). Returns what was searched.
 */
export async function assertNoLeaks(opts: { databases: string[]; sinks?: SmtpSink[] }): Promise<{ secrets: number; urls: number; logSources: number }> {
  const findings = await findLeaks(opts);
  if (secrets.size === 0 || logSources.length === 0) throw new Error('no secrets or no server output were recorded; the leak check would be vacuous');
  if (findings.length > 0) throw new Error(`issued secrets leaked:\n${findings.join('\n')}`);
  return { secrets: secrets.size, urls: urls.length, logSources: logSources.length };
}
