import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import { stopWithHarness } from '../baselines/common.js';

/**
 * The other end of P11-P13, in a process of its own so that its work (TLS, signature checks, 500
 * stream parsers) never takes the load generator's CPU: an HTTPS webhook receiver that verifies
 * every delivery with `standardwebhooks` (the reference library, as the tests do), and up to any
 * number of Server-Sent Events clients of `GET /v1/events/stream`. Both record, per event that
 * arrives, its lag: arrival minus the event's `occurredAt` (same machine, same clock).
 *
 * Started by bench/lib/scenarios-events.ts with PORT (the control API, plain http), HOOK_PORT
 * (the receiver, https), TLS_KEY and TLS_CERT (files); driven over the control API:
 *   POST /secrets  {"<hook key>": "whsec_..."}        the secret each /hook/<key> verifies with
 *   POST /streams  {"url", "streams": [{"apiKey", "forwardedFor"}]}  opens them; answers once each has its 200
 *   POST /close-streams, POST /reset (clears the samples), GET /stats
 */

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

class Samples {
  private values: number[] = [];
  add(v: number): void {
    this.values.push(v);
  }
  clear(): void {
    this.values = [];
  }
  summary(): { n: number; p50: number | null; p99: number | null; max: number | null } {
    const sorted = Float64Array.from(this.values).sort();
    const at = (p: number): number | null => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null) : null);
    return { n: sorted.length, p50: at(50), p99: at(99), max: sorted.length ? (sorted[sorted.length - 1] ?? null) : null };
  }
}

/** Milliseconds since the event's `occurredAt`, read without parsing the whole body. */
function lagOf(text: string, now: number): number | null {
  const i = text.indexOf('"occurredAt":"');
  if (i === -1) return null;
  const at = Date.parse(text.slice(i + 14, i + 38));
  return Number.isFinite(at) ? now - at : null;
}

const hookPort = Number(requiredEnv('HOOK_PORT'));
const hooks = { received: 0, verified: 0, rejected: 0, lag: new Samples() };
const secrets = new Map<string, Webhook>();

const receiver = https.createServer({ key: readFileSync(requiredEnv('TLS_KEY')), cert: readFileSync(requiredEnv('TLS_CERT')) }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const body = Buffer.concat(chunks).toString('utf8');
    const key = (req.url ?? '').replace(/^\/hook\//, '');
    hooks.received += 1;
    try {
      const wh = secrets.get(key);
      if (!wh) throw new Error('no secret for this hook');
      wh.verify(body, {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      });
      hooks.verified += 1;
      const lag = lagOf(body, now);
      if (lag !== null) hooks.lag.add(lag);
      res.writeHead(200).end('ok');
    } catch {
      // Answered 400: a delivery that does not verify is a failure the app must retry and report.
      hooks.rejected += 1;
      res.writeHead(400).end('signature does not verify');
    }
  });
});
receiver.keepAliveTimeout = 30_000;

interface StreamSpec {
  apiKey: string;
  forwardedFor: string;
}

const streams = { open: 0, ended: 0, events: 0, lag: new Samples(), requests: new Set<http.ClientRequest>() };
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function openStream(url: string, spec: StreamSpec): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers: { accept: 'text/event-stream', 'x-api-key': spec.apiKey, 'x-forwarded-for': spec.forwardedFor, 'x-forwarded-proto': 'https' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        streams.requests.delete(req);
        resolve(res.statusCode ?? 0);
        return;
      }
      streams.open += 1;
      res.setEncoding('utf8');
      let rest = '';
      res.on('data', (chunk: string) => {
        const now = Date.now();
        const text = rest + chunk;
        const cut = text.lastIndexOf('\n');
        rest = text.slice(cut + 1);
        for (const line of text.slice(0, cut).split('\n')) {
          if (!line.startsWith('data: ')) continue;
          streams.events += 1;
          const lag = lagOf(line, now);
          if (lag !== null) streams.lag.add(lag);
        }
      });
      res.on('close', () => {
        streams.open -= 1;
        streams.ended += 1;
        streams.requests.delete(req);
      });
      resolve(200);
    });
    req.on('error', () => {
      streams.requests.delete(req);
      resolve(0);
    });
    streams.requests.add(req);
  });
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch (err) {
        reject(err instanceof Error ? err : new Error('bad JSON'));
      }
    });
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const control = http.createServer((req, res) => {
  const route = `${req.method ?? 'GET'} ${req.url ?? '/'}`;
  void (async () => {
    if (route === 'GET /health') { send(res, 200, { status: 'ok', hookPort }); return; }
    if (route === 'GET /stats') {
      send(res, 200, {
        hooks: { received: hooks.received, verified: hooks.verified, rejected: hooks.rejected, lagMs: hooks.lag.summary() },
        streams: { open: streams.open, ended: streams.ended, events: streams.events, lagMs: streams.lag.summary() },
      }); return;
    }
    if (route === 'POST /reset') {
      hooks.lag.clear();
      streams.lag.clear();
      send(res, 200, {}); return;
    }
    if (route === 'POST /secrets') {
      for (const [key, secret] of Object.entries((await readJson(req)) as Record<string, string>)) secrets.set(key, new Webhook(secret));
      send(res, 200, { hooks: secrets.size }); return;
    }
    if (route === 'POST /streams') {
      const body = (await readJson(req)) as { url: string; streams: StreamSpec[] };
      const statuses: Record<string, number> = {};
      // A few at a time: the app's stream set-up (a slot, a credential check) is not what is measured.
      for (let i = 0; i < body.streams.length; i += 25) {
        const batch = await Promise.all(body.streams.slice(i, i + 25).map((s) => openStream(body.url, s)));
        for (const status of batch) statuses[status] = (statuses[status] ?? 0) + 1;
      }
      send(res, 200, { open: streams.open, statuses }); return;
    }
    if (route === 'POST /close-streams') {
      for (const r of [...streams.requests]) r.destroy();
      streams.requests.clear();
      send(res, 200, {}); return;
    }
    send(res, 404, { error: 'not found' });
  })().catch((err: unknown) => {
    send(res, 500, { error: err instanceof Error ? err.message : 'error' });
  });
});

receiver.listen(hookPort, '127.0.0.1');
control.listen(Number(requiredEnv('PORT')), '127.0.0.1');

const stop = (): void => {
  for (const r of streams.requests) r.destroy();
  receiver.closeAllConnections();
  control.closeAllConnections();
  process.exit(0);
};
stopWithHarness(stop);
