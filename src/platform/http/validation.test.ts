import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from './errors.js';
import { multiValue, parseInput } from './validation.js';

/** The error parseInput throws for `input`, or null when it parses. */
function failure(schema: z.ZodType, input: unknown, where: 'body' | 'query' | 'params' = 'body'): AppError | null {
  try {
    parseInput(schema, input, where);
    return null;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

function fields(schema: z.ZodType, input: unknown, where: 'body' | 'query' = 'body'): unknown {
  return failure(schema, input, where)?.details.fields;
}

const loose = z.looseObject({});

describe('parseInput: text PostgreSQL cannot store', () => {
  it.each([
    ['a NUL', 'a\u0000b', /NUL character/],
    ['a lone high surrogate', 'a\ud83db', /surrogate without its pair/],
    ['a lone low surrogate at the end', 'ab\ude00', /surrogate without its pair/],
    ['a low surrogate before a high one', '\ude00\ud83d', /surrogate without its pair/],
  ])('when a string holds %s, then 400 VALIDATION_FAILED naming it', (_label, text, message) => {
    const err = failure(loose, { title: text });
    expect(err?.code).toBe('VALIDATION_FAILED');
    expect(err?.details.fields).toEqual([{ path: 'title', message: expect.stringMatching(message) as string }]);
  });

  it('when the strings hold surrogate pairs (emoji) and other Unicode, then they pass', () => {
    expect(failure(loose, { title: '\u{1F6A8} caf\u00e9 \u4e2d\u6587 \u{10FFFF}', list: ['\ud83d\ude00'] })).toBeNull();
  });

  it('when a key holds a NUL, then the path ends in that key and the message says it is the field name', () => {
    expect(fields(loose, { a: { 'b\u0000': 1 } })).toEqual([{ path: 'a.b\u0000', message: expect.stringMatching(/^The field name contains a NUL/) as string }]);
  });

  it('when the whole body is a bad string, then the path is "body"', () => {
    expect(fields(loose, 'x\u0000')).toEqual([{ path: 'body', message: expect.stringMatching(/NUL/) as string }]);
  });

  it('when the bad string sits in a field the schema would strip or refuse, then it is still reported (every string is checked)', () => {
    expect(fields(z.object({ a: z.string() }), { a: 'ok', b: ['x', { c: 'y\u0000' }] })).toEqual([{ path: 'b.1.c', message: expect.stringMatching(/NUL/) as string }]);
  });

  it('when thousands of strings are bad, then at most 20 are listed', () => {
    expect(fields(loose, { list: Array.from({ length: 5000 }, () => '\u0000') })).toHaveLength(20);
  });

  it('when the input nests 100,000 levels deep, then it is walked without overflowing the stack', () => {
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(fields(loose, { deep })).toEqual([{ path: `deep${'.0'.repeat(100_000)}`, message: expect.stringMatching(/NUL/) as string }]);
  });

  it('when a path param holds a NUL, then 404 NOT_FOUND, as for any unknown id', () => {
    expect(failure(z.object({ id: z.string() }), { id: 'a\u0000' }, 'params')?.code).toBe('NOT_FOUND');
  });

  it('when a repeated query value holds a NUL, then its index is named', () => {
    expect(fields(z.object({ status: multiValue(['a', 'b']) }), { status: ['a', 'b\u0000'] }, 'query')).toEqual([
      { path: 'status.1', message: expect.stringMatching(/NUL/) as string },
    ]);
  });
});

describe('parseInput: a wrong type names the expected one', () => {
  const schema = z
    .object({
      scopes: z.array(z.enum(['read', 'write'])).min(1).max(2),
      ids: z.array(z.uuid()).optional(),
      id: z.uuid().optional(),
      at: z.iso.datetime({ offset: true }).optional(),
      count: z.coerce.number().int().optional(),
      ratio: z.number().optional(),
      flag: z.boolean().optional(),
      meta: z.object({}).optional(),
      status: multiValue(['a', 'b']).optional(),
      name: z.string().trim().min(1).max(200).optional(),
    })
    .strict();

  it.each([
    [{ scopes: 'write' }, 'scopes', 'Expected an array of strings, received a string.'],
    [{ scopes: ['read'], ids: 'x' }, 'ids', 'Expected an array of UUID strings, received a string.'],
    [{ scopes: ['read'], id: 5 }, 'id', 'Expected a UUID string, received a number.'],
    [{ scopes: ['read'], at: true }, 'at', 'Expected an ISO 8601 date-time string, received a boolean.'],
    [{ scopes: ['read'], count: 'abc' }, 'count', 'Expected an integer, received something that is not a number.'],
    [{ scopes: ['read'], count: '2.5' }, 'count', 'Expected an integer, received a number with a fraction.'],
    [{ scopes: ['read'], ratio: '1' }, 'ratio', 'Expected a number, received a string.'],
    [{ scopes: ['read'], flag: 'true' }, 'flag', 'Expected a boolean, received a string.'],
    [{ scopes: ['read'], meta: [] }, 'meta', 'Expected an object, received an array.'],
    [{ scopes: ['read'], status: { x: '1' } }, 'status', 'Expected a string or an array of strings, received an object.'],
    [{ scopes: ['read'], name: null }, 'name', 'Expected a string, received null.'],
    [{}, 'scopes', 'Required: expected an array of strings.'],
  ])('when the input is %j, then %s says: %s (and nothing else)', (input, path, message) => {
    expect(fields(schema, input)).toEqual([{ path, message }]);
  });

  it('when the whole body has the wrong type, then the body is named with what it should be', () => {
    expect(fields(z.object({ a: z.string() }), [1])).toEqual([{ path: 'body', message: 'Expected an object, received an array.' }]);
  });

  it('when the type is right but the value is not, then zod and the schema keep their own messages', () => {
    expect(fields(schema, { scopes: ['read', 'read', 'write'] })).toEqual([{ path: 'scopes', message: expect.stringMatching(/<=2 items/) as string }]);
    expect(fields(schema, { scopes: ['admin'] })).toEqual([{ path: 'scopes.0', message: 'Invalid option: expected one of "read"|"write"' }]);
    expect(fields(z.object({ s: z.string().refine(() => false, { error: 'Own words.' }) }), { s: 'x' })).toEqual([{ path: 's', message: 'Own words.' }]);
  });
});
