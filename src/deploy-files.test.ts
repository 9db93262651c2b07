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

  it('when Render deploys, then the web service answers HTTP only and a worker service runs pnpm worker from the compiled output', () => {
    const services = (parse(read('render.yaml')) as { services: { type: string; name: string; startCommand: string; envVars: { key: string; value?: string }[] }[] }).services;
    const web = services.find((s) => s.type === 'web');
    const worker = services.find((s) => s.type === 'worker');
    expect(web?.envVars).toContainEqual({ key: 'WORKERS', value: 'off' });
    expect(worker?.startCommand).toBe('pnpm worker');
    expect(scripts.worker).toMatch(/ dist\/src\/worker\.js$/);
    expect(scripts.worker).not.toMatch(/tsx/);
    // The worker needs what mail delivery needs.
    expect(worker?.envVars.map((v) => v.key)).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'APP_BASE_URL', 'SESSION_SECRET']));
    // Webhook delivery opens the signing secrets the web service sealed: the web's own key.
    expect(worker?.envVars).toContainEqual({ key: 'DATA_ENCRYPTION_KEY', fromService: { type: 'web', name: web?.name, envVarKey: 'DATA_ENCRYPTION_KEY' } });
  });

  it('when the compose app profile runs, then api answers HTTP only and a worker service delivers its mail', () => {
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { profiles?: string[]; command?: string[]; environment?: Record<string, string> }> };
    expect(compose.services.api?.environment?.WORKERS).toBe('off');
    expect(compose.services.worker?.profiles).toEqual(['app']);
    expect(compose.services.worker?.command?.at(-1)).toBe('dist/src/worker.js');
  });
});
