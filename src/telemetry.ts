/**
 * OpenTelemetry set-up, loaded before the app with `node --import` (see the `dev` and `start`
 * scripts), so that the SDK is registered before the app is built: the app traces its requests
 * only when it finds the SDK running (src/platform/telemetry/http.ts).
 *
 * Telemetry is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Off means nothing is registered or
 * exported and the SDK is not even loaded, so start-up stays fast. An invalid environment is left
 * for main.ts to report.
 */
import { ConfigError, loadConfig, type Config } from './config.js';

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
  const { otlpExport, startTelemetry } = await import('./platform/telemetry/sdk.js');
  startTelemetry({ serviceName: config.telemetry.serviceName, environment: config.env, ...otlpExport(endpoint, config.telemetry.otlpProtocol) });
}
