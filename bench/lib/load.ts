import autocannon from 'autocannon';
import type { CpuPerRequest } from './cpu.js';

/**
 * One autocannon run. Throughput counts only 2xx answers (an error path that answers fast must
 * never look like speed). Latencies are recorded here from every 2xx response in full
 * precision (autocannon's own histogram has 1 ms buckets, too coarse for 1-3 ms requests).
 */
export interface LoadFigures {
  reqPerSec: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
  latencyMs: { p50: number; p97_5: number; p99: number; mean: number; max: number };
  statusCodes: Record<string, number>;
  /** Set for fixed-rate passes. */
  targetRate?: number;
  /** CPU ms per answered request (see cpu.ts), when measured. */
  cpu?: CpuPerRequest | null;
}

export interface LoadSpec {
  port: number;
  connections: number;
  durationSec: number;
  /** The requests of connection `conn` (0-based): each connection loops over its own list. */
  requests: (conn: number) => autocannon.Request[];
  /** Fixed-rate pass: total requests per second over all connections. */
  overallRate?: number;
}

const running = new Set<autocannon.Instance>();

/** Stops every load instance in flight (cleanup on error or SIGINT). */
export function stopAllLoad(): void {
  for (const inst of running) inst.stop();
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] ?? Number.NaN;
}

export interface RunningLoad {
  done: Promise<LoadFigures>;
  stop(): void;
}

export function startLoad(spec: LoadSpec): RunningLoad {
  let nextConn = 0;
  const latencies: number[] = [];
  const opts: autocannon.Options = {
    url: `http://127.0.0.1:${spec.port}`,
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationSec,
    timeout: 10,
    setupClient: (client) => {
      client.setRequests(spec.requests(nextConn++));
    },
  };
  if (spec.overallRate !== undefined) {
    opts.overallRate = Math.max(spec.connections, Math.round(spec.overallRate));
    // autocannon's correction assumes a 1 ms interval whatever the rate, which invents
    // latencies; the numbers recorded are the measured ones.
    opts.ignoreCoordinatedOmission = true;
  }
  let settle: (result: autocannon.Result | Error) => void = () => undefined;
  const settled = new Promise<autocannon.Result | Error>((resolve) => {
    settle = resolve;
  });
  const instance = autocannon(opts, (err: unknown, result: autocannon.Result) => {
    settle(err instanceof Error ? err : err ? new Error('autocannon failed') : result);
  });
  running.add(instance);
  instance.on('response', (_client: autocannon.Client, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const done = settled.then((result) => {
    running.delete(instance);
    if (result instanceof Error) throw result;
    const sorted = Float64Array.from(latencies).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    const statusCodes: Record<string, number> = {};
    for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
    const ok = result['2xx'];
    const durationSec = result.duration > 0 ? result.duration : spec.durationSec;
    const figures: LoadFigures = {
      reqPerSec: ok / durationSec,
      ok,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      durationSec,
      latencyMs: {
        p50: percentile(sorted, 50),
        p97_5: percentile(sorted, 97.5),
        p99: percentile(sorted, 99),
        mean: sorted.length ? sum / sorted.length : Number.NaN,
        max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
      },
      statusCodes,
    };
    if (opts.overallRate !== undefined) figures.targetRate = opts.overallRate;
    return figures;
  });
  return {
    done,
    stop: () => {
      instance.stop();
    },
  };
}

export function runLoad(spec: LoadSpec): Promise<LoadFigures> {
  return startLoad(spec).done;
}
