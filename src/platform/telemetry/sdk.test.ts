import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpExport } from './sdk.js';

interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

/** A collector stand-in: records each POST and answers 200 with an empty export response. */
let received: Received[] = [];
let endpoint = '';
const collector = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const contentType = req.headers['content-type'] ?? '';
    received.push({ path: req.url ?? '', contentType, body: Buffer.concat(chunks) });
    res.writeHead(200, { 'content-type': contentType });
    res.end(contentType.includes('json') ? '{}' : '');
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${String((collector.address() as AddressInfo).port)}/`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => collector.close(() => { resolve(); }));
});

async function exportOneSpan(protocol?: 'http/protobuf' | 'http/json'): Promise<Received> {
  received = [];
  const { spanProcessors } = otlpExport(endpoint, protocol);
  const provider = new BasicTracerProvider({ spanProcessors });
  provider.getTracer('sdk-test').startSpan('GET /v1/incidents').end();
  await provider.forceFlush();
  await provider.shutdown();
  expect(received).toHaveLength(1);
  return received[0] as Received;
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
