import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

describe('deploy files', () => {
  it("when the image starts, then it runs pnpm start's node command, flags included", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    expect(JSON.parse(cmd ?? '[]')).toEqual(scripts.start?.split(' '));
  });

  it('when Render deploys, then migrations run from the compiled output, never through tsx', () => {
    const service = (parse(read('render.yaml')) as { services: { preDeployCommand: string; startCommand: string }[] }).services[0];
    expect(service?.preDeployCommand).toBe('pnpm db:migrate:prod');
    expect(scripts['db:migrate:prod']).toBe('node dist/src/migrate.js');
    expect(service?.startCommand).toBe('pnpm start');
    expect(scripts.start).not.toMatch(/tsx/);
  });
});
