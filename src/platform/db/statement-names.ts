import { perMeterProvider } from '../telemetry/instruments.js';

/**
 * Names for prepared statements, one set per pool. A named statement is parsed and planned once
 * per connection and then only bound and executed. Every statement text in this code base is a
 * fixed string (see README, "SQL"), so the number of texts is bounded by the code, not by input;
 * the limit is a guard against a future statement that builds its text from input. Past it,
 * statements still run, unnamed (parsed on every execution): that is logged once per pool and
 * counted in `db.client.unnamed_statements`, never silent.
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
