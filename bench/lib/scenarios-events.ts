import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, sleep, startChild, stopChild, type Child } from './children.js';
import { appPatch, proxyHeaders } from './flows.js';
import { runLoad, type LoadFigures } from './load.js';
import { loadSpec, probe, ProbeError, roundRatios, runMeasured, type Log, type VariantDef, type VariantResult } from './measure.js';
import type { BenchOptions } from './options.js';
import { LOG_DIR, ROOT } from './processes.js';
import { signInWithCsrf, type GroupResult, type Proc } from './scenarios.js';
import type { BenchData, TenantFixture, WriteIncident } from './setup.js';
import { median, round } from './stats.js';

/**
 * P11-P13: what committed events cost the writes that make them, and how soon they arrive.
 * Every variant PATCHes as P4 does (title and severity, so each PATCH records events), one
 * tenant per connection; the variants differ only in who listens to those tenants:
 *   P11/P12: 3 webhook endpoints per tenant (every event type), created through the API and
 *            delivered by the app's in-process workers to an HTTPS receiver that verifies each
 *            signature with `standardwebhooks`, against tenants with no endpoint;
 *   P13:     500 open `GET /v1/events/stream` streams over the tenants, against none.
 * The receiver and the stream clients run in a child process (bench/clients/event-clients.ts),
 * so their CPU is not the load generator's. Lag is arrival minus the event's `occurredAt`, the
 * request's clock reading taken before its transaction: an upper bound of commit-to-arrival (it
 * also holds the PATCH's own time before its commit), on the one clock of this machine.
 */

/** Tenants with webhook endpoints (P11/P12), with streams (P13), and with neither (both). */
const HOOK_TENANTS = range(80, 16);
const STREAM_TENANTS = range(49, 16);
const PLAIN_TENANTS = range(17, 16);
const ENDPOINTS_PER_TENANT = 3;
const STREAMS = 500;
const WRITE_INCIDENTS = 200;
/** How long the webhook backlog may take to drain after a round before the run is called broken. */
const DRAIN_TIMEOUT_MS = 120_000;

function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => from + k);
}

interface ClientStats {
  hooks: { received: number; verified: number; rejected: number; lagMs: LagSummary };
  streams: { open: number; ended: number; events: number; lagMs: LagSummary };
}

interface LagSummary {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * The receiver's TLS key pair, made before the app starts: production (which the bench runs)
 * delivers only to https, so the app gets the self-signed certificate as a trusted CA.
 */
let tls: { key: string; cert: string } | null = null;

/**
 * What the app needs to deliver to the bench's receiver: loopback allowed as a webhook target
 * (WEBHOOK_ALLOW_PRIVATE_NETWORKS) and the receiver's certificate trusted (NODE_EXTRA_CA_CERTS).
 */
export function eventsAppEnv(): Record<string, string> {
  if (!tls) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
    tls = { key: path.join(dir, 'key.pem'), cert: path.join(dir, 'cert.pem') };
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', tls.key, '-out', tls.cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
  }
  return { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', NODE_EXTRA_CA_CERTS: tls.cert };
}

/** The receiver/stream-client child and its control API. */
class EventClients {
  private constructor(
    readonly child: Child,
    readonly hookPort: number,
  ) {}

  static async start(): Promise<EventClients> {
    eventsAppEnv();
    if (!tls) throw new Error('no TLS key pair for the receiver');
    const port = await freePort();
    const hookPort = await freePort();
    const env: Record<string, string> = { PORT: String(port), HOOK_PORT: String(hookPort), TLS_KEY: tls.key, TLS_CERT: tls.cert };
    for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    const child = await startChild({ name: 'event-clients', args: ['--import', 'tsx', 'bench/clients/event-clients.ts'], env, port, logDir: LOG_DIR, cwd: ROOT, healthPath: '/health' });
    return new EventClients(child, hookPort);
  }

  private async call<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.child.port}${route}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(120_000),
    });
    if (res.status !== 200) throw new Error(`event clients: ${route} answered ${res.status}`);
    return (await res.json()) as T;
  }

  stats(): Promise<ClientStats> {
    return this.call('GET', '/stats');
  }

  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  async secrets(s: Record<string, string>): Promise<void> {
    await this.call('POST', '/secrets', s);
  }

  openStreams(url: string, streams: { apiKey: string; forwardedFor: string }[]): Promise<{ open: number; statuses: Record<string, number> }> {
    return this.call('POST', '/streams', { url, streams });
  }

  async closeStreams(): Promise<void> {
    await this.call('POST', '/close-streams');
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}

interface WriteSet {
  tenant: TenantFixture;
  incidents: WriteIncident[];
}

/** The first incidents of each tenant, which its connection cycles through (as P4's writers). */
async function writeSets(data: BenchData, indexes: number[]): Promise<WriteSet[]> {
  const tenants = indexes.map((i) => data.tenant(i));
  return withDb(data, async (c) => {
    const { rows } = await c.query<{ tenant_id: string; id: string; severity: string }>(
      'SELECT tenant_id::text, id::text, severity FROM incidents WHERE tenant_id = ANY($1::uuid[]) AND number <= $2 ORDER BY tenant_id, number',
      [tenants.map((t) => t.id), WRITE_INCIDENTS],
    );
    return tenants.map((tenant) => ({ tenant, incidents: rows.filter((r) => r.tenant_id === tenant.id).map((r) => ({ id: r.id, severity: r.severity })) }));
  });
}

async function withDb<T>(data: BenchData, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: data.databaseUrl, application_name: 'bench-harness' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Webhook work not done yet for `tenantIds`: pending deliveries plus endpoints whose cursor is
 * behind their tenant's last event (events not fanned out yet).
 */
async function backlog(c: pg.Client, tenantIds: string[]): Promise<number> {
  const { rows } = await c.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM webhook_deliveries WHERE tenant_id = ANY($1::uuid[]) AND status = 'pending')::int
          + (SELECT count(*) FROM webhook_endpoints e WHERE e.tenant_id = ANY($1::uuid[]) AND e.enabled
               AND e.cursor_seq < (SELECT coalesce(max(seq), 0) FROM events ev WHERE ev.tenant_id = e.tenant_id))::int AS n`,
    [tenantIds],
  );
  return rows[0]?.n ?? 0;
}

/** Waits until every event of the tenants is delivered; returns how long that took (s). */
async function drainWebhooks(data: BenchData, tenantIds: string[]): Promise<number> {
  const t0 = Date.now();
  return withDb(data, async (c) => {
    for (;;) {
      if ((await backlog(c, tenantIds)) === 0) return (Date.now() - t0) / 1000;
      if (Date.now() - t0 > DRAIN_TIMEOUT_MS) throw new ProbeError(`webhook deliveries did not drain within ${DRAIN_TIMEOUT_MS / 1000} s`);
      await sleep(100);
    }
  });
}

/**
 * Gives each hook tenant 3 endpoints (every event type) through the API, by its owner's session,
 * pointing at the receiver; the endpoints of an earlier run (a reused database) are deleted first.
 */
async function createEndpoints(data: BenchData, appPort: number, clients: EventClients, tenants: TenantFixture[]): Promise<void> {
  await withDb(data, async (c) => {
    const ids = tenants.map((t) => t.id);
    await c.query('DELETE FROM webhook_delivery_attempts WHERE tenant_id = ANY($1::uuid[])', [ids]);
    await c.query('DELETE FROM webhook_deliveries WHERE tenant_id = ANY($1::uuid[])', [ids]);
    await c.query('DELETE FROM webhook_endpoint_secrets WHERE tenant_id = ANY($1::uuid[])', [ids]);
    await c.query('DELETE FROM webhook_endpoints WHERE tenant_id = ANY($1::uuid[])', [ids]);
  });
  const secrets: Record<string, string> = {};
  for (const t of tenants) {
    const { cookie, csrfToken } = await signInWithCsrf(appPort, t.ownerEmail, data.password, t.id);
    for (let k = 0; k < ENDPOINTS_PER_TENANT; k++) {
      const key = `${t.index}-${k}`;
      const res = await fetch(`http://127.0.0.1:${appPort}/v1/tenants/${t.id}/webhook-endpoints`, {
        method: 'POST',
        headers: { ...proxyHeaders(0), 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
        body: JSON.stringify({ url: `https://127.0.0.1:${clients.hookPort}/hook/${key}`, eventTypes: ['*'], description: 'bench receiver' }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { secret?: string; error?: { code?: string; message?: string } };
      if (res.status !== 201 || !body.secret) throw new ProbeError(`POST webhook-endpoints answered ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`);
      secrets[key] = body.secret;
    }
  }
  await clients.secrets(secrets);
}

function describe(f: LoadFigures): string {
  const cpu = f.cpu ? `; CPU ms/req: process ${f.cpu.variantMs?.toFixed(2) ?? '?'}, db ${f.cpu.dbMs.toFixed(2)}, load gen ${f.cpu.loadGenMs.toFixed(2)}` : '';
  const bad = f.non2xx + f.errors > 0 ? ` (non-2xx ${f.non2xx}, errors ${f.errors})` : '';
  return `${f.reqPerSec.toFixed(0)} req/s, p50 ${f.latencyMs.p50.toFixed(2)} ms, p99 ${f.latencyMs.p99.toFixed(2)} ms${bad}${cpu}`;
}

/**
 * Interleaved rounds of two variants; `before`/`after` run around every round of the first
 * (open streams, drain the webhook backlog) outside the measured time.
 */
async function interleave(
  opts: BenchOptions,
  label: string,
  variants: [VariantDef, VariantDef],
  hooks: { before: () => Promise<void>; after: () => Promise<void> },
  log: Log,
): Promise<VariantResult[]> {
  const results: VariantResult[] = variants.map((v) => ({ key: v.key, name: v.name, rounds: [], medianReqPerSec: Number.NaN }));
  for (const [i, v] of variants.entries()) {
    if (i === 0) await hooks.before();
    const w = await runLoad(loadSpec(opts, v, opts.warmupSeconds));
    if (i === 0) await hooks.after();
    log(`  ${label} warm-up ${v.name}: ${describe(w)}`);
  }
  for (let r = 0; r < opts.rounds; r++) {
    for (const [i, v] of variants.entries()) {
      if (i === 0) await hooks.before();
      const f = await runMeasured(loadSpec(opts, v, opts.roundSeconds), v.pid);
      if (i === 0) await hooks.after();
      results[i]?.rounds.push(f);
      log(`  ${label} round ${r + 1}/${opts.rounds} ${v.name}: ${describe(f)}`);
    }
  }
  for (const res of results) res.medianReqPerSec = median(res.rounds.map((f) => f.reqPerSec));
  return results;
}

/** The fixed-rate pass at half the listened-to variant's maximum (P12, P13's lag). */
function halfRate(results: VariantResult[]): number {
  return Math.max(1, Math.round((results[0]?.medianReqPerSec ?? 0) * 0.5));
}

/** P11 (PATCH with 3 webhook endpoints per tenant / without) and P12 (delivery lag p99 / PATCH p99 at half that maximum). */
export async function webhooksGroup(opts: BenchOptions, data: BenchData, app: Proc, log: Log): Promise<GroupResult> {
  const clients = await EventClients.start();
  try {
    const hookSets = await writeSets(data, HOOK_TENANTS);
    const plainSets = await writeSets(data, PLAIN_TENANTS);
    const hookIds = hookSets.map((s) => s.tenant.id);
    await createEndpoints(data, app.port, clients, hookSets.map((s) => s.tenant));
    log(`  P11: ${hookSets.length} tenants x ${ENDPOINTS_PER_TENANT} endpoints (every event type) -> https receiver on 127.0.0.1:${clients.hookPort}`);
    const hooked: VariantDef = { key: 'hooks', name: 'App PATCH, 3 webhook endpoints', port: app.port, requests: appPatch(hookSets, opts.connections), pid: app.pid };
    const plain: VariantDef = { key: 'plain', name: 'App PATCH, no endpoints', port: app.port, requests: appPatch(plainSets, opts.connections), pid: app.pid };
    await probe(hooked);
    await probe(plain);
    const drainSec: number[] = [];
    const deliveredPerSec: number[] = [];
    let receivedBefore = 0;
    let roundStart = 0;
    const results = await interleave(
      opts,
      'P11',
      [hooked, plain],
      {
        before: async () => {
          await drainWebhooks(data, hookIds);
          receivedBefore = (await clients.stats()).hooks.received;
          roundStart = Date.now();
        },
        // Delivery must keep up, or its cost would land in the next round: the backlog drains first.
        after: async () => {
          const during = ((await clients.stats()).hooks.received - receivedBefore) / ((Date.now() - roundStart) / 1000);
          deliveredPerSec.push(round(during, 1));
          drainSec.push(round(await drainWebhooks(data, hookIds), 2));
        },
      },
      log,
    );
    log(`  P11 deliveries/s during the rounds: ${deliveredPerSec.join(', ')}; backlog drained after each in ${drainSec.join(', ')} s`);

    // P12: the listened-to PATCH at half its maximum; every delivery's lag, the backlog included.
    const rate = halfRate(results);
    await drainWebhooks(data, hookIds);
    await clients.reset();
    const fixed = await runLoad(loadSpec(opts, hooked, opts.fixedRateSeconds, rate));
    const tail = await drainWebhooks(data, hookIds);
    const stats = await clients.stats();
    const hookedRes = results[0];
    if (hookedRes) hookedRes.fixedRate = fixed;
    const lag = stats.hooks.lagMs;
    log(
      `  P12 fixed rate ${rate}/s: PATCH ${describe(fixed)}; delivery lag p50 ${lag.p50 ?? '?'} ms, p99 ${lag.p99 ?? '?'} ms, max ${lag.max ?? '?'} ms over ${lag.n} deliveries (drained ${tail.toFixed(1)} s after the load)`,
    );
    if (stats.hooks.rejected > 0) throw new ProbeError(`${stats.hooks.rejected} deliveries did not verify with standardwebhooks`);
    if (lag.p99 === null) throw new ProbeError('no webhook delivery arrived in the fixed-rate pass');
    const p12 = lag.p99 / fixed.latencyMs.p99;
    return {
      variants: results,
      ratios: { P11: roundRatios(results, 'hooks', 'plain'), P12: { perRound: [p12], median: p12 } },
      extra: {
        endpointsPerTenant: ENDPOINTS_PER_TENANT,
        tenants: hookSets.length,
        deliveriesPerSecDuringRounds: deliveredPerSec,
        backlogDrainSec: drainSec,
        fixedRate: rate,
        deliveryLagMs: lag,
        patchP99Ms: fixed.latencyMs.p99,
        deliveries: stats.hooks,
      },
    };
  } finally {
    await clients.stop();
  }
}

/** P13: PATCH with 500 open event streams over the tenants / with none; fan-out lag p99 / PATCH p99 beside it. */
export async function streamsGroup(opts: BenchOptions, data: BenchData, app: Proc, log: Log): Promise<GroupResult> {
  const clients = await EventClients.start();
  try {
    const streamSets = await writeSets(data, STREAM_TENANTS);
    const plainSets = await writeSets(data, PLAIN_TENANTS);
    // API.md caps a tenant at 100 open streams, so the 500 are spread over the writers' tenants.
    const specs = Array.from({ length: STREAMS }, (_, i) => {
      const set = streamSets[i % streamSets.length];
      if (!set) throw new Error('no stream tenant');
      return { apiKey: set.tenant.apiKey, forwardedFor: `198.18.1.${(i % 250) + 1}` };
    });
    const url = `http://127.0.0.1:${app.port}/v1/events/stream`;
    const open = async (): Promise<void> => {
      const r = await clients.openStreams(url, specs);
      if (r.open !== STREAMS) throw new ProbeError(`${r.open} of ${STREAMS} event streams opened (statuses ${JSON.stringify(r.statuses)})`);
    };
    log(`  P13: ${STREAMS} event streams over ${streamSets.length} tenants (about ${Math.round(STREAMS / streamSets.length)} per tenant), opened before each round of that variant`);
    const streamed: VariantDef = { key: 'streams', name: `App PATCH, ${STREAMS} open streams`, port: app.port, requests: appPatch(streamSets, opts.connections), pid: app.pid };
    const plain: VariantDef = { key: 'plain', name: 'App PATCH, no streams', port: app.port, requests: appPatch(plainSets, opts.connections), pid: app.pid };
    await probe(streamed);
    await probe(plain);
    let dropped = 0;
    const results = await interleave(opts, 'P13', [streamed, plain], {
      before: open,
      after: async () => {
        const s = await clients.stats();
        dropped += STREAMS - s.streams.open;
        await clients.closeStreams();
      },
    }, log);
    if (dropped > 0) log(`  P13: ${dropped} streams ended during the rounds (the app closes a stream whose client falls behind)`);

    const rate = halfRate(results);
    await open();
    await clients.reset();
    const before = (await clients.stats()).streams.events;
    const fixed = await runLoad(loadSpec(opts, streamed, opts.fixedRateSeconds, rate));
    await sleep(1000);
    const stats = await clients.stats();
    await clients.closeStreams();
    const streamedRes = results[0];
    if (streamedRes) streamedRes.fixedRate = fixed;
    const lag = stats.streams.lagMs;
    log(
      `  P13 fixed rate ${rate}/s: PATCH ${describe(fixed)}; fan-out lag p50 ${lag.p50 ?? '?'} ms, p99 ${lag.p99 ?? '?'} ms, max ${lag.max ?? '?'} ms over ${stats.streams.events - before} stream events`,
    );
    if (lag.p99 === null) throw new ProbeError('no stream event arrived in the fixed-rate pass');
    return {
      variants: results,
      ratios: { P13: roundRatios(results, 'streams', 'plain') },
      extra: {
        streams: STREAMS,
        tenants: streamSets.length,
        streamsEndedDuringRounds: dropped,
        fixedRate: rate,
        fanOutLagMs: lag,
        patchP99Ms: fixed.latencyMs.p99,
        fanOutLagOverPatchP99: round(lag.p99 / fixed.latencyMs.p99, 3),
        streamEvents: stats.streams.events - before,
      },
    };
  } finally {
    await clients.stop();
  }
}
