import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { freePort, startChild, type Child } from './children.js';
import type { BenchOptions } from './options.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
export const LOG_DIR = path.join(RESULTS_DIR, 'logs');
export const PROFILE_DIR = path.join(RESULTS_DIR, 'profiles');

/** A minimal environment: nothing from the caller's shell (no OTEL_*, NODE_OPTIONS) leaks in. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

function newestMtime(dir: string, filter: (file: string) => boolean): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full, filter));
    else if (filter(full)) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * `pnpm build` (tsc -p tsconfig.build.json) when dist/ is missing or older than src/. Type
 * errors from work in progress elsewhere do not stop the emit; they are reported, and the run
 * goes on if dist/src/main.js was written.
 */
export function ensureBuilt(log: (line: string) => void): { rebuilt: boolean; warnings: string | null } {
  const main = path.join(ROOT, 'dist', 'src', 'main.js');
  const srcNewest = newestMtime(path.join(ROOT, 'src'), (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  if (existsSync(main) && statSync(main).mtimeMs >= srcNewest) {
    const distNewest = newestMtime(path.join(ROOT, 'dist', 'src'), (f) => f.endsWith('.js'));
    if (distNewest >= srcNewest) return { rebuilt: false, warnings: null };
  }
  log('dist/ is older than src/: building (pnpm build)');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const res = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  if (!existsSync(main)) throw new Error(`build produced no dist/src/main.js:\n${res.stdout}${res.stderr}`);
  if (res.status !== 0) {
    const lines = `${res.stdout}${res.stderr}`.trim().split('\n');
    log(`build finished with ${lines.length} lines of type errors (emitted anyway); first: ${lines[0] ?? ''}`);
    return { rebuilt: true, warnings: lines.slice(0, 20).join('\n') };
  }
  return { rebuilt: true, warnings: null };
}

/**
 * The app's node flags as `pnpm start` runs it (e.g. an `--import` of the telemetry module), so
 * the bench starts it the way production does.
 */
function startFlags(runtime: 'dist' | 'tsx'): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const tokens = (pkg.scripts?.start ?? 'node dist/src/main.js').split(/\s+/).filter(Boolean);
  const flags = tokens.slice(tokens.indexOf('node') + 1).filter((t) => !/main\.js$/.test(t));
  return runtime === 'dist' ? flags : flags.map((t) => t.replace(/^(\.\/)?dist\/(src\/.*)\.js$/, '$2.ts'));
}

export function telemetryAvailable(): boolean {
  return existsSync(path.join(ROOT, 'src', 'telemetry.ts'));
}

export interface AppProcess extends Child {
  command: string;
}

export async function startApp(
  opts: BenchOptions,
  name: string,
  databaseUrl: string,
  extra: { otlpEndpoint?: string; profile?: boolean; env?: Record<string, string> } = {},
): Promise<AppProcess> {
  const port = await freePort();
  const env: Record<string, string> = {
    ...baseEnv(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: String(opts.poolMax),
    REDIS_URL: opts.redisUrl,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    // Required in production (https, not localhost); no bench scenario follows a mailed link.
    APP_BASE_URL: 'https://bench.invalid',
    LOG_LEVEL: 'warn',
    // Required in production; no bench scenario sends mail, so nothing needs to listen there.
    SMTP_URL: `smtp://127.0.0.1:${await freePort()}`,
    // Required in production (webhook signing secrets are sealed with it).
    DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // P14 measures ingestion, not the per-source throttle (1,200 a minute by default).
    ALERT_EVENTS_PER_MINUTE: '100000000',
  };
  Object.assign(env, extra.env, opts.appEnv);
  if (extra.otlpEndpoint) env.OTEL_EXPORTER_OTLP_ENDPOINT = extra.otlpEndpoint;
  const args = [...opts.appNodeFlags, ...startFlags(opts.appRuntime)];
  if (extra.profile) args.unshift('--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`);
  if (opts.appRuntime === 'tsx') args.unshift('--import', 'tsx');
  args.push(opts.appRuntime === 'dist' ? 'dist/src/main.js' : 'src/main.ts');
  const child = await startChild({ name, args, env, port, logDir: LOG_DIR, cwd: ROOT, healthPath: '/health' });
  // The same object the child registry holds, so stopChild() finds it.
  return Object.assign(child, { command: `node ${args.join(' ')}` });
}

export type BaselineName = 'b0' | 'b1' | 'b4' | 'b-update' | 'b-alert' | 'b-analytics';

export async function startBaseline(opts: BenchOptions, name: BaselineName, databaseUrl: string): Promise<Child> {
  const port = await freePort();
  const env: Record<string, string> = { ...baseEnv(), PORT: String(port), DATABASE_URL: databaseUrl, DATABASE_POOL_MAX: String(opts.poolMax) };
  // B4 runs the app's own database layer, so it takes the app's settings (--app-env) too.
  if (name === 'b4') Object.assign(env, opts.appEnv);
  return startChild({
    name,
    args: ['--import', 'tsx', `bench/baselines/${name}.ts`],
    env,
    port,
    logDir: LOG_DIR,
    cwd: ROOT,
    healthPath: '/health',
  });
}
