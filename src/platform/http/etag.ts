import { AppError } from './errors.js';

export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * A parsed `If-Match`: absent (`null`), `*`, or the strong tags it lists. Weak tags are kept out
 * of the list because RFC 9110 13.1.1 compares `If-Match` strongly: a weak tag never matches.
 */
export type IfMatch = null | '*' | { strongTags: string[] };

// One list member: optional weak prefix, then an opaque tag (RFC 9110 8.8.3: etagc is %x21 / %x23-7E
// / obs-text, so commas may appear inside the quotes), then optional whitespace.
const ENTITY_TAG = /[ \t]*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*/y;

function notAnEntityTag(): AppError {
  return new AppError('VALIDATION_FAILED', {
    message: 'If-Match must be "*" or the ETag exactly as received, in double quotes: If-Match: "3".',
    details: { fields: [{ path: 'If-Match', message: 'Expected "*" or entity tags in double quotes, e.g. "3".' }] },
  });
}

/** Parses the `If-Match` header; a value that is neither `*` nor a list of entity tags is 400. */
export function parseIfMatch(raw: string | undefined): IfMatch {
  if (raw === undefined) return null;
  if (raw.trim() === '*') return '*';
  const strongTags: string[] = [];
  let members = 0;
  let at = 0;
  while (at < raw.length) {
    ENTITY_TAG.lastIndex = at;
    const m = ENTITY_TAG.exec(raw);
    if (!m?.[2]) {
      // Empty list members (`"1", , "2"`) are allowed by the list syntax and ignored.
      const empty = /[ \t]*,/y;
      empty.lastIndex = at;
      if (!empty.test(raw)) throw notAnEntityTag();
      at = empty.lastIndex;
      continue;
    }
    members += 1;
    if (!m[1]) strongTags.push(m[2]);
    at = ENTITY_TAG.lastIndex;
    if (at < raw.length) {
      if (raw[at] !== ',') throw notAnEntityTag();
      at += 1;
    }
  }
  if (members === 0) throw notAnEntityTag();
  return { strongTags };
}

/**
 * Checks a parsed `If-Match` against the current version: absent applies, `*` applies, otherwise
 * one of the listed strong tags must equal the current ETag, else 412 PRECONDITION_FAILED.
 */
export function assertIfMatch(ifMatch: IfMatch, version: number): void {
  if (ifMatch === null || ifMatch === '*') return;
  if (!ifMatch.strongTags.includes(etagOf(version))) throw new AppError('PRECONDITION_FAILED');
}
