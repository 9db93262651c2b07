import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Every process the harness starts is registered here and stopped on normal exit, on error and
 * on SIGINT/SIGTERM: by its own pid, SIGTERM first (so the app drains and a --cpu-prof profile is
 * written), SIGKILL if it is still alive after a grace period.
 */
export interface Child {
  name: string;
  pid: number;
  port: number;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

const children = new Set<Child>();

export function liveChildren(): Child[] {
  return [...children];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface StartSpec {
  name: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  logDir: string;
  cwd: string;
  /** GET this path on 127.0.0.1:port until it answers 200. */
  healthPath: string;
  readyTimeoutMs?: number;
}

export async function startChild(spec: StartSpec): Promise<Child> {
  mkdirSync(spec.logDir, { recursive: true });
  const logFile = path.join(spec.logDir, `${spec.name}.log`);
  const log = createWriteStream(logFile, { flags: 'w' });
  const proc = spawn(process.execPath, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  if (proc.pid === undefined) throw new Error(`${spec.name}: failed to start`);
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      resolve(code);
    });
  });
  const child: Child = { name: spec.name, pid: proc.pid, port: spec.port, proc, logFile, exited };
  children.add(child);
  void exited.then(() => children.delete(child));

  const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
  let exitCode: number | null | undefined;
  void exited.then((c) => {
    exitCode = c;
  });
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${spec.name} exited with code ${exitCode} before it was ready; see ${logFile}`);
    try {
      const res = await fetch(`http://127.0.0.1:${spec.port}${spec.healthPath}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${spec.name} was not ready within ${Math.round((spec.readyTimeoutMs ?? 30_000) / 1000)} s; see ${logFile}`);
    }
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function stopChild(child: Child, graceMs = 8000): Promise<void> {
  if (!children.has(child)) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    children.delete(child);
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await child.exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all(liveChildren().map((c) => stopChild(c)));
}

/** Last resort from a synchronous 'exit' handler: nothing may be left running. */
export function killAllNow(): void {
  for (const c of liveChildren()) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Peak resident set size of a live process in MB (VmHWM), or null when unavailable. */
export function peakRssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export function currentRssMb(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
