import type { Database, Queryable } from '../../src/platform/db/database.js';

/**
 * Holds back chosen statements of an app's transactions until the test opens the gate, and
 * records which of them ran. With it a test can prove an order without a clock: "the answer
 * arrived while the lookup was still held" means the handler answered before it looked up.
 */
export class StatementGate {
  private release: (() => void) | null = null;
  private held: Promise<void> = Promise.resolve();
  private readonly ran: unknown[][] = [];
  private readonly waiters: { match: (params: unknown[]) => boolean; resolve: () => void }[] = [];

  constructor(private readonly matches: (sql: string) => boolean) {}

  close(): void {
    this.held = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  open(): void {
    this.release?.();
    this.release = null;
  }

  /** Whether a held statement with these parameters has run. */
  hasRun(match: (params: unknown[]) => boolean): boolean {
    return this.ran.some(match);
  }

  /** Resolves once a held statement with matching parameters has run (a marker, not a sleep). */
  waitForRun(match: (params: unknown[]) => boolean): Promise<void> {
    if (this.hasRun(match)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** `db` with this gate in front of every transaction's statements. */
  wrap(db: Database): Database {
    const gateTx = (tx: Queryable): Queryable => ({
      ...tx,
      query: async <T>(sql: string, params?: readonly unknown[]) => {
        if (!this.matches(sql)) return tx.query<T>(sql, params);
        await this.held;
        const res = await tx.query<T>(sql, params);
        const values = [...(params ?? [])];
        this.ran.push(values);
        for (const w of this.waiters.filter((x) => x.match(values))) w.resolve();
        return res;
      },
    });
    return {
      ...db,
      kind: db.kind,
      withAppTx: (settings, fn) => db.withAppTx(settings, (tx, opened) => fn(gateTx(tx), opened)),
      withSystemTx: (fn) => db.withSystemTx((tx) => fn(gateTx(tx))),
      ping: () => db.ping(),
      close: () => db.close(),
    };
  }
}
