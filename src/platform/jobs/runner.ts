import type { Logger } from 'pino';
import type { Clock } from '../clock.js';

/**
 * One kind of durable background work: rows claimed by any worker on any node with `FOR UPDATE
 * SKIP LOCKED` under a lease, so a worker that dies frees its rows when the lease ends.
 */
export interface JobQueue {
  readonly name: string;
  /** Claims up to `limit` due items, works them and records outcomes; returns how many it handled. */
  runOnce(now: Date, limit: number): Promise<number>;
}

export interface JobRunnerOptions {
  queues: JobQueue[];
  clock: Clock;
  logger: Logger;
  /** How often every queue is looked at without a wake-up (retries come due, other nodes' rows). */
  pollIntervalMs?: number;
  /** Items one `runOnce` claims at most. */
  batchSize?: number;
}

/**
 * Runs this process's queues: each is polled, and `wake(name)` after a commit runs it at once. A
 * queue never runs twice at a time in one process: a wake-up during a run becomes one run after it.
 */
export class JobRunner {
  private readonly queues: Map<string, JobQueue>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  /** Per queue: the run in progress. */
  private readonly running = new Map<string, Promise<void>>();
  /** Per queue: a run is already chained behind the current one. */
  private readonly rerun = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(opts: JobRunnerOptions) {
    this.queues = new Map(opts.queues.map((q) => [q.name, q]));
    if (this.queues.size !== opts.queues.length) throw new Error('job queue names must be unique');
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.batchSize = opts.batchSize ?? 10;
  }

  get queueNames(): string[] {
    return [...this.queues.keys()];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.wake();
    this.schedulePoll();
  }

  /** Runs the named queue (every queue without a name) on a later turn, so the waking request finishes first. */
  wake(queueName?: string): void {
    if (!this.started) return;
    for (const name of queueName === undefined ? this.queueNames : [queueName]) {
      if (!this.queues.has(name)) {
        this.logger.warn({ queue: name }, 'wake-up for an unknown job queue');
        continue;
      }
      setTimeout(() => {
        if (this.started) void this.runQueue(name, false);
      }, 0);
    }
  }

  /** Stops polling and waits for the runs in progress; a row claimed and not finished is left to its lease. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([...this.running.values()]);
  }

  /** Runs every queue until nothing is due (tests use this instead of sleeping). */
  async drain(): Promise<void> {
    for (;;) {
      let handled = 0;
      for (const name of this.queueNames) handled += await this.runQueue(name, true);
      if (handled === 0) return;
    }
  }

  private schedulePoll(): void {
    if (!this.started) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake();
      this.schedulePoll();
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  /**
   * Runs a queue after any run in progress; a wake-up while another run already waits adds nothing
   * (that run sees the new rows). Resolves to how many items this run handled.
   */
  private runQueue(name: string, forced: boolean): Promise<number> {
    const queue = this.queues.get(name) as JobQueue;
    const previous = this.running.get(name);
    if (previous && !forced && this.rerun.has(name)) return Promise.resolve(0);
    if (previous && !forced) this.rerun.add(name);
    let handled = 0;
    const run = (previous ?? Promise.resolve()).then(async () => {
      this.rerun.delete(name);
      handled = await this.untilIdle(queue);
    });
    const tracked = run.finally(() => {
      if (this.running.get(name) === tracked) this.running.delete(name);
    });
    this.running.set(name, tracked);
    return tracked.then(() => handled);
  }

  /** Claims batch after batch while full batches come back; a failed run is logged, never thrown. */
  private async untilIdle(queue: JobQueue): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        const n = await queue.runOnce(this.clock.now(), this.batchSize);
        total += n;
        if (n < this.batchSize) return total;
      }
    } catch (err) {
      // The message and code only: a driver error carries the statement's parameters.
      const { message, code } = err as { message?: string; code?: string };
      this.logger.error({ err: { message, code }, queue: queue.name }, 'job queue run failed; retrying at the next poll');
      return total;
    }
  }
}
