import { describe, expect, it } from 'vitest';
import { createStatementNames } from './statement-names.js';

describe('statement names', () => {
  it('names each text once and gives the same name back', () => {
    const names = createStatementNames(10, () => undefined);
    const a = names.nameOf('SELECT $1');
    expect(a).toBeDefined();
    expect(names.nameOf('SELECT $2')).not.toBe(a);
    expect(names.nameOf('SELECT $1')).toBe(a);
    expect(names.size).toBe(2);
  });

  it('when the limit is reached, then new texts run unnamed, known ones keep their names, and the overflow is reported once', () => {
    const reports: { named: number; sql: string }[] = [];
    const names = createStatementNames(2, (info) => reports.push(info));
    const first = names.nameOf('q1');
    names.nameOf('q2');
    expect(names.nameOf('q3')).toBeUndefined();
    expect(names.nameOf('q4')).toBeUndefined();
    expect(names.nameOf('q1')).toBe(first);
    expect(reports).toEqual([{ named: 2, sql: 'q3' }]);
  });

  it('keeps separate budgets for separate pools', () => {
    const one = createStatementNames(1, () => undefined);
    const two = createStatementNames(1, () => undefined);
    one.nameOf('a');
    expect(two.nameOf('b')).toBeDefined();
  });
});
