import { AppError } from './errors.js';

export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * Checks `If-Match` against the current version: absent applies, `*` applies, otherwise one of
 * the listed (strong or weak) tags must equal the current one, else 412.
 */
export function assertIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined || ifMatch.trim() === '*') return;
  const current = etagOf(version);
  const tags = ifMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (!tags.includes(current)) throw new AppError('PRECONDITION_FAILED');
}
