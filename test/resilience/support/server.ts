import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { send } from './http.js';
import { recordLogSource, recordSecret } from './secrets.js';
import { Child, freePort, type Cleanup, type Exit } from './processes.js';
import { GiveUp, HOST, REPO_ROOT, waitFor } from './env.js';

/**
 * The command `pnpm start` runs, read from package.json each time so the suite launches the built
 * server exactly as production does (including any `--import` preload such as telemetry).
 */
export function startCommand(name = 'start'): { command: string; args: string[] } {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const script = pkg.scripts?.[name];
  if (!script) throw new Error(`package.json has no ${name} script`);
  const words = script.trim().split(/\s+/);
  if (words[0] !== 'node' || words.some((w) => /["'$`;&|<>]/.test(w))) {
    throw new Error(`the start script must be a plain "node ..." command to be launched here; it is: ${script}`);
  }
  return { command: process.execPath, args: words.slice(1) };
}

export interface ServerOptions {
  databaseUrl: string;
  redisUrl: string;
  smtpUrl: string;
  env?: Record<string, string>;
}

/**
 * One data-encryption key for every process of a run, as a deployment shares it: what an API
 * process seals (webhook signing secrets), a worker process must open.
 */
const DATA_ENCRYPTION_KEY = randomBytes(32).toString('base64');
recordSecret('DATA_ENCRYPTION_KEY', DATA_ENCRYPTION_KEY);

/** The production environment of a server or worker process of the suite. */
function productionEnv(opts: ServerOptions, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    HOST,
    LOG_LEVEL: 'info',
    DATABASE_URL: opts.databaseUrl,
    REDIS_URL: opts.redisUrl,
    SMTP_URL: opts.smtpUrl,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    DATA_ENCRYPTION_KEY,
    APP_BASE_URL: 'https://app.resilience.test',
    // Scenarios sign up many users from 127.0.0.1; the per-IP limits have their own tests.
    SIGNUP_IP_LIMIT_PER_HOUR: '1000000',
    LOGIN_IP_LIMIT_PER_15_MIN: '1000000',
    FORGOT_IP_LIMIT_PER_HOUR: '1000000',
    ...extra,
    ...opts.env,
  };
  recordSecret('SESSION_SECRET', env.SESSION_SECRET);
  return env;
}

/** `pnpm worker` as a child process: the background work only, no HTTP. */
export async function startWorker(cleanup: Cleanup, opts: ServerOptions): Promise<Child> {
  const { command, args } = startCommand('worker');
  const child = new Child('worker', command, args, { cwd: REPO_ROOT, env: productionEnv(opts, {}) });
  recordLogSource(`worker ${String(child.pid)}`, () => child.lines.join('\n'));
  cleanup.add(`worker ${String(child.pid)}`, () => child.stop(5000));
  await waitFor(
    'the worker to start',
    () => {
      if (!child.running) throw new GiveUp('worker exited before starting');
      return Promise.resolve(child.lines.some((l) => l.includes('"msg":"workers started"')) ? true : undefined);
    },
    20_000,
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${child.tail()}`);
  });
  return child;
}

interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

/** The built server as a child process, production configuration, on a free port of 127.0.0.1. */
export class ServerProcess {
  private constructor(
    readonly child: Child,
    readonly port: number,
  ) {}

  static async start(cleanup: Cleanup, opts: ServerOptions): Promise<ServerProcess> {
    const port = await freePort();
    const { command, args } = startCommand();
    const env = productionEnv(opts, { PORT: String(port) });
    const child = new Child('server', command, args, { cwd: REPO_ROOT, env });
    recordLogSource(`server on ${port}`, () => child.lines.join('\n'));
    const server = new ServerProcess(child, port);
    cleanup.add(`server on ${port}`, () => child.stop(5000));
    await waitFor(
      `the server to listen on ${port}`,
      async () => {
        if (!child.running) throw new GiveUp('server exited before listening');
        if (!server.logs().some((l) => l.msg === 'listening')) return undefined;
        // Listening comes before Redis has connected; like a load balancer, wait for /health.
        return (await send(server.baseUrl, 'GET', '/health', { timeoutMs: 2000 })).status === 200 ? true : undefined;
      },
      20_000,
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${child.tail()}`);
    });
    return server;
  }

  get baseUrl(): string {
    return `http://${HOST}:${this.port}`;
  }

  get running(): boolean {
    return this.child.running;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exited(): Promise<Exit> {
    return this.child.exited;
  }

  /** Structured log lines (pino JSON); anything else the process printed is kept as `msg`. */
  logs(): LogLine[] {
    return this.child.lines.map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        return { msg: line };
      }
    });
  }

  /** Every line of output, raw, for searching for leaked internals. */
  output(): string {
    return this.child.lines.join('\n');
  }
}
