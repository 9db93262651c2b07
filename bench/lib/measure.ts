import type autocannon from 'autocannon';
import { peakRssMb } from './children.js';
import { perRequest, snapshot } from './cpu.js';
import { runLoad, type LoadFigures, type LoadSpec } from './load.js';
import type { BenchOptions } from './options.js';
import { median } from './stats.js';

/** One variant of a scenario: a process and the requests its connections send. */
export interface VariantDef {
  key: string;
  name: string;
  port: number;
  requests: (conn: number) => autocannon.Request[];
  /** The process whose peak RSS is reported (the app variants). */
  pid?: number;
  /** Rows a list answer must hold (checked once before measuring). */
  expectRows?: number;
}

export interface VariantResult {
  key: string;
  name: string;
  rounds: LoadFigures[];
  medianReqPerSec: number;
  fixedRate?: LoadFigures;
  peakRssMb?: number | null;
}

export class ProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProbeError';
  }
}

export type Log = (line: string) => void;

/** The harness's output: one line to stdout. */
export const log: Log = (line) => {
  process.stdout.write(`${line}\n`);
};

/** Sends a variant's first request once with fetch and checks that it succeeds. */
export async function probe(v: VariantDef): Promise<void> {
  const first = v.requests(0)[0];
  if (!first) throw new ProbeError(`${v.name}: no request`);
  let req: autocannon.Request = { method: first.method ?? 'GET', path: first.path ?? '/', headers: first.headers ?? {}, body: first.body ?? '' };
  if (typeof first.setupRequest === 'function') req = first.setupRequest(req, {});
  const headers: Record<string, string> = {};
  for (const [k, value] of Object.entries(req.headers ?? {})) if (typeof value === 'string') headers[k] = value;
  const init: RequestInit = { method: req.method ?? 'GET', headers, signal: AbortSignal.timeout(10_000) };
  if (req.body !== undefined && req.body !== '' && req.method !== 'GET') init.body = typeof req.body === 'string' ? req.body : new Uint8Array(req.body);
  const res = await fetch(`http://127.0.0.1:${v.port}${req.path ?? '/'}`, init);
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) {
    let code = '';
    try {
      const parsed = JSON.parse(text) as { error?: { code?: unknown } };
      code = typeof parsed.error?.code === 'string' ? ` ${parsed.error.code}` : '';
    } catch {
      // not JSON
    }
    throw new ProbeError(`${v.name}: ${req.method ?? 'GET'} ${(req.path ?? '/').split('?')[0] ?? ''} answered ${res.status}${code}`);
  }
  if (v.expectRows !== undefined) {
    const rows = (JSON.parse(text) as { data?: unknown[] }).data?.length;
    if (rows !== v.expectRows) throw new ProbeError(`${v.name}: expected ${v.expectRows} rows, got ${String(rows)}`);
  }
}

function describe(f: LoadFigures): string {
  const bad = f.non2xx + f.errors > 0 ? ` (non-2xx ${f.non2xx}, errors ${f.errors})` : '';
  const cpu = f.cpu ? `; CPU ms/req: process ${f.cpu.variantMs?.toFixed(2) ?? '?'}, db ${f.cpu.dbMs.toFixed(2)}, load gen ${f.cpu.loadGenMs.toFixed(2)}` : '';
  return `${f.reqPerSec.toFixed(0)} req/s, p50 ${f.latencyMs.p50.toFixed(2)} ms, p99 ${f.latencyMs.p99.toFixed(2)} ms${bad}${cpu}`;
}

export function loadSpec(opts: BenchOptions, v: VariantDef, durationSec: number, overallRate?: number) {
  return {
    port: v.port,
    connections: opts.connections,
    durationSec,
    requests: v.requests,
    ...(overallRate === undefined ? {} : { overallRate }),
  };
}

/** A load run with the CPU spent per request by the variant's process, the database and the harness. */
export async function runMeasured(spec: LoadSpec, pid: number | undefined): Promise<LoadFigures> {
  const before = snapshot(pid);
  const f = await runLoad(spec);
  f.cpu = perRequest(before, snapshot(pid), f.ok);
  return f;
}

/**
 * Warm-up, then `rounds` interleaved rounds (A B A B ...), then a fixed-rate pass of every
 * variant at `fixedRateFraction` of the slowest variant's median maximum.
 */
export async function measureVariants(
  opts: BenchOptions,
  label: string,
  variants: VariantDef[],
  log: Log,
  fixedRate = true,
): Promise<VariantResult[]> {
  for (const v of variants) await probe(v);
  for (const v of variants) {
    const w = await runLoad(loadSpec(opts, v, opts.warmupSeconds));
    log(`  ${label} warm-up ${v.name}: ${describe(w)}`);
  }
  const results: VariantResult[] = variants.map((v) => ({ key: v.key, name: v.name, rounds: [], medianReqPerSec: Number.NaN }));
  for (let r = 0; r < opts.rounds; r++) {
    for (const [i, v] of variants.entries()) {
      const f = await runMeasured(loadSpec(opts, v, opts.roundSeconds), v.pid);
      results[i]?.rounds.push(f);
      log(`  ${label} round ${r + 1}/${opts.rounds} ${v.name}: ${describe(f)}`);
    }
  }
  for (const res of results) res.medianReqPerSec = median(res.rounds.map((f) => f.reqPerSec));
  if (fixedRate) {
    const slowest = Math.min(...results.map((r) => r.medianReqPerSec));
    const rate = Math.max(1, Math.round(slowest * opts.fixedRateFraction));
    for (const [i, v] of variants.entries()) {
      const f = await runLoad(loadSpec(opts, v, opts.fixedRateSeconds, rate));
      const res = results[i];
      if (res) res.fixedRate = f;
      log(`  ${label} fixed rate ${rate}/s ${v.name}: ${describe(f)}`);
    }
  }
  for (const [i, v] of variants.entries()) {
    const res = results[i];
    if (res && v.pid !== undefined) res.peakRssMb = peakRssMb(v.pid);
  }
  return results;
}

/** Per-round ratios numerator/denominator (by variant key) and their median. */
export function roundRatios(results: VariantResult[], num: string, den: string): { perRound: number[]; median: number } {
  const a = results.find((r) => r.key === num);
  const b = results.find((r) => r.key === den);
  if (!a || !b) throw new Error(`no variants ${num}/${den}`);
  const perRound = a.rounds.map((f, i) => {
    const d = b.rounds[i]?.reqPerSec ?? Number.NaN;
    return d > 0 ? f.reqPerSec / d : Number.NaN;
  });
  return { perRound, median: median(perRound) };
}
