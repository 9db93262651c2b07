import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { HOST, sleep } from './env.js';

/** Children still running; killed when the test worker exits, whatever the reason. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process with its output kept line by line. */
export class Child {
  readonly lines: string[] = [];
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;
  private signalled = false;
  private readonly proc: ChildProcess;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    opts: SpawnOptions,
  ) {
    this.proc = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      let buffered = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        this.lines.push(...parts);
      });
      stream?.on('end', () => {
        if (buffered) this.lines.push(buffered);
      });
    }
    this.exited = new Promise<Exit>((resolve) => {
      this.proc.once('error', (err) => {
        this.lines.push(`spawn error: ${err.message}`);
        this.exit = { code: null, signal: null };
        live.delete(this.proc);
        resolve(this.exit);
      });
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this.proc);
        // A child that dies on its own (a crash) leaves its last words in the test output.
        if (!this.signalled) process.stderr.write(`[resilience] ${name} exited unexpectedly (${String(code ?? signal)}):\n${this.tail(60)}\n`);
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.exit === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    this.signalled = true;
    this.proc.kill(sig);
  }

  /** The last lines of output, for failure messages. */
  tail(n = 40): string {
    return this.lines.slice(-n).join('\n');
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    const timer = sleep(graceMs).then(() => 'late' as const);
    if ((await Promise.race([this.exited, timer])) === 'late') this.signal('SIGKILL');
    return this.exited;
  }

  async kill(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.exited;
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/**
 * Teardown steps, run last-in first-out even when a test or an earlier step failed; each is
 * bounded so a stuck step cannot hang the suite.
 */
export class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<unknown> }[] = [];

  add(name: string, fn: () => Promise<unknown>): void {
    this.steps.push({ name, fn });
  }

  async run(): Promise<void> {
    const failures: string[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      const current = step;
      const outcome = await Promise.race([
        current.fn().then(
          () => null,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        ),
        sleep(20_000).then(() => 'timed out'),
      ]);
      if (outcome !== null) failures.push(`${current.name}: ${outcome}`);
    }
    if (failures.length > 0) throw new Error(`cleanup failed:\n${failures.join('\n')}`);
  }
}
