/**
 * OpenTelemetry set-up, loaded before the app with `node --import` (see the `dev` and `start`
 * scripts): the loader hook has to be registered, and the SDK started, before express, pg and
 * ioredis are imported, or they run unpatched.
 *
 * Telemetry is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Off means nothing is registered or
 * exported and the SDK is not even loaded, so start-up stays fast. An invalid environment is left
 * for main.ts to report.
 */
import { register } from 'node:module';
import { ConfigError, loadConfig, type Config } from './config.js';
import { INSTRUMENTED_PACKAGES } from './platform/telemetry/lifecycle.js';

function readConfig(): Config | null {
  try {
    // Warnings (a generated SESSION_SECRET) are main.ts's to print, once.
    return loadConfig(process.env, () => undefined);
  } catch (err) {
    if (err instanceof ConfigError) return null;
    throw err;
  }
}

const config = readConfig();
const endpoint = config?.telemetry.otlpEndpoint;
if (config && endpoint) {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: [...INSTRUMENTED_PACKAGES] } });
  const { otlpExport, startTelemetry } = await import('./platform/telemetry/sdk.js');
  startTelemetry({ serviceName: config.telemetry.serviceName, environment: config.env, ...otlpExport(endpoint, config.telemetry.otlpProtocol) });
}
