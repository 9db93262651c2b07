import { fileURLToPath } from 'node:url';

/** Every scenario targets this machine only: servers bind here and clients connect here. */
export const HOST = '127.0.0.1';

/** The repository root (the built server runs from here, as `pnpm start` does). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** PostgreSQL as a superuser, for creating, inspecting, faulting and dropping scenario databases. */
export const PG_ADMIN_URL = process.env.RESILIENCE_PG_ADMIN_URL ?? `postgres://postgres@${HOST}:5432/postgres`;

const pgHost = new URL(PG_ADMIN_URL).hostname;
if (pgHost !== HOST) throw new Error(`the resilience suite only targets ${HOST}, not ${pgHost}`);

/** The application_name the app's pool connects with (src/platform/db/postgres.ts). */
export const APP_APPLICATION_NAME = 'incident-tracker-api';

/** Measured latencies and recovery times, printed so the CI log records them. */
export function report(scenario: string, values: Record<string, number | string>): void {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? `${Math.round(v)}ms` : v}`);
  process.stdout.write(`[resilience] ${scenario}: ${parts.join(' ')}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Thrown by a probe to stop waiting at once (the process being waited for has exited). */
export class GiveUp extends Error {}

/**
 * Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes. Every wait in the
 * suite goes through here, so no loop is unbounded. A probe that throws is retried, unless it
 * throws `GiveUp`.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
