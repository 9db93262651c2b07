import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseDataKeys, devKeyFileFor, type DataKeySource } from './platform/crypto/secret-box.js';
import { databaseHosts, type HostTarget } from './platform/db/hosts.js';
import { readHostTargets } from './platform/db/replicas.js';

const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');

const positiveInt = z.coerce.number().int().positive();

/**
 * Every environment variable the service reads. Each key carries a one-line description that
 * `.env.example` mirrors. Parsed once at start-up by `loadConfig`; nothing reads `process.env`
 * elsewhere.
 */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // One host, or several as libpq writes them (postgres://u:p@db1:5432,db2:5432/app): the pool
  // then connects to whichever is the writable primary (src/platform/db/hosts.ts).
  DATABASE_URL: z
    .string()
    .refine((v) => databaseHosts(v) !== null, { error: 'expected postgres://[user[:password]@]host[:port][,host[:port]...]/database' })
    .optional(),
  DATABASE_POOL_MAX: positiveInt.max(100).default(4),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.default(5000),
  DATABASE_CONNECTION_TIMEOUT_MS: positiveInt.default(2000),
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  // Standbys (host[:port], comma-separated) that may serve read-only requests once they have
  // replayed the caller's last write (src/platform/db/replicas.ts); same credentials as DATABASE_URL.
  DATABASE_READ_HOSTS: z.string().optional(),
  PGLITE_DATA_DIR: z.string().min(1).optional(),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  SESSION_SECRET: z.string().min(1).optional(),
  SESSION_IDLE_TIMEOUT_MINUTES: positiveInt.default(60),
  SESSION_ABSOLUTE_TIMEOUT_HOURS: positiveInt.default(12),
  APP_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  MAIL_FROM: z.string().min(3).default('Incident Tracker <no-reply@localhost>'),
  DAILY_WRITE_QUOTA: positiveInt.default(1000),
  LOGIN_IP_LIMIT_PER_15_MIN: positiveInt.min(100).default(100),
  SIGNUP_IP_LIMIT_PER_HOUR: positiveInt.min(30).default(30),
  FORGOT_IP_LIMIT_PER_HOUR: positiveInt.default(30),
  ALERT_EVENTS_PER_MINUTE: positiveInt.default(1200),
  // Whose X-Forwarded-For to believe (parseTrustProxy); default 1 hop in production, none otherwise.
  TRUST_PROXY: z.string().trim().min(1).optional(),
  // Default: one core left for everything else (docs/performance.md P7), at least one hash at a time.
  ARGON2_MAX_CONCURRENCY: positiveInt.max(64).default(Math.max(1, availableParallelism() - 1)),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(25_000),
  // The job runner (mail, webhook delivery) in this process: on by default; off for an API-only node.
  WORKERS: z.enum(['on', 'off']).default('on'),
  API_DOCS: bool.optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  // The OTLP specification's default is protobuf; JSON is there for collectors that need it.
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  OTEL_SERVICE_NAME: z.string().min(1).default('incident-tracker-api'),
  CORS_ORIGINS: z.string().optional(),
  // Base64 32-byte keys, comma-separated: the first encrypts stored secrets, all decrypt (rotation).
  DATA_ENCRYPTION_KEY: z.string().min(1).optional(),
  // Lets webhooks reach loopback and private addresses (local development and tests only).
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool.default(false),
  // How long a worker owns a claimed delivery; more than the 10 s request limit plus recording it.
  WEBHOOK_LEASE_SECONDS: positiveInt.min(15).max(3600).default(60),
});

type Env = z.infer<typeof envSchema>;

/** The names of every variable the service reads (`.env.example` must set or mention each). */
export const CONFIG_KEYS = Object.keys(envSchema.shape) as (keyof Env)[];

/** `.env.example`'s SESSION_SECRET: fine for development, refused in production. */
export const EXAMPLE_SESSION_SECRET = 'change-me-to-32-or-more-random-characters';

const DEFAULT_APP_BASE_URL = 'http://localhost:3000';

/**
 * Why a production SESSION_SECRET is refused, or null when it is acceptable. The rule: at least
 * 32 characters, at least 10 distinct ones, not one short pattern repeated ('abcabc...'), and not
 * the `.env.example` placeholder. 10 distinct is loose enough for any random hex or base64
 * secret (`openssl rand -base64 32`) and catches 'x' * 32 or a keyboard run doubled.
 */
export function weakSessionSecretReason(secret: string | undefined): string | null {
  if (!secret) return 'required when NODE_ENV=production (e.g. `openssl rand -base64 32`)';
  if (secret === EXAMPLE_SESSION_SECRET) return 'is the .env.example placeholder; generate one (e.g. `openssl rand -base64 32`)';
  if (secret.length < 32) return 'must be at least 32 characters in production';
  if (new Set(secret).size < 10) return 'has too little variety (fewer than 10 distinct characters); use a random value';
  if (/^(.{1,16})\1+$/s.test(secret)) return 'is a short pattern repeated; use a random value';
  return null;
}

/** Why a production APP_BASE_URL is refused (mail links are built from it), or null. */
function productionBaseUrlReason(url: string | undefined): string | null {
  if (!url) return 'required when NODE_ENV=production: links in mail are built from it (e.g. https://incidents.example.com)';
  const { protocol, hostname } = new URL(url);
  if (protocol !== 'https:') return 'must be https in production: links in mail carry reset and invite tokens';
  if (hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127\./.test(hostname) || hostname === '0.0.0.0') {
    return 'must be the public address in production, not localhost: links in mail would not reach anyone';
  }
  return null;
}

export type OtlpProtocol = Env['OTEL_EXPORTER_OTLP_PROTOCOL'];

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  database:
    | {
        kind: 'postgres';
        url: string;
        poolMax: number;
        statementTimeoutMs: number;
        connectionTimeoutMs: number;
        preparedStatements: boolean;
        /** DATABASE_READ_HOSTS, each with DATABASE_URL's credentials; null = every read on the primary. */
        readHosts: HostTarget[] | null;
      }
    | { kind: 'pglite'; dataDir: string | null; statementTimeoutMs: number };
  redisUrl: string | null;
  session: { secret: string; idleTimeoutMs: number; absoluteTimeoutMs: number; cookieName: string; secure: boolean };
  appBaseUrl: string;
  mail: { smtpUrl: string | null; from: string };
  dailyWriteQuota: number;
  limits: { loginPerIpPer15Min: number; signupPerIpPerHour: number; forgotPerIpPerHour: number; alertEventsPerMinute: number };
  /** Express's `trust proxy`: hops, or the proxies' addresses/CIDRs, or false (use the socket address). */
  trustProxy: TrustProxy;
  argon2MaxConcurrency: number;
  shutdownTimeoutMs: number;
  /** Whether `main.ts` runs the background workers in-process (WORKERS); `worker.ts` always does. */
  workers: boolean;
  apiDocs: boolean;
  telemetry: { otlpEndpoint: string | null; otlpProtocol: OtlpProtocol; serviceName: string };
  /** Browser origins allowed to call the API with credentials; empty = no CORS headers at all. */
  corsOrigins: string[];
  /** Where the keys that encrypt secrets at rest come from (docs/security.md 51). */
  dataEncryption: DataKeySource;
  /** leaseMs: how long a claimed delivery is its worker's before another may attempt it. */
  webhooks: { allowPrivateNetworks: boolean; httpsOnly: boolean; leaseMs: number };
}

export type TrustProxy = number | string[] | false;

// The address-range names Express's trust proxy (proxy-addr) understands besides addresses and CIDRs.
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * `TRUST_PROXY`: a hop count (`1` = the one proxy in front, as on Render), `false` (the socket's
 * address is the client), or a comma-separated list of the proxies' addresses or CIDRs. Returns
 * null when the value is none of these. `true` (believe any X-Forwarded-For) is refused: a client
 * could then choose its own address.
 */
export function parseTrustProxy(raw: string): TrustProxy | null {
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw) === 0 ? false : Number(raw);
  const entries = raw.split(',').map((e) => e.trim());
  return entries.every((e) => PROXY_RANGE_NAMES.has(e) || isAddressOrCidr(e)) ? entries : null;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment into a typed Config. Throws ConfigError naming every bad or missing
 * variable (never echoing a value, since some are secrets).
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  warn: (message: string) => void = (m) => {
    process.stderr.write(`${m}\n`);
  },
): Config {
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.')}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';
  if (isProduction) {
    if (!e.DATABASE_URL) problems.push('DATABASE_URL: required when NODE_ENV=production');
    if (!e.REDIS_URL) problems.push('REDIS_URL: required when NODE_ENV=production');
    // Without SMTP the log mailer would print reset and invite links, tokens included.
    if (!e.SMTP_URL) problems.push('SMTP_URL: required when NODE_ENV=production');
    const secretProblem = weakSessionSecretReason(e.SESSION_SECRET);
    if (secretProblem) problems.push(`SESSION_SECRET: ${secretProblem}`);
    const baseUrlProblem = productionBaseUrlReason(e.APP_BASE_URL);
    if (baseUrlProblem) problems.push(`APP_BASE_URL: ${baseUrlProblem}`);
  }
  const trustProxy = e.TRUST_PROXY === undefined ? (isProduction ? 1 : false) : parseTrustProxy(e.TRUST_PROXY);
  if (trustProxy === null) {
    problems.push('TRUST_PROXY: expected a hop count, false, or comma-separated proxy addresses/CIDRs');
  }
  const corsOrigins = parseCorsOrigins(e.CORS_ORIGINS, problems);
  let readHosts: HostTarget[] | null = null;
  if (e.DATABASE_READ_HOSTS !== undefined) {
    readHosts = e.DATABASE_URL ? readHostTargets(e.DATABASE_URL, e.DATABASE_READ_HOSTS) : null;
    if (!e.DATABASE_URL) problems.push('DATABASE_READ_HOSTS: needs DATABASE_URL (the embedded database has no standbys)');
    else if (readHosts === null) problems.push('DATABASE_READ_HOSTS: expected host[:port][,host[:port]...]');
  }
  const dataKeys = e.DATA_ENCRYPTION_KEY === undefined ? null : parseDataKeys(e.DATA_ENCRYPTION_KEY);
  if (typeof dataKeys === 'string') problems.push(`DATA_ENCRYPTION_KEY: ${dataKeys}`);
  if (isProduction && dataKeys === null) {
    problems.push('DATA_ENCRYPTION_KEY: required when NODE_ENV=production: it encrypts webhook signing secrets (e.g. `openssl rand -base64 32`)');
  }
  if (e.WORKERS === 'off' && !e.DATABASE_URL) {
    // The embedded database belongs to one process: no worker elsewhere could deliver its mail.
    problems.push('WORKERS: off needs DATABASE_URL (PostgreSQL); with the embedded database this process must run its workers');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  if (isProduction && trustProxy === false) {
    // The server speaks plain HTTP: only a trusted proxy's X-Forwarded-Proto makes a request
    // https, and express-session silently drops the Secure session cookie on any other.
    warn('TRUST_PROXY=false in production: no request counts as https, so the Secure session cookie is never set and browser sign-in silently fails (API keys still work). Trust the TLS proxy in front (a hop count or its addresses).');
  }

  let secret = e.SESSION_SECRET;
  if (!secret) {
    secret = randomBytes(32).toString('base64url');
    if (e.NODE_ENV === 'development') {
      warn('SESSION_SECRET is not set: using a random one; sessions will not survive a restart.');
    }
  }

  const database: Config['database'] = e.DATABASE_URL
    ? {
        kind: 'postgres',
        url: e.DATABASE_URL,
        poolMax: e.DATABASE_POOL_MAX,
        statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
        connectionTimeoutMs: e.DATABASE_CONNECTION_TIMEOUT_MS,
        preparedStatements: e.DATABASE_PREPARED_STATEMENTS,
        readHosts,
      }
    : {
        kind: 'pglite',
        dataDir: e.PGLITE_DATA_DIR ?? (e.NODE_ENV === 'development' ? './.data/pglite' : null),
        statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      };

  return {
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    database,
    redisUrl: e.REDIS_URL ?? null,
    session: {
      secret,
      idleTimeoutMs: e.SESSION_IDLE_TIMEOUT_MINUTES * 60_000,
      absoluteTimeoutMs: e.SESSION_ABSOLUTE_TIMEOUT_HOURS * 3_600_000,
      cookieName: isProduction ? '__Host-sid' : 'sid',
      secure: isProduction,
    },
    appBaseUrl: (e.APP_BASE_URL ?? DEFAULT_APP_BASE_URL).replace(/\/+$/, ''),
    mail: { smtpUrl: e.SMTP_URL ?? null, from: e.MAIL_FROM },
    dailyWriteQuota: e.DAILY_WRITE_QUOTA,
    limits: {
      loginPerIpPer15Min: e.LOGIN_IP_LIMIT_PER_15_MIN,
      signupPerIpPerHour: e.SIGNUP_IP_LIMIT_PER_HOUR,
      forgotPerIpPerHour: e.FORGOT_IP_LIMIT_PER_HOUR,
      alertEventsPerMinute: e.ALERT_EVENTS_PER_MINUTE,
    },
    trustProxy: trustProxy ?? false,
    argon2MaxConcurrency: e.ARGON2_MAX_CONCURRENCY,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    workers: e.WORKERS === 'on',
    apiDocs: e.API_DOCS ?? !isProduction,
    telemetry: { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT ?? null, otlpProtocol: e.OTEL_EXPORTER_OTLP_PROTOCOL, serviceName: e.OTEL_SERVICE_NAME },
    corsOrigins,
    dataEncryption: dataKeySource(typeof dataKeys === 'string' ? null : dataKeys, database, secret),
    // https only in production; plain http is there for local receivers (docs/security.md 50).
    webhooks: { allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS, httpsOnly: isProduction, leaseMs: e.WEBHOOK_LEASE_SECONDS * 1000 },
  };
}

/**
 * The configured keys; outside production without them, a key generated once and kept beside the
 * embedded database on disk, or else one derived from SESSION_SECRET (stable while it is; the test
 * suites set a fixed one). Production never gets here without DATA_ENCRYPTION_KEY.
 */
function dataKeySource(keys: Buffer[] | null, database: Config['database'], sessionSecret: string): DataKeySource {
  if (keys !== null) return { kind: 'configured', keys };
  if (database.kind === 'pglite' && database.dataDir !== null) return { kind: 'file', path: devKeyFileFor(database.dataDir) };
  return { kind: 'derived', sessionSecret };
}

/**
 * CORS_ORIGINS: exact origins, compared byte for byte with the browser's `Origin` header, so each
 * entry must already be in the form a browser sends (lower-case scheme and host, no default port,
 * no path, not even a trailing slash). Origins are public, so the message may show the entry.
 */
function parseCorsOrigins(value: string | undefined, problems: string[]): string[] {
  if (value === undefined) return [];
  const origins = value.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const origin of origins) {
    let serialised: string | null = null;
    try {
      const url = new URL(origin);
      if (url.protocol === 'http:' || url.protocol === 'https:') serialised = url.origin;
    } catch {
      // Not a URL at all: reported below like any other malformed entry.
    }
    if (serialised !== origin) {
      problems.push(`CORS_ORIGINS: "${origin}" is not an origin; write scheme://host[:port] with no path${serialised ? `, here ${serialised}` : ''}`);
    }
  }
  return origins;
}
