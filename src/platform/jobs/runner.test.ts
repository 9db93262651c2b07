import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.js';
import { JobRunner, type JobQueue } from './runner.js';

const clock = { now: () => new Date('2030-01-01T00:00:00Z') };

function quietLogger(lines: string[] = []) {
  return createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    }),
  );
}

/** An in-memory queue of `items` that records how many runs overlapped and can hold a run open. */
class FakeQueue implements JobQueue {
  handled = 0;
  running = 0;
  maxRunning = 0;
  runs = 0;
  failNext = false;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;

  constructor(
    readonly name: string,
    public items: number,
  ) {}

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  release(): void {
    this.openGate?.();
    this.gate = null;
  }

  async runOnce(_now: Date, limit: number): Promise<number> {
    this.runs += 1;
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.gate) await this.gate;
      if (this.failNext) {
        this.failNext = false;
        throw new Error('database is down');
      }
      const n = Math.min(limit, this.items);
      this.items -= n;
      this.handled += n;
      return n;
    } finally {
      this.running -= 1;
    }
  }
}

describe('JobRunner', () => {
  it('when drained, then every queue runs batch after batch until nothing is due', async () => {
    const mail = new FakeQueue('mail', 25);
    const hooks = new FakeQueue('webhooks', 3);
    const runner = new JobRunner({ queues: [mail, hooks], clock, logger: quietLogger(), batchSize: 10 });
    await runner.drain();
    expect([mail.items, mail.handled, hooks.items, hooks.handled]).toEqual([0, 25, 0, 3]);
  });

  it('when not started, then wake runs nothing', async () => {
    const mail = new FakeQueue('mail', 1);
    const runner = new JobRunner({ queues: [mail], clock, logger: quietLogger() });
    runner.wake('mail');
    await runner.stop();
    expect(mail.runs).toBe(0);
  });

  it('when woken many times during a run, then the queue never runs twice at once and stop waits for the run in progress', async () => {
    const mail = new FakeQueue('mail', 0);
    const runner = new JobRunner({ queues: [mail], clock, logger: quietLogger(), pollIntervalMs: 60_000 });
    mail.hold();
    runner.start();
    // Wake-ups run on a later turn of the event loop: a timer set after them fires after them.
    const turn = () => new Promise((r) => setTimeout(r, 0));
    await turn();
    expect(mail.running).toBe(1);
    mail.items = 5;
    for (let i = 0; i < 10; i += 1) runner.wake('mail');
    await turn();
    const stopped = runner.stop();
    let stopDone = false;
    void stopped.then(() => (stopDone = true));
    await new Promise((r) => setImmediate(r));
    expect(stopDone).toBe(false);
    mail.release();
    await stopped;
    expect(mail.maxRunning).toBe(1);
    // The start-up run, then one coalesced run for all ten wake-ups.
    expect(mail.runs).toBe(2);
    expect(mail.handled).toBe(5);
  });

  it('when a run fails, then it is logged with the queue name and the next drain works', async () => {
    const lines: string[] = [];
    const mail = new FakeQueue('mail', 2);
    const runner = new JobRunner({ queues: [mail], clock, logger: quietLogger(lines) });
    mail.failNext = true;
    await runner.drain();
    expect(lines.map((l) => JSON.parse(l) as { msg: string; queue: string })).toEqual([
      expect.objectContaining({ msg: 'job queue run failed; retrying at the next poll', queue: 'mail' }),
    ]);
    await runner.drain();
    expect(mail.handled).toBe(2);
  });

  it('when a queue listens for its own wake-ups, then a wake-up it sends runs it without a poll, and stop stops the listener', async () => {
    const hooks = new FakeQueue('webhooks', 0);
    let wake: (() => void) | null = null;
    let listening = false;
    const listened = new Promise<void>((resolve) => {
      (hooks as JobQueue).listen = (w) => {
        wake = w;
        listening = true;
        resolve();
        return Promise.resolve(() => {
          listening = false;
          return Promise.resolve();
        });
      };
    });
    const runner = new JobRunner({ queues: [hooks], clock, logger: quietLogger(), pollIntervalMs: 3_600_000 });
    runner.start();
    await listened;
    // Let the start-up run finish, then queue work that only the queue's own wake-up announces.
    await runner.drain();
    hooks.items = 3;
    const done = new Promise<void>((resolve) => {
      const check = (): void => {
        if (hooks.handled === 3) resolve();
        else setTimeout(check, 1);
      };
      check();
    });
    (wake as (() => void) | null)?.();
    await done;
    await runner.stop();
    expect(listening).toBe(false);
  });

  it('refuses two queues with one name', () => {
    expect(() => new JobRunner({ queues: [new FakeQueue('mail', 0), new FakeQueue('mail', 0)], clock, logger: quietLogger() })).toThrow(/unique/);
  });
});
