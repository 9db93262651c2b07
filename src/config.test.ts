import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ConfigError, EXAMPLE_SESSION_SECRET, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, () => undefined);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

/** A complete, acceptable production environment. */
const PRODUCTION: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://u@db/app',
  REDIS_URL: 'redis://cache:6379',
  SMTP_URL: 'smtp://mail:587',
  SESSION_SECRET: randomBytes(32).toString('base64url'),
  APP_BASE_URL: 'https://incidents.example.com/',
  DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};

describe('loadConfig', () => {
  it('names every invalid variable without echoing its value', () => {
    const problems = problemsOf({ PORT: 'eighty', DATABASE_URL: 'mysql://secret-host/db', DAILY_WRITE_QUOTA: '-3' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DAILY_WRITE_QUOTA', 'DATABASE_URL', 'PORT']);
    expect(problems.join('\n')).not.toContain('secret-host');
  });

  it('requires DATABASE_URL, REDIS_URL, SMTP_URL, APP_BASE_URL, DATA_ENCRYPTION_KEY and a 32+ character SESSION_SECRET in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production', SESSION_SECRET: 'short' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['APP_BASE_URL', 'DATABASE_URL', 'DATA_ENCRYPTION_KEY', 'REDIS_URL', 'SESSION_SECRET', 'SMTP_URL']);
  });

  it('when DATA_ENCRYPTION_KEY is not base64 of 32 bytes, then start-up refuses without echoing it; several keys are a keyring, the first encrypting', () => {
    const short = randomBytes(16).toString('base64');
    expect(problemsOf({ ...PRODUCTION, DATA_ENCRYPTION_KEY: short })).toEqual([expect.stringMatching(/^DATA_ENCRYPTION_KEY: key 1 decodes to 16 bytes/)]);
    expect(problemsOf({ ...PRODUCTION, DATA_ENCRYPTION_KEY: 'not*base64' }).join()).not.toContain('not*base64');
    const [a, b] = [randomBytes(32), randomBytes(32)];
    const source = loadConfig({ ...PRODUCTION, DATA_ENCRYPTION_KEY: `${a.toString('base64')}, ${b.toString('base64')}` }).dataEncryption;
    expect(source).toEqual({ kind: 'configured', keys: [a, b] });
  });

  it('when DATA_ENCRYPTION_KEY is unset outside production, then a key file beside the embedded database, or one derived from SESSION_SECRET', () => {
    expect(loadConfig({ NODE_ENV: 'development', PGLITE_DATA_DIR: '/tmp/x/pglite' }, () => undefined).dataEncryption).toEqual({ kind: 'file', path: '/tmp/x/data-encryption.key' });
    expect(loadConfig({ NODE_ENV: 'test', SESSION_SECRET: 's'.repeat(40) }).dataEncryption).toEqual({ kind: 'derived', sessionSecret: 's'.repeat(40) });
  });

  it('starts in production with every required variable, with the __Host- cookie and Secure', () => {
    const config = loadConfig(PRODUCTION);
    expect(config.session.cookieName).toBe('__Host-sid');
    expect(config.session.secure).toBe(true);
    expect(config.apiDocs).toBe(false);
    expect(config.appBaseUrl).toBe('https://incidents.example.com');
  });

  describe('when NODE_ENV=production, then start-up refuses, naming the variable and why', () => {
    it.each([
      ['the .env.example placeholder', EXAMPLE_SESSION_SECRET, /\.env\.example placeholder/],
      ['one character repeated', 'x'.repeat(40), /too little variety/],
      ['fewer than 10 distinct characters', 'abcdefghi'.repeat(3) + 'abcdefghi', /too little variety/],
      ['a short pattern repeated', '0123456789abcdef'.repeat(3), /pattern repeated/],
      ['fewer than 32 characters', randomBytes(12).toString('base64url'), /at least 32 characters/],
    ])('a SESSION_SECRET that is %s', (_label, secret, why) => {
      const problems = problemsOf({ ...PRODUCTION, SESSION_SECRET: secret });
      expect(problems).toEqual([expect.stringMatching(/^SESSION_SECRET: /)]);
      expect(problems[0]).toMatch(why);
      // The refusal never echoes the secret itself.
      expect(problems[0]).not.toContain(secret);
    });

    it.each([
      ['unset', undefined, /required when NODE_ENV=production: links in mail/],
      ['http', 'http://incidents.example.com', /must be https/],
      ['localhost', 'https://localhost:3000', /not localhost/],
      ['a loopback address', 'https://127.0.0.1', /not localhost/],
    ])('an APP_BASE_URL that is %s', (_label, url, why) => {
      const env: Record<string, string> = { ...PRODUCTION };
      if (url === undefined) delete env.APP_BASE_URL;
      else env.APP_BASE_URL = url;
      const problems = problemsOf(env);
      expect(problems).toEqual([expect.stringMatching(/^APP_BASE_URL: /)]);
      expect(problems[0]).toMatch(why);
    });

    it('accepts random secrets as `openssl rand -base64 32` and `openssl rand -hex 32` make them', () => {
      for (let i = 0; i < 200; i += 1) {
        expect(problemsOf({ ...PRODUCTION, SESSION_SECRET: randomBytes(32).toString('base64') })).toEqual([]);
        expect(problemsOf({ ...PRODUCTION, SESSION_SECRET: randomBytes(32).toString('hex') })).toEqual([]);
      }
    });
  });

  it('outside production, APP_BASE_URL defaults to http://localhost:3000 and the placeholder secret is accepted', () => {
    const config = loadConfig({ SESSION_SECRET: EXAMPLE_SESSION_SECRET }, () => undefined);
    expect(config.appBaseUrl).toBe('http://localhost:3000');
    expect(config.session.secret).toBe(EXAMPLE_SESSION_SECRET);
  });

  it('accepts a libpq-style list of hosts in DATABASE_URL (high availability) and refuses a malformed one without echoing it', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u:pw@db1:5432,db2:5433/app' }, () => undefined);
    expect(config.database).toMatchObject({ kind: 'postgres', url: 'postgres://u:pw@db1:5432,db2:5433/app' });
    const problems = problemsOf({ DATABASE_URL: 'postgres://u:hunter2@db1,,db2/app' });
    expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL:/)]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('reads from no standby unless DATABASE_READ_HOSTS lists them, each with DATABASE_URL credentials, database and options', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db/app' }, () => undefined).database).toMatchObject({ readHosts: null });
    const config = loadConfig({ DATABASE_URL: 'postgres://u:pw@db1:5432,db2/app?sslmode=require', DATABASE_READ_HOSTS: 'db2,[::1]:6000' }, () => undefined);
    expect(config.database.kind === 'postgres' ? config.database.readHosts?.map((h) => h.url) : null).toEqual([
      'postgres://u:pw@db2:5432/app?sslmode=require',
      'postgres://u:pw@[::1]:6000/app?sslmode=require',
    ]);
    expect(problemsOf({ DATABASE_READ_HOSTS: 'db2' })).toEqual([expect.stringMatching(/^DATABASE_READ_HOSTS: needs DATABASE_URL/)]);
    const problems = problemsOf({ DATABASE_URL: 'postgres://u:hunter2@db/app', DATABASE_READ_HOSTS: 'db2,,db3' });
    expect(problems).toEqual([expect.stringMatching(/^DATABASE_READ_HOSTS: expected/)]);
    expect(problemsOf({ DATABASE_URL: 'postgres://u@db/app', DATABASE_READ_HOSTS: 'x@db2/other' })).toEqual([expect.stringMatching(/^DATABASE_READ_HOSTS:/)]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('uses prepared statements on PostgreSQL unless DATABASE_PREPARED_STATEMENTS=false (PgBouncer before 1.21)', () => {
    const base = { DATABASE_URL: 'postgres://u@db/app' };
    expect(loadConfig(base, () => undefined).database).toMatchObject({ kind: 'postgres', preparedStatements: true });
    expect(loadConfig({ ...base, DATABASE_PREPARED_STATEMENTS: 'false' }, () => undefined).database).toMatchObject({ preparedStatements: false });
    expect(problemsOf({ ...base, DATABASE_PREPARED_STATEMENTS: 'sometimes' })).toEqual([expect.stringMatching(/^DATABASE_PREPARED_STATEMENTS:/)]);
  });

  it('runs the workers in-process unless WORKERS=off, which needs PostgreSQL (the embedded database has one process)', () => {
    const base = { DATABASE_URL: 'postgres://u@db/app' };
    expect(loadConfig(base, () => undefined).workers).toBe(true);
    expect(loadConfig({ ...base, WORKERS: 'off' }, () => undefined).workers).toBe(false);
    expect(problemsOf({ WORKERS: 'off' })).toEqual([expect.stringMatching(/^WORKERS: off needs DATABASE_URL/)]);
    expect(problemsOf({ ...base, WORKERS: 'no' })).toEqual([expect.stringMatching(/^WORKERS:/)]);
  });

  it('exports OTLP as protobuf unless OTEL_EXPORTER_OTLP_PROTOCOL=http/json, and refuses other protocols', () => {
    expect(loadConfig({}, () => undefined).telemetry.otlpProtocol).toBe('http/protobuf');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, () => undefined).telemetry.otlpProtocol).toBe('http/json');
    expect(problemsOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual([expect.stringMatching(/^OTEL_EXPORTER_OTLP_PROTOCOL:/)]);
  });

  it('defaults to the embedded database with a random session secret and a warning in development', () => {
    const warnings: string[] = [];
    const config = loadConfig({}, (m) => warnings.push(m));
    expect(config.database.kind).toBe('pglite');
    expect(config.database).toMatchObject({ dataDir: './.data/pglite' });
    expect(config.session.secret.length).toBeGreaterThanOrEqual(32);
    expect(warnings.join()).toContain('SESSION_SECRET');
    expect(config.port).toBe(3000);
    expect(config.dailyWriteQuota).toBe(1000);
  });

  it('refuses a per-IP login limit below the floor of 100 per 15 minutes', () => {
    expect(problemsOf({ LOGIN_IP_LIMIT_PER_15_MIN: '5' })[0]).toMatch(/^LOGIN_IP_LIMIT_PER_15_MIN/);
  });

  it('leases a webhook delivery for 60 s unless WEBHOOK_LEASE_SECONDS says otherwise, never for less than 15 s (the 10 s request cap must fit)', () => {
    expect(loadConfig(PRODUCTION).webhooks.leaseMs).toBe(60_000);
    expect(loadConfig({ ...PRODUCTION, WEBHOOK_LEASE_SECONDS: '15' }).webhooks.leaseMs).toBe(15_000);
    expect(problemsOf({ WEBHOOK_LEASE_SECONDS: '10' })[0]).toMatch(/^WEBHOOK_LEASE_SECONDS/);
  });

  it('trusts one proxy hop in production and none elsewhere unless TRUST_PROXY says otherwise (a hop count, false, or addresses/CIDRs)', () => {
    expect(loadConfig(PRODUCTION).trustProxy).toBe(1);
    expect(loadConfig({ ...PRODUCTION, TRUST_PROXY: 'false' }, () => undefined).trustProxy).toBe(false);
    expect(loadConfig({}, () => undefined).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '2' }, () => undefined).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '0' }, () => undefined).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,fd00::/8,loopback' }, () => undefined).trustProxy).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', 'loopback']);
    for (const bad of ['true', '10.0.0.0/33', 'proxy.internal', '10.0.0.1,', '-1', '::1/129']) {
      expect(problemsOf({ TRUST_PROXY: bad }), bad).toEqual([expect.stringMatching(/^TRUST_PROXY:/)]);
    }
  });

  it('warns when production trusts no proxy: the Secure session cookie would never be set', () => {
    const warnings: string[] = [];
    expect(loadConfig({ ...PRODUCTION, TRUST_PROXY: 'false' }, (m) => warnings.push(m)).trustProxy).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^TRUST_PROXY=false in production: .*Secure session cookie is never set/)]);
    for (const trustProxy of ['1', '10.0.0.0/8']) {
      const none: string[] = [];
      loadConfig({ ...PRODUCTION, TRUST_PROXY: trustProxy }, (m) => none.push(m));
      expect(none, trustProxy).toEqual([]);
    }
  });

  it('allows no cross-origin browser by default, and reads CORS_ORIGINS as a comma-separated list of exact origins', () => {
    expect(loadConfig({}, () => undefined).corsOrigins).toEqual([]);
    const config = loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }, () => undefined);
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  it.each([
    ['a path', 'https://app.example.com/ui'],
    ['a trailing slash', 'https://app.example.com/'],
    ['a default port', 'https://app.example.com:443'],
    ['upper case', 'https://App.example.com'],
    ['no scheme', 'app.example.com'],
    ['another scheme', 'ftp://app.example.com'],
    ['a wildcard', '*'],
  ])('refuses a CORS_ORIGINS entry with %s, showing the entry', (_what, entry) => {
    const problems = problemsOf({ CORS_ORIGINS: `http://localhost:5173,${entry}` });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CORS_ORIGINS: /);
    expect(problems[0]).toContain(`"${entry}"`);
  });
});
