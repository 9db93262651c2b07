import type { QueryResult } from './database.js';

/**
 * The one way SQL is written here: every statement is a fixed text, a constant of its feature's
 * queries module, and every value a `$n` parameter. An optional filter is a parameter that may be
 * null (`($2::text[] IS NULL OR status = ANY($2))`), not a clause added at run time, so the
 * number of distinct texts is set by the code and each stays one named prepared statement (see
 * statement-names.ts). The helpers below build such texts once, at module load, from lists
 * checked against the row types.
 */

type Exhaustive<Row, C extends readonly PropertyKey[]> = [Exclude<keyof Row, C[number]>] extends [never] ? C : { missingColumns: Exclude<keyof Row, C[number]> };

/**
 * A table's select/returning list for `Row`: the compiler refuses a column that `Row` lacks and a
 * key of `Row` left out, so a row type and its column list cannot drift apart.
 *
 *   const INCIDENT_COLUMNS = columnsOf<IncidentRow>()('id', 'number', ...);
 */
export function columnsOf<Row>() {
  return <const C extends readonly (keyof Row & string)[]>(...columns: C & Exhaustive<Row, C>): string => columns.join(', ');
}

/** As `columnsOf`, for rows read through a join or an expression: each key of `Row` with its SQL expression. */
// The type parameter is the check: `exprs` must name every key of Row and no other.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function selectList<Row>(exprs: { readonly [K in keyof Row & string]-?: string }): string {
  return Object.entries(exprs)
    .map(([key, expr]) => (expr === key ? key : `${String(expr)} AS ${key}`))
    .join(', ');
}

/** The single row a statement must return (an INSERT or UPDATE ... RETURNING of a known row). */
export function oneRow<T>(res: QueryResult<T>, what: string): T {
  const row = res.rows[0];
  if (row === undefined) throw new Error(`${what} returned no row`);
  return row;
}

/** The first row, or null when there is none. */
export function maybeRow<T>(res: QueryResult<T>): T | null {
  return res.rows[0] ?? null;
}

/**
 * A partial update as one fixed text: every patchable column is written as
 * `col = CASE WHEN 'col' = ANY($first::text[]) THEN $k::type ELSE col END`, where `$first` lists
 * the columns the patch sets. Parameters `$1 .. $first-1` are the caller's (keys, `now`);
 * `params(patch)` supplies the rest, in order. A column left out keeps its value, one set to
 * null becomes null.
 */
export function patchStatement<Patch extends object>(
  types: { readonly [K in keyof Patch & string]-?: string },
  first: number,
): { sets: string; params(patch: Patch): unknown[] } {
  const columns = Object.keys(types) as (keyof Patch & string)[];
  const sets = columns
    .map((c, i) => `${c} = CASE WHEN '${c}' = ANY($${String(first)}::text[]) THEN $${String(first + 1 + i)}::${types[c]} ELSE ${c} END`)
    .join(',\n    ');
  return {
    sets,
    params(patch: Patch): unknown[] {
      return [columns.filter((c) => c in patch), ...columns.map((c) => (c in patch ? patch[c] : null))];
    },
  };
}
