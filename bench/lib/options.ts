import { loadConfig } from '../../src/config.js';

export const SCENARIO_IDS = ['P1', 'P2', 'P3', 'P4', 'P4d', 'P5', 'P6', 'P7', 'P8', 'P9', 'P10', 'P11', 'P12', 'P13', 'P14', 'P15'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Interleaved rounds per scenario (A B A B ...). */
  rounds: number;
  roundSeconds: number;
  warmupSeconds: number;
  /** The fixed-rate latency pass, per variant. */
  fixedRateSeconds: number;
  /** Fraction of the slower variant's max req/s used for the fixed-rate pass. */
  fixedRateFraction: number;
  connections: number;
  /** Connections of the login flood (P7, P8); enough to keep the Argon2id queue full. */
  floodConnections: number;
  /** Tenants the P4 writers spread over, one per connection (1 = every writer on one tenant). */
  writeTenants: number;
  only: Set<ScenarioId> | null;
  /** Start the app with --cpu-prof; profiles land in bench/results/profiles/. */
  profile: boolean;
  /** Keep the seeded database of an earlier run (API keys are re-issued). */
  reuseDb: boolean;
  appRuntime: 'dist' | 'tsx';
  /** Extra environment for the app processes (`--app-env=KEY=VALUE`, repeatable): for before/after experiments. */
  appEnv: Record<string, string>;
  /** Extra node flags for the app processes (`--app-node-flags="--max-semi-space-size=8"`). */
  appNodeFlags: string[];
  adminDatabaseUrl: string;
  redisUrl: string;
  poolMax: number;
  /** The whole run is aborted (children stopped) after this long. */
  deadlineMinutes: number;
}

const USAGE = `usage: pnpm bench [--quick] [--rounds=N] [--duration=S] [--warmup=S] [--fixed-duration=S]
                  [--connections=N] [--flood-connections=N] [--write-tenants=N] [--only=P1,P4]
                  [--profile] [--reuse-db] [--app=dist|tsx] [--deadline-minutes=N]
                  [--app-env=KEY=VALUE ...] [--app-node-flags="--flag ..."]
env: DATABASE_URL (admin, default postgres://postgres@127.0.0.1:5432/postgres),
     REDIS_URL (default redis://127.0.0.1:6379), DATABASE_POOL_MAX (default: the app's default)`;

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number\n${USAGE}`);
  return n;
}

/** The app's own default pool size, so the baselines never drift from it. */
function appDefaultPoolMax(): number {
  const config = loadConfig({ DATABASE_URL: 'postgres://bench@127.0.0.1:5432/bench' }, () => undefined);
  if (config.database.kind !== 'postgres') throw new Error('expected a postgres config');
  return config.database.poolMax;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  const appEnv: Record<string, string> = {};
  for (const arg of argv) {
    if (arg === '--') continue;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!m?.[1]) throw new Error(`unknown argument ${arg}\n${USAGE}`);
    if (m[1] === 'app-env') {
      const kv = /^([A-Z][A-Z0-9_]*)=(.*)$/s.exec(m[2] ?? '');
      if (!kv?.[1]) throw new Error(`--app-env takes KEY=VALUE\n${USAGE}`);
      appEnv[kv[1]] = kv[2] ?? '';
      continue;
    }
    flags.set(m[1], m[2] ?? 'true');
  }
  const known = new Set(['quick', 'rounds', 'duration', 'warmup', 'fixed-duration', 'connections', 'flood-connections', 'write-tenants', 'only', 'profile', 'reuse-db', 'app', 'deadline-minutes', 'app-node-flags', 'help']);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown flag --${k}\n${USAGE}`);
  if (flags.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = flags.has('quick');
  const num = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    return raw === undefined ? fallback : positive(name, raw);
  };
  let only: Set<ScenarioId> | null = null;
  const onlyRaw = flags.get('only');
  if (onlyRaw !== undefined) {
    only = new Set();
    for (const raw of onlyRaw.split(',').map((s) => s.trim())) {
      const id = SCENARIO_IDS.find((s) => s.toUpperCase() === raw.toUpperCase());
      if (id === undefined) throw new Error(`--only: unknown scenario ${raw}`);
      only.add(id);
    }
  }
  const app = flags.get('app') ?? 'dist';
  if (app !== 'dist' && app !== 'tsx') throw new Error(`--app must be dist or tsx\n${USAGE}`);
  const poolRaw = env.DATABASE_POOL_MAX;
  const roundSeconds = num('duration', quick ? 3 : 10);
  return {
    quick,
    rounds: Math.round(num('rounds', quick ? 1 : 3)),
    roundSeconds,
    warmupSeconds: num('warmup', quick ? 1 : 3),
    fixedRateSeconds: num('fixed-duration', roundSeconds),
    fixedRateFraction: 0.7,
    connections: Math.round(num('connections', 16)),
    floodConnections: Math.round(num('flood-connections', 8)),
    writeTenants: Math.round(num('write-tenants', 16)),
    only,
    profile: flags.has('profile'),
    reuseDb: flags.has('reuse-db'),
    appRuntime: app,
    appEnv,
    appNodeFlags: (flags.get('app-node-flags') ?? '').split(/\s+/).filter(Boolean),
    adminDatabaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    poolMax: poolRaw ? Math.round(positive('DATABASE_POOL_MAX', poolRaw)) : appDefaultPoolMax(),
    deadlineMinutes: num('deadline-minutes', quick ? 15 : 45),
  };
}
