import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpSink, type OtlpExport, type OtlpSink } from '../../../bench/lib/otlp-sink.js';
import type { OtlpProtocol } from '../../config.js';
import { otlpExport } from './sdk.js';

/** The bench's OTLP sink as the collector: it records each export and answers 200. */
let received: OtlpExport[] = [];
let collector: OtlpSink;
let endpoint = '';

beforeAll(async () => {
  collector = await startOtlpSink((r) => received.push(r));
  endpoint = `http://127.0.0.1:${String(collector.port)}/`;
});
afterAll(async () => {
  await collector.close();
});

async function exportOneSpan(protocol?: OtlpProtocol): Promise<OtlpExport> {
  received = [];
  const { spanProcessors } = otlpExport(endpoint, protocol);
  const provider = new BasicTracerProvider({ spanProcessors });
  provider.getTracer('sdk-test').startSpan('GET /v1/incidents').end();
  await provider.forceFlush();
  await provider.shutdown();
  expect(received).toHaveLength(1);
  return received[0] as OtlpExport;
}

describe('otlpExport', () => {
  it('sends batched spans as OTLP protobuf to <endpoint>/v1/traces by default', async () => {
    const got = await exportOneSpan();
    expect(got.path).toBe('/v1/traces');
    expect(got.contentType).toBe('application/x-protobuf');
    expect(got.body.includes(Buffer.from('GET /v1/incidents'))).toBe(true);
    expect(() => JSON.parse(got.body.toString('utf8')) as unknown).toThrow();
  });

  it('sends OTLP JSON when OTEL_EXPORTER_OTLP_PROTOCOL is http/json', async () => {
    const got = await exportOneSpan('http/json');
    expect(got.path).toBe('/v1/traces');
    expect(got.contentType).toBe('application/json');
    const body = JSON.parse(got.body.toString('utf8')) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] };
    expect(body.resourceSpans[0]?.scopeSpans[0]?.spans[0]?.name).toBe('GET /v1/incidents');
  });
});
