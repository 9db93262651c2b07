/**
 * The user docs stay true to the repository: a clone has no ../shared folder, so nothing may
 * point there; every file docs/security.md names as enforcing or proving a requirement exists;
 * every relative link in README.md and docs/ resolves.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = ['README.md', 'docs/api-guide.md', 'docs/architecture.md', 'docs/security.md', 'docs/performance.md', 'bench/README.md'];

function read(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

describe('user docs', () => {
  it('when the repository is searched, then no tracked file refers to ../shared', () => {
    const files = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    const offenders = files.filter((f) => existsSync(join(ROOT, f)) && read(f).includes('../shared'));
    // This file names the string it looks for.
    expect(offenders.filter((f) => f !== 'test/readme/docs.test.ts')).toEqual([]);
  });

  it('when docs/security.md names a file, then it exists, and requirements are numbered 1 to 55 without a gap', () => {
    const text = read('docs/security.md');
    const named = [...text.matchAll(/`((?:src|test)\/[\w./-]+\.ts|[\w-]+\/[\w./-]+\.test\.ts)`/g)].map((m) => m[1] ?? '');
    expect(named.length).toBeGreaterThan(40);
    const missing = named.filter((p) => !existsSync(join(ROOT, p.startsWith('src/') || p.startsWith('test/') ? p : `test/${p}`)));
    expect(missing).toEqual([]);
    const numbers = [...text.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(Array.from({ length: 55 }, (_, i) => i + 1));
  });

  it('when README.md and docs/ link to a file in the repository, then the file exists', () => {
    const broken: string[] = [];
    for (const doc of DOCS) {
      for (const m of read(doc).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        if (!existsSync(join(ROOT, dirname(doc), target))) broken.push(`${doc} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
