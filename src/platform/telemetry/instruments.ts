import { metrics, type Histogram, type MeterProvider, type MetricOptions } from '@opentelemetry/api';

/**
 * A histogram of whichever meter provider is registered when it is used. The API hands out no-op
 * meters until an SDK registers one, so an instrument made at import time would stay a no-op;
 * this one is (re)made when the provider changes.
 */
export function histogramOf(scope: string, name: string, options: MetricOptions): () => Histogram {
  let cached: { provider: MeterProvider; histogram: Histogram } | null = null;
  return () => {
    const provider = metrics.getMeterProvider();
    if (cached?.provider !== provider) cached = { provider, histogram: provider.getMeter(scope).createHistogram(name, options) };
    return cached.histogram;
  };
}
