/**
 * The README's walkthrough, run as pasted: every fenced block marked `<!-- walkthrough -->` goes
 * to bash, in order, against the real app listening on a free port (BASE points the block at
 * it), so the README cannot drift from the API. `pnpm demo` runs against the same server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { listenOnFreePort, type Listening } from '../support/listen.js';

const ROOT = join(import.meta.dirname, '..', '..');

let t: TestApp;
let server: Listening;
let base: string;
let workDir: string;

beforeAll(async () => {
  t = await createTestApp();
  server = await listenOnFreePort(t);
  base = server.origin;
  workDir = await mkdtemp(join(tmpdir(), 'walkthrough-'));
});

afterAll(async () => {
  await server.close();
  await t.close();
  await rm(workDir, { recursive: true, force: true });
});

/** The README's walkthrough blocks: each fenced `sh` block right after a `<!-- walkthrough -->` line. */
function walkthroughBlocks(readme: string): string[] {
  const blocks: string[] = [];
  const re = /<!-- walkthrough -->\n```sh\n([\s\S]*?)\n```/g;
  for (let m = re.exec(readme); m; m = re.exec(readme)) blocks.push(m[1] ?? '');
  return blocks;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: Record<string, string>, cwd = workDir): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Listed {
  data: { title: string; createdBy: { type: string } }[];
}

describe('README walkthrough', () => {
  it('when its blocks are pasted into bash against a running server, then an incident is created by session and by API key and both are listed', async () => {
    const blocks = walkthroughBlocks(await readFile(join(ROOT, 'README.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks[0]).toContain('BASE=${BASE:-http://localhost:3000}');

    // Stop at the first failing command, as a reader would; then report what the reader would need.
    const script = ['set -e -o pipefail', ...blocks, 'printf "\\nKEY=%s\\n" "$KEY"'].join('\n');
    const res = await run('bash', ['-c', script], { BASE: base });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('"title":"Checkout answers 502"');

    const key = /^KEY=(itk_\S+)$/m.exec(res.stdout)?.[1];
    expect(key).toBeDefined();
    const list = await t.request().get('/v1/incidents').set('x-api-key', key ?? '');
    expect(list.status).toBe(200);
    const listed = (list.body as Listed).data.map((i) => `${i.createdBy.type}: ${i.title}`);
    expect(listed.sort()).toEqual(['service_account: Deploy 4812 failed health checks', 'user: Checkout answers 502']);
  });
});

interface IncidentBody {
  id: string;
  status: string;
}

describe('pnpm demo', () => {
  it('when run twice against a running server, then it signs up then signs in, and prints a sign-in and a write key that lists its incidents', async () => {
    const demo = (): Promise<Run> =>
      run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'demo.ts')], { BASE: base, DEMO_EMAIL: 'demo@example.test' }, ROOT);
    const first = await demo();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    // The second run finds the account taken and signs in instead.
    const second = await demo();
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);

    expect(second.stdout).toContain('email demo@example.test   password demo-incident-tracker-2026');
    expect(second.stdout).toContain(`${base}/docs`);
    const key = /API key:\s+(itk_\S+)/.exec(second.stdout)?.[1];
    expect(key).toBeDefined();

    const list = await t.request().get('/v1/incidents').set('x-api-key', key ?? '');
    expect(list.status).toBe(200);
    const incidents = (list.body as { data: IncidentBody[] }).data;
    // Both runs wrote to one tenant: the second signed in to the tenant the first created.
    expect(incidents).toHaveLength(6);
    expect(incidents.filter((i) => i.status === 'resolved')).toHaveLength(2);
    const resolved = incidents.find((i) => i.status === 'resolved');
    const timeline = await t.request().get(`/v1/incidents/${resolved?.id ?? ''}/timeline-events`).set('x-api-key', key ?? '');
    expect((timeline.body as { data: unknown[] }).data.length).toBeGreaterThanOrEqual(4);

    const browser = t.request();
    const me = await browser.get('/v1/auth/me');
    const login = await browser
      .post('/v1/auth/login')
      .set('x-csrf-token', (me.body as { csrfToken: string }).csrfToken)
      .send({ email: 'demo@example.test', password: 'demo-incident-tracker-2026' });
    expect(login.status).toBe(200);
  });
});
