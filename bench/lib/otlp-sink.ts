import http from 'node:http';

/**
 * A tiny OTLP/HTTP receiver on 127.0.0.1: accepts every POST, counts it, answers 200 with an
 * empty export response (protobuf or JSON, matching the request). It lets P6 measure the cost of
 * producing and exporting telemetry without any collector in the picture; the telemetry unit
 * tests use it (with `onExport`) as the collector their exporter talks to.
 */
export interface OtlpExport {
  path: string;
  contentType: string;
  body: Buffer;
}

export interface OtlpSink {
  port: number;
  stats: { requests: number; bytes: number; byPath: Record<string, number> };
  close(): Promise<void>;
}

/** `onExport` sees every request whole; without it bodies are only counted, never kept. */
export function startOtlpSink(onExport?: (received: OtlpExport) => void): Promise<OtlpSink> {
  const stats: OtlpSink['stats'] = { requests: 0, bytes: 0, byPath: {} };
  const server = http.createServer((req, res) => {
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (onExport) chunks.push(chunk);
    });
    req.on('end', () => {
      stats.requests++;
      stats.bytes += bytes;
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
      const contentType = req.headers['content-type'] ?? '';
      onExport?.({ path, contentType, body: Buffer.concat(chunks) });
      const json = contentType.includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : '');
    });
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (!addr || typeof addr !== 'object') {
        reject(new Error('sink has no port'));
        return;
      }
      resolve({
        port: addr.port,
        stats,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => {
              done();
            });
          }),
      });
    });
  });
}
