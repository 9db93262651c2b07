import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { REPO_ROOT } from '../../resilience/support/env.js';
import { autoFailoverBinDir } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the failover lane cannot run on this machine, or '' when it can. */
    haSkipReason: string;
  }
}

const PACKAGES = ['postgresql-15-auto-failover', 'pg-auto-failover-cli'];

function run(command: string, args: string[]): boolean {
  const res = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return res.status === 0;
}

/** Installs pg_auto_failover with apt when it is missing; returns why it is unavailable, or ''. */
function ensureAutoFailover(): string {
  if (autoFailoverBinDir() !== null) return '';
  if (spawnSync('apt-get', ['--version']).status !== 0) return `pg_auto_failover is not installed and apt-get is not available to install ${PACKAGES.join(', ')}`;
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true']).status === 0;
  if (!root && !sudo) return `pg_auto_failover is not installed and installing ${PACKAGES.join(', ')} needs root (or password-less sudo)`;
  const [command, prefix] = root ? ['apt-get', []] : ['sudo', ['apt-get']];
  process.stdout.write(`[ha] installing ${PACKAGES.join(', ')}\n`);
  const install = [...prefix, 'install', '-y', ...PACKAGES];
  if (!run(command, install) && !(run(command, [...prefix, 'update']) && run(command, install))) {
    return `apt-get could not install ${PACKAGES.join(', ')}`;
  }
  return autoFailoverBinDir() === null ? `${PACKAGES.join(', ')} installed, but pg_autoctl or the pgautofailover extension is still missing` : '';
}

/**
 * The failover lane runs the built server (`pnpm test:ha` builds it) against a pg_auto_failover
 * formation it starts itself. Where pg_auto_failover cannot be had, the lane is skipped with the
 * reason printed, never silently.
 */
export default function setup(project: TestProject): void {
  if (!existsSync(path.join(REPO_ROOT, 'dist/src/main.js'))) throw new Error('dist/src/main.js is missing: `pnpm test:ha` builds it first; run `pnpm build`');
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not on PATH');
  const reason = ensureAutoFailover();
  if (reason) process.stdout.write(`[ha] SKIPPED: ${reason}\n`);
  project.provide('haSkipReason', reason);
}
