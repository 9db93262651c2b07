import { z, type ZodType } from 'zod';
import { AppError } from './errors.js';

interface FieldProblem {
  path: string;
  message: string;
}

type Where = 'body' | 'query' | 'params';

/**
 * Parses `input` with `schema` or throws 400 VALIDATION_FAILED listing each field problem (404
 * NOT_FOUND for path params). Every string and key in the input is checked first for text no
 * database column can hold, whatever the schema says about that field.
 */
export function parseInput<T>(schema: ZodType<T>, input: unknown, where: Where): T {
  const unstorable = unstorableText(input, where);
  if (unstorable.length > 0) reject(where, unstorable);
  const first = schema.safeParse(input ?? {});
  if (first.success) return first.data;
  // Again with the type-naming messages: zod's custom error map costs several times the parse
  // itself, so every request pays it only when its input is already being refused.
  const result = schema.safeParse(input ?? {}, { error: expectedTypeMessage });
  if (result.success) return result.data;
  const issues = result.error.issues;
  // A check that also applies to the wrong type (an array's max length measures a string too)
  // adds a second, misleading issue where the type was already wrong: keep the type's.
  const wrongType = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => pathOf(i.path, '')));
  return reject(
    where,
    issues
      .filter((i) => i.code === 'invalid_type' || !wrongType.has(pathOf(i.path, '')))
      .map((issue) => ({
        path: pathOf(issue.path, issue.code === 'unrecognized_keys' ? issue.keys.join(',') : where),
        message: issue.message,
      })),
  );
}

function reject(where: Where, fields: FieldProblem[]): never {
  if (where === 'params') throw new AppError('NOT_FOUND');
  throw new AppError('VALIDATION_FAILED', { details: { fields } });
}

function pathOf(path: readonly PropertyKey[], fallback: string): string {
  return path.map(String).join('.') || fallback;
}

const LONE_SURROGATE = /\p{Cs}/u;
const MAX_TEXT_PROBLEMS = 20;

/** Why PostgreSQL cannot store `s` as given, or null when it can. */
function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  // In a `u` regex a surrogate pair is one code point, so only an unpaired half matches.
  if (LONE_SURROGATE.test(s)) return 'contains a UTF-16 surrogate without its pair, which is not valid Unicode';
  return null;
}

interface Visit {
  value: unknown;
  key: string | null;
  parent: Visit | null;
}

function keysTo(v: Visit): string[] {
  const keys: string[] = [];
  for (let at: Visit | null = v; at !== null; at = at.parent) if (at.key !== null) keys.push(at.key);
  return keys.reverse();
}

/**
 * Every string and object key in `input` that contains a NUL or a lone surrogate, with its path
 * (at most MAX_TEXT_PROBLEMS). Walked with an explicit stack, since a 100 KB JSON body can nest
 * 50,000 levels deep; paths are built only for the problems found.
 */
function unstorableText(input: unknown, where: Where): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: Visit[] = [{ value: input, key: null, parent: null }];
  while (stack.length > 0 && problems.length < MAX_TEXT_PROBLEMS) {
    const at = stack.pop() as Visit;
    const { value } = at;
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) problems.push({ path: pathOf(keysTo(at), where), message: `The value ${problem}.` });
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i] as unknown, key: String(i), parent: at });
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value).reverse()) {
        const problem = textProblem(key);
        if (problem) problems.push({ path: pathOf([...keysTo(at), key], where), message: `The field name ${problem}.` });
        else stack.push({ value: child, key, parent: at });
      }
    }
  }
  return problems;
}

/** What a schema accepts, in words, singular and plural ("a string", "strings"), if it is known. */
function nounsOf(schema: unknown): [string, string] | null {
  if (schema instanceof z.ZodString || schema instanceof z.ZodStringFormat) {
    if (schema.format === 'uuid' || schema.format === 'guid') return ['a UUID string', 'UUID strings'];
    if (schema.format === 'datetime') return ['an ISO 8601 date-time string', 'ISO 8601 date-time strings'];
    if (schema.format === 'email') return ['an email address', 'email addresses'];
    return ['a string', 'strings'];
  }
  if (schema instanceof z.ZodEnum) return ['a string', 'strings'];
  if (schema instanceof z.ZodNumber) return schema.format === 'safeint' || schema.format === 'int32' ? ['an integer', 'integers'] : ['a number', 'numbers'];
  if (schema instanceof z.ZodBoolean) return ['a boolean', 'booleans'];
  if (schema instanceof z.ZodObject) return ['an object', 'objects'];
  if (schema instanceof z.ZodArray) {
    const items = nounsOf(schema.element);
    return [items ? `an array of ${items[1]}` : 'an array', 'arrays'];
  }
  if (schema instanceof z.ZodUnion) {
    const options = (schema.options as unknown[]).map(nounsOf);
    return options.every((o) => o !== null) ? [options.map((o) => o[0]).join(' or '), 'values'] : null;
  }
  return null;
}

function receivedOf(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'number' && Number.isNaN(input)) return 'something that is not a number';
  if (typeof input === 'number' && !Number.isInteger(input)) return Number.isFinite(input) ? 'a number with a fraction' : 'an infinite number';
  return typeof input === 'object' ? 'an object' : `a ${typeof input}`;
}

/**
 * Zod's messages for a wrong type name the JavaScript type ("expected array"); a client needs
 * the field's type ("an array of strings"). Schema-level messages still win over this one.
 */
function expectedTypeMessage(issue: z.core.$ZodRawIssue): string | undefined {
  const wrongUnion =
    issue.code === 'invalid_union' && issue.errors.length > 0 && issue.errors.every((e) => e.length === 1 && e[0]?.code === 'invalid_type' && e[0].path.length === 0);
  if (issue.code !== 'invalid_type' && !wrongUnion) return undefined;
  const expected = nounsOf(issue.inst)?.[0] ?? (issue.code === 'invalid_type' ? `a value of type ${issue.expected}` : null);
  if (expected === null) return undefined;
  if (issue.input === undefined) return `Required: expected ${expected}.`;
  return `Expected ${expected}, received ${receivedOf(issue.input)}.`;
}

export const uuid = z.uuid({ version: 'v4' }).or(z.uuid());

/** Query values that may be repeated (`?status=a&status=b`) or comma-separated (`?status=a,b`). */
export function multiValue<T extends string>(values: readonly [T, ...T[]]) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).filter((s) => s !== ''))
    .pipe(z.array(z.enum(values)).min(1).max(values.length * 4));
}
