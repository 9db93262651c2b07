import { metrics, type Histogram, type Meter, type MetricOptions } from '@opentelemetry/api';

/**
 * Instruments made from whichever meter provider is registered when they are used. The API hands
 * out no-op meters until an SDK registers one, so instruments made at import time would stay
 * no-ops; these are (re)made by `make` when the provider changes, and reused until it does.
 */
export function perMeterProvider<T>(scope: string, make: (meter: Meter) => T): () => T {
  let cached: { provider: unknown; value: T } | null = null;
  return () => {
    const provider = metrics.getMeterProvider();
    if (cached?.provider !== provider) cached = { provider, value: make(provider.getMeter(scope)) };
    return cached.value;
  };
}

/** One histogram, as `perMeterProvider` makes it. */
export function histogramOf(scope: string, name: string, options: MetricOptions): () => Histogram {
  return perMeterProvider(scope, (meter) => meter.createHistogram(name, options));
}
