import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { BENCH_DATABASE } from './setup.js';

/**
 * CPU accounting per round, so a ratio can be explained on a shared machine: CPU seconds spent
 * by the variant's process, by the PostgreSQL backends serving the bench database, and by the
 * harness (the load generator), each divided by the requests answered. Read from /proc; on a
 * system without it the figures are simply absent.
 */
const TICKS_PER_SEC = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function ticksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

function benchBackends(): Map<number, number> {
  const out = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.startsWith('postgres:') || !cmd.includes(` ${BENCH_DATABASE} `)) continue;
    } catch {
      continue;
    }
    const t = ticksOf(pid);
    if (t !== null) out.set(pid, t);
  }
  return out;
}

export interface CpuSnapshot {
  variant: number | null;
  db: Map<number, number>;
  harness: number;
}

export interface CpuPerRequest {
  /** CPU ms per answered request: the variant's process, the bench database's backends, the load generator. */
  variantMs: number | null;
  dbMs: number;
  loadGenMs: number;
}

export function snapshot(pid: number | undefined): CpuSnapshot {
  const u = process.cpuUsage();
  return { variant: pid === undefined ? null : ticksOf(pid), db: benchBackends(), harness: (u.user + u.system) / 1000 };
}

export function perRequest(before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuPerRequest | null {
  if (requests <= 0) return null;
  let dbTicks = 0;
  for (const [pid, t] of after.db) dbTicks += t - (before.db.get(pid) ?? t);
  // Backends that appeared during the round: their whole CPU time belongs to it.
  for (const [pid, t] of after.db) if (!before.db.has(pid)) dbTicks += t;
  const toMs = (ticks: number): number => (ticks * 1000) / TICKS_PER_SEC;
  const round3 = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    variantMs: before.variant === null || after.variant === null ? null : round3(toMs(after.variant - before.variant) / requests),
    dbMs: round3(toMs(dbTicks) / requests),
    loadGenMs: round3((after.harness - before.harness) / requests),
  };
}
