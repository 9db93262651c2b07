/**
 * The packages the SDK instruments that the app imports as ES modules. `src/telemetry.ts` limits
 * the import-in-the-middle loader hook to them (every other module loads untouched), and the
 * telemetry tests load them through `require` so the require hook patches them.
 */
export const INSTRUMENTED_PACKAGES = ['express', 'pg', 'ioredis'] as const;

let shutdownHook: (() => Promise<void>) | null = null;

/** Called by the SDK set-up; kept apart from it so `main.ts` need not load the SDK when it is off. */
export function setTelemetryShutdown(hook: () => Promise<void>): void {
  shutdownHook = hook;
}

/** Flushes buffered spans and metrics and stops the SDK; a no-op when telemetry is off. */
export async function shutdownTelemetry(): Promise<void> {
  const hook = shutdownHook;
  shutdownHook = null;
  if (hook) await hook();
}
