import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from './config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLE = readFileSync(path.join(ROOT, '.env.example'), 'utf8');

/** Names the file assigns, and names it mentions only in a commented-out assignment. */
const assigned = [...EXAMPLE.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? '');
const commentedOut = [...EXAMPLE.matchAll(/^# ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? '');

/** The environment `shell` exports after the README's `set -a; . ./.env; set +a`, minus its own. */
function sourced(shell: string): { env: Record<string, string>; stderr: string; status: number | null } {
  const dump = `node -e 'process.stdout.write(JSON.stringify(process.env))'`;
  const run = (script: string) =>
    // stdin closed: bash reads ~/.bashrc when its stdin looks like a remote shell's socket.
    spawnSync(shell, ['-c', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const before = JSON.parse(run(dump).stdout) as Record<string, string>;
  const after = run(`set -a; . ./.env.example; set +a; ${dump}`);
  const env = after.status === 0 ? (JSON.parse(after.stdout) as Record<string, string>) : {};
  for (const name of Object.keys(before)) {
    if (before[name] === env[name]) Reflect.deleteProperty(env, name);
  }
  return { env, stderr: after.stderr, status: after.status };
}

describe('.env.example', () => {
  it.each(['bash', 'sh'])('when sourced with set -a in %s, then every line loads and the names are exactly the config schema', (shell) => {
    const { env, stderr, status } = sourced(shell);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    // Nothing is silently dropped (a line the shell cannot parse stops the rest of the file).
    expect(Object.keys(env).sort()).toEqual([...assigned].sort());
    // Every variable the config reads is set or shown commented out, and nothing else is.
    expect([...assigned, ...commentedOut].sort()).toEqual([...CONFIG_KEYS].sort());
    expect(env.MAIL_FROM).toBe('Incident Tracker <no-reply@localhost>');
    // And the values form a valid development configuration.
    expect(loadConfig(env, () => undefined).mail.from).toBe('Incident Tracker <no-reply@localhost>');
  });
});
