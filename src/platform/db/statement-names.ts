import { perMeterProvider } from '../telemetry/instruments.js';

/**
 * Names for prepared statements, one set per pool. Statement texts are fixed strings
 * (docs/architecture.md, Transactions), so the limit only guards against a text built from input;
 * past it statements run unnamed, logged once per pool and counted in `db.client.unnamed_statements`.
 */
export interface StatementNames {
  /** The name for `sql`, or undefined once the pool's limit is reached and `sql` is new. */
  nameOf(sql: string): string | undefined;
  /** How many texts have a name. */
  readonly size: number;
}

export const DEFAULT_MAX_NAMED_STATEMENTS = 1000;

const unnamedCounter = perMeterProvider('incident-tracker-api/db', (meter) =>
  meter.createCounter('db.client.unnamed_statements', {
    description: 'Statements sent unnamed because the pool already named its maximum of distinct statement texts.',
    unit: '{statement}',
  }),
);

export function createStatementNames(max: number, onFirstOverflow: (info: { named: number; sql: string }) => void): StatementNames {
  const names = new Map<string, string>();
  let warned = false;
  return {
    nameOf(sql: string): string | undefined {
      const known = names.get(sql);
      if (known !== undefined) return known;
      if (names.size >= max) {
        unnamedCounter().add(1);
        if (!warned) {
          warned = true;
          onFirstOverflow({ named: names.size, sql });
        }
        return undefined;
      }
      const name = `it_${String(names.size)}`;
      names.set(sql, name);
      return name;
    },
    get size() {
      return names.size;
    },
  };
}
