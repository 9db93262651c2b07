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
  /**
   * Optional: a queue that learns of new work by itself (a database notification at commit, from
   * any node) subscribes here when the runner starts, calling `wake` to be run soon; resolves to
   * how to stop. The poll stays the safety net: a missed wake-up costs latency, never an item.
   */
  listen?(wake: () => void): Promise<() => Promise<void>>;
  /** Items one `runOnce` claims at most for this queue (default: the runner's `batchSize`). */
  readonly batchSize?: number;
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
  /** Queues with a wake-up already scheduled for the next turn (a burst of wake-ups is one run). */
  private readonly wakeScheduled = new Set<string>();
  /** How to stop the queues' own listeners (`JobQueue.listen`). */
  private unlisteners: Promise<(() => Promise<void>) | null>[] = [];
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
    for (const queue of this.queues.values()) {
      if (!queue.listen) continue;
      const name = queue.name;
      this.unlisteners.push(
        queue
          .listen(() => {
            this.wake(name);
          })
          .catch((err: unknown) => {
            this.logger.warn({ err: { message: (err as Error).message }, queue: name }, 'job queue could not listen for wake-ups; polling only');
            return null;
          }),
      );
    }
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
      if (this.wakeScheduled.has(name)) continue;
      this.wakeScheduled.add(name);
      setTimeout(() => {
        this.wakeScheduled.delete(name);
        if (this.started) void this.runQueue(name, false);
      }, 0);
    }
  }

  /** Stops polling and waits for the runs in progress; a row claimed and not finished is left to its lease. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const unlisteners = this.unlisteners;
    this.unlisteners = [];
    await Promise.all(unlisteners.map(async (u) => (await u)?.()));
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
    const batch = queue.batchSize ?? this.batchSize;
    try {
      for (;;) {
        const n = await queue.runOnce(this.clock.now(), batch);
        total += n;
        if (n < batch) return total;
      }
    } catch (err) {
      // The message and code only: a driver error carries the statement's parameters.
      const { message, code } = err as { message?: string; code?: string };
      this.logger.error({ err: { message, code }, queue: queue.name }, 'job queue run failed; retrying at the next poll');
      return total;
    }
  }
}
