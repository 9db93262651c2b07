import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, () => undefined);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('names every invalid variable without echoing its value', () => {
    const problems = problemsOf({ PORT: 'eighty', DATABASE_URL: 'mysql://secret-host/db', DAILY_WRITE_QUOTA: '-3' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DAILY_WRITE_QUOTA', 'DATABASE_URL', 'PORT']);
    expect(problems.join('\n')).not.toContain('secret-host');
  });

  it('requires DATABASE_URL, REDIS_URL, SMTP_URL and a 32+ character SESSION_SECRET in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production', SESSION_SECRET: 'short' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DATABASE_URL', 'REDIS_URL', 'SESSION_SECRET', 'SMTP_URL']);
  });

  it('starts in production with every required variable, with the __Host- cookie and Secure', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://u@db/app',
      REDIS_URL: 'redis://cache:6379',
      SMTP_URL: 'smtp://mail:587',
      SESSION_SECRET: 'x'.repeat(32),
    });
    expect(config.session.cookieName).toBe('__Host-sid');
    expect(config.session.secure).toBe(true);
    expect(config.apiDocs).toBe(false);
  });

  it('uses prepared statements on PostgreSQL unless DATABASE_PREPARED_STATEMENTS=false (PgBouncer before 1.21)', () => {
    const base = { DATABASE_URL: 'postgres://u@db/app' };
    expect(loadConfig(base, () => undefined).database).toMatchObject({ kind: 'postgres', preparedStatements: true });
    expect(loadConfig({ ...base, DATABASE_PREPARED_STATEMENTS: 'false' }, () => undefined).database).toMatchObject({ preparedStatements: false });
    expect(problemsOf({ ...base, DATABASE_PREPARED_STATEMENTS: 'sometimes' })).toEqual([expect.stringMatching(/^DATABASE_PREPARED_STATEMENTS:/)]);
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
