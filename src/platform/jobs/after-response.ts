import type { Logger } from 'pino';

/**
 * Work a request starts but does not wait for, so its answer neither waits for that work nor
 * depends on its outcome (forgot-password: whether the email has an account must not show in how
 * long the 202 takes). Whatever must survive a restart, the work writes as a row (an outbox row)
 * in its own transaction; this only keeps track of it so that shutdown and tests can wait.
 */
export class AfterResponse {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  /** Runs `work` once the caller has moved on; a failure is logged with `purpose`, never thrown. */
  run(purpose: string, work: () => Promise<void>): void {
    // Two turns of the event loop: the caller's response is written, and I/O already pending
    // (a client in this process, as in the tests, reading it) is served, before the work's first
    // statement, which on embedded PGlite runs on this thread.
    const done = new Promise<void>((resolve) => {
      setImmediate(() => {
        setImmediate(() => {
          void work()
            .catch((err: unknown) => {
              this.logger.error({ err, purpose }, `${purpose} failed after the response`);
            })
            .finally(resolve);
        });
      });
    });
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  /** Waits for the work running now and any it starts. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
