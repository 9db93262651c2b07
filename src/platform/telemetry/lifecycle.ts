let shutdownHook: (() => Promise<void>) | null = null;

/** Called by the SDK set-up; kept apart from it so `main.ts` need not load the SDK when it is off. */
export function setTelemetryShutdown(hook: () => Promise<void>): void {
  shutdownHook = hook;
}

/** True once the SDK has started (and until it is shut down): the app then traces its requests. */
export function telemetryRunning(): boolean {
  return shutdownHook !== null;
}

/** Flushes buffered spans and metrics and stops the SDK; a no-op when telemetry is off. */
export async function shutdownTelemetry(): Promise<void> {
  const hook = shutdownHook;
  shutdownHook = null;
  if (hook) await hook();
}
