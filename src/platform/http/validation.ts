import { z, type ZodType } from 'zod';
import { AppError } from './errors.js';

/** Parses `input` with `schema` or throws 400 VALIDATION_FAILED listing each field problem. */
export function parseInput<T>(schema: ZodType<T>, input: unknown, where: 'body' | 'query' | 'params'): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  if (where === 'params') throw new AppError('NOT_FOUND');
  throw new AppError('VALIDATION_FAILED', {
    details: {
      fields: result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : where),
        message: issue.message,
      })),
    },
  });
}

export const uuid = z.uuid({ version: 'v4' }).or(z.uuid());

/** Query values that may be repeated (`?status=a&status=b`) or comma-separated (`?status=a,b`). */
export function multiValue<T extends string>(values: readonly [T, ...T[]]) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).filter((s) => s !== ''))
    .pipe(z.array(z.enum(values)).min(1).max(values.length * 4));
}
