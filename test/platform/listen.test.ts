import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let blocker: Server;
let port: number;

beforeAll(async () => {
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  port = (blocker.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => blocker.close(() => { resolve(); }));
});

/** Runs a process entry with only `env` (plus PATH and HOME); resolves to its exit code and output. */
async function runProcess(entry: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe('process start-up', () => {
  it('when the port is taken, then the server exits non-zero naming the port and never says listening', async () => {
    const { code, output } = await runProcess('src/main.ts', { NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain(`127.0.0.1:${String(port)}`);
    expect(output).toContain('EADDRINUSE');
    expect(output).not.toMatch(/"msg":"listening"/);
  });

  it.each(['src/main.ts', 'src/worker.ts'])('when a variable is invalid, then %s exits 1 naming it, before it starts anything', async (entry) => {
    const { code, output } = await runProcess(entry, { NODE_ENV: 'test', PORT: 'not-a-port', LOG_LEVEL: 'info' });
    expect(code).toBe(1);
    expect(output).toContain('PORT');
    expect(output).not.toContain('fatal:');
    expect(output).not.toMatch(/"msg":"listening"/);
  });
});
