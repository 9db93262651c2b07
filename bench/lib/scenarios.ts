import { verify } from '@node-rs/argon2';
import { sleep } from './children.js';
import { appListByKey, appListBySession, appPatch, baselineList, baselinePatch, loginFlood, newLoginCounters, proxyHeaders, sessionCookieFrom } from './flows.js';
import { runLoad, startLoad, type LoadFigures } from './load.js';
import { loadSpec, measureVariants, probe, runMeasured, ProbeError, roundRatios, type Log, type VariantDef, type VariantResult } from './measure.js';
import type { BenchOptions } from './options.js';
import type { BenchData } from './setup.js';
import { median } from './stats.js';

export interface Ratio {
  perRound: number[];
  median: number;
}

export interface GroupResult {
  variants: VariantResult[];
  ratios: Record<string, Ratio>;
  extra?: Record<string, unknown>;
}

const LIST_ROWS = 25;

export interface Proc {
  port: number;
  pid: number;
}

/** P1, P2 (and P9, P10 from the same run): B0, B1 and the app by API key, interleaved. */
export async function listGroup(opts: BenchOptions, data: BenchData, procs: { b0: Proc; b1: Proc; app: Proc }, log: Log): Promise<GroupResult> {
  const variants: VariantDef[] = [
    { key: 'b0', name: 'B0 bare SELECT', port: procs.b0.port, requests: baselineList(data.listTenants), pid: procs.b0.pid, expectRows: LIST_ROWS },
    { key: 'b1', name: 'B1 bare tenant tx', port: procs.b1.port, requests: baselineList(data.listTenants), pid: procs.b1.pid, expectRows: LIST_ROWS },
    { key: 'app', name: 'App GET by API key', port: procs.app.port, requests: appListByKey(data.listTenants), pid: procs.app.pid, expectRows: LIST_ROWS },
  ];
  const results = await measureVariants(opts, 'P1/P2', variants, log);
  return { variants: results, ratios: { P1: roundRatios(results, 'app', 'b1'), P2: roundRatios(results, 'app', 'b0') } };
}

/** Signs a user in through the app as a browser behind the TLS proxy would; returns the cookie pair. */
export async function signIn(port: number, email: string, password: string, tenantId: string): Promise<string> {
  return (await signInWithCsrf(port, email, password, tenantId)).cookie;
}

/** signIn, with the session's CSRF token (what a state-changing request by session also sends). */
export async function signInWithCsrf(port: number, email: string, password: string, tenantId: string): Promise<{ cookie: string; csrfToken: string }> {
  const base = `http://127.0.0.1:${port}`;
  const headers = proxyHeaders(0);
  const me = await fetch(`${base}/v1/auth/me`, { headers, signal: AbortSignal.timeout(10_000) });
  const meBody = (await me.json()) as { csrfToken?: string };
  const anon = sessionCookieFrom(me.headers.getSetCookie());
  if (me.status !== 200 || !anon || !meBody.csrfToken) throw new ProbeError(`GET /v1/auth/me answered ${me.status} without a session cookie`);
  const login = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', cookie: anon, 'x-csrf-token': meBody.csrfToken },
    body: JSON.stringify({ email, password }),
    signal: AbortSignal.timeout(10_000),
  });
  const loginBody = (await login.json()) as { csrfToken?: string; activeTenant?: { id?: string } | null; error?: { code?: string } };
  const cookie = sessionCookieFrom(login.headers.getSetCookie());
  if (login.status !== 200 || !cookie || !loginBody.csrfToken) {
    throw new ProbeError(`POST /v1/auth/login answered ${login.status} ${loginBody.error?.code ?? ''}${cookie ? '' : ' (no Set-Cookie)'}`);
  }
  if (loginBody.activeTenant?.id !== tenantId) {
    const sw = await fetch(`${base}/v1/tenants/${tenantId}/switch`, {
      method: 'POST',
      headers: { ...headers, cookie, 'x-csrf-token': loginBody.csrfToken },
      signal: AbortSignal.timeout(10_000),
    });
    await sw.arrayBuffer();
    if (sw.status !== 200) throw new ProbeError(`POST /v1/tenants/:id/switch answered ${sw.status}`);
  }
  return { cookie, csrfToken: loginBody.csrfToken };
}

/** P3: the same list by session cookie (Redis store) against by API key. */
export async function sessionGroup(opts: BenchOptions, data: BenchData, appPort: number, appPid: number, log: Log): Promise<GroupResult> {
  const cookies: string[] = [];
  for (const t of data.listTenants) cookies.push(await signIn(appPort, t.ownerEmail, data.password, t.id));
  const variants: VariantDef[] = [
    { key: 'key', name: 'App GET by API key', port: appPort, requests: appListByKey(data.listTenants), pid: appPid, expectRows: LIST_ROWS },
    { key: 'session', name: 'App GET by session', port: appPort, requests: appListBySession(cookies), pid: appPid, expectRows: LIST_ROWS },
  ];
  const results = await measureVariants(opts, 'P3', variants, log);
  return { variants: results, ratios: { P3: roundRatios(results, 'session', 'key') } };
}

/**
 * P4: the app's PATCH against B4, the same transaction on bare node:http (the same request, so the
 * same flow); P4d: B4 against the bare UPDATE.
 */
export async function writeGroup(opts: BenchOptions, data: BenchData, procs: { bUpdate: Proc; b4: Proc; app: Proc }, log: Log): Promise<GroupResult> {
  const variants: VariantDef[] = [
    { key: 'bupdate', name: 'B-update bare UPDATE', port: procs.bUpdate.port, requests: baselinePatch(data.writeTenants, opts.connections), pid: procs.bUpdate.pid },
    { key: 'b4', name: 'B4 bare PATCH transaction', port: procs.b4.port, requests: appPatch(data.writeTenants, opts.connections), pid: procs.b4.pid },
    { key: 'app', name: 'App PATCH by API key', port: procs.app.port, requests: appPatch(data.writeTenants, opts.connections), pid: procs.app.pid },
  ];
  const results = await measureVariants(opts, 'P4/P4d', variants, log);
  return {
    variants: results,
    ratios: { P4: roundRatios(results, 'app', 'b4'), P4d: roundRatios(results, 'b4', 'bupdate') },
    extra: { writeTenants: data.writeTenants.length },
  };
}

/** P5: the page at depth 100,000 of the big tenant (keyset cursor) against its first page. */
export async function deepPageGroup(opts: BenchOptions, data: BenchData, appPort: number, appPid: number, log: Log): Promise<GroupResult> {
  const big = [data.bigTenant];
  const variants: VariantDef[] = [
    { key: 'page1', name: 'App page 1 (big tenant)', port: appPort, requests: appListByKey(big), pid: appPid, expectRows: LIST_ROWS },
    {
      key: 'deep',
      name: 'App page at depth 100,000',
      port: appPort,
      requests: appListByKey(big, `?cursor=${encodeURIComponent(data.deepCursor)}`),
      pid: appPid,
      expectRows: LIST_ROWS,
    },
  ];
  const results = await measureVariants(opts, 'P5', variants, log);
  return { variants: results, ratios: { P5: roundRatios(results, 'deep', 'page1') } };
}

/** P6: the app with OpenTelemetry exporting to a local sink against the app without it. */
export async function telemetryGroup(
  opts: BenchOptions,
  data: BenchData,
  off: { port: number; pid: number },
  on: { port: number; pid: number },
  sinkRequests: () => number,
  log: Log,
): Promise<GroupResult> {
  const variants: VariantDef[] = [
    { key: 'off', name: 'App, telemetry off', port: off.port, requests: appListByKey(data.listTenants), pid: off.pid, expectRows: LIST_ROWS },
    { key: 'on', name: 'App, telemetry on', port: on.port, requests: appListByKey(data.listTenants), pid: on.pid, expectRows: LIST_ROWS },
  ];
  const before = sinkRequests();
  const results = await measureVariants(opts, 'P6', variants, log);
  const exports = sinkRequests() - before;
  return { variants: results, ratios: { P6: roundRatios(results, 'on', 'off') }, extra: { otlpExportRequests: exports } };
}

/** One browser-style login (GET /v1/auth/me, then POST /v1/auth/login) must succeed before a flood. */
async function probeLogin(port: number, data: BenchData): Promise<void> {
  const email = data.loginEmails[0];
  if (!email) throw new Error('no login users');
  await tenantOfLogin(port, email, data.password);
}

/** The active tenant a login picks for `email` (each bench owner has exactly one). */
async function tenantOfLogin(port: number, email: string, password: string): Promise<string | null> {
  const base = `http://127.0.0.1:${port}`;
  const me = await fetch(`${base}/v1/auth/me`, { headers: proxyHeaders(1), signal: AbortSignal.timeout(10_000) });
  const body = (await me.json()) as { csrfToken?: string };
  const cookie = sessionCookieFrom(me.headers.getSetCookie());
  if (!cookie || !body.csrfToken) throw new ProbeError(`GET /v1/auth/me answered ${me.status} without a session cookie`);
  const login = await fetch(`${base}/v1/auth/login`, {
    method: 'POST',
    headers: { ...proxyHeaders(1), 'content-type': 'application/json', cookie, 'x-csrf-token': body.csrfToken },
    body: JSON.stringify({ email, password }),
    signal: AbortSignal.timeout(10_000),
  });
  const lb = (await login.json()) as { activeTenant?: { id?: string } | null; error?: { code?: string } };
  if (login.status !== 200) throw new ProbeError(`POST /v1/auth/login answered ${login.status} ${lb.error?.code ?? ''}`);
  return lb.activeTenant?.id ?? null;
}

function floodSpec(opts: BenchOptions, port: number, data: BenchData, durationSec: number, counters: ReturnType<typeof newLoginCounters>) {
  return { port, connections: opts.floodConnections, durationSec, requests: loginFlood(data.loginEmails, data.password, counters) };
}

/** P7: GET throughput while a login flood saturates the Argon2id queue, against GET alone. */
export async function loginFloodGroup(opts: BenchOptions, data: BenchData, appPort: number, appPid: number, log: Log): Promise<GroupResult> {
  const get: VariantDef = { key: 'alone', name: 'App GET alone', port: appPort, requests: appListByKey(data.listTenants), pid: appPid, expectRows: LIST_ROWS };
  await probe(get);
  await probeLogin(appPort, data);
  await runLoad(loadSpec(opts, get, opts.warmupSeconds));
  await runLoad(floodSpec(opts, appPort, data, opts.warmupSeconds, newLoginCounters()));
  const alone: VariantResult = { key: 'alone', name: 'App GET alone', rounds: [], medianReqPerSec: Number.NaN };
  const during: VariantResult = { key: 'flood', name: 'App GET during login flood', rounds: [], medianReqPerSec: Number.NaN };
  const floodRates: number[] = [];
  const floodStatuses: Record<string, number> = {};
  const lead = Math.min(2, opts.warmupSeconds);
  for (let r = 0; r < opts.rounds; r++) {
    const a = await runMeasured(loadSpec(opts, get, opts.roundSeconds), appPid);
    alone.rounds.push(a);
    log(`  P7 round ${r + 1}/${opts.rounds} GET alone: ${a.reqPerSec.toFixed(0)} req/s`);
    const counters = newLoginCounters();
    const flood = startLoad(floodSpec(opts, appPort, data, opts.roundSeconds + lead + 30, counters));
    await sleep(lead * 1000);
    const okBefore = counters.ok;
    const t0 = process.hrtime.bigint();
    const b = await runMeasured(loadSpec(opts, get, opts.roundSeconds), appPid);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const loginsPerSec = (counters.ok - okBefore) / seconds;
    flood.stop();
    await flood.done;
    during.rounds.push(b);
    floodRates.push(loginsPerSec);
    for (const [k, v] of Object.entries(counters.statuses)) floodStatuses[k] = (floodStatuses[k] ?? 0) + v;
    log(`  P7 round ${r + 1}/${opts.rounds} GET during flood: ${b.reqPerSec.toFixed(0)} req/s (logins ${loginsPerSec.toFixed(1)}/s)`);
  }
  alone.medianReqPerSec = median(alone.rounds.map((f) => f.reqPerSec));
  during.medianReqPerSec = median(during.rounds.map((f) => f.reqPerSec));
  const results = [alone, during];
  return {
    variants: results,
    ratios: { P7: roundRatios(results, 'flood', 'alone') },
    extra: { loginsPerSecDuringFlood: floodRates, loginStatuses: floodStatuses, floodConnections: opts.floodConnections },
  };
}

async function verifyMedianMs(data: BenchData, samples: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint();
    const ok = await verify(data.passwordHash, data.password);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!ok) throw new Error('argon2 verify of the bench password failed');
  }
  return median(times);
}

/** P8: logins per second against one core's worth of Argon2id verifies, measured in the same rounds. */
export async function loginRateGroup(opts: BenchOptions, data: BenchData, appPort: number, appPid: number, log: Log): Promise<GroupResult> {
  await probeLogin(appPort, data);
  await runLoad(floodSpec(opts, appPort, data, opts.warmupSeconds, newLoginCounters()));
  const samples = opts.quick ? 7 : 15;
  const perRound: number[] = [];
  const verifyMs: number[] = [];
  const logins: number[] = [];
  const rounds: LoadFigures[] = [];
  const statuses: Record<string, number> = {};
  for (let r = 0; r < opts.rounds; r++) {
    const v = await verifyMedianMs(data, samples);
    const counters = newLoginCounters();
    const f = await runMeasured(floodSpec(opts, appPort, data, opts.roundSeconds, counters), appPid);
    const perSec = counters.ok / f.durationSec;
    for (const [k, n] of Object.entries(counters.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
    verifyMs.push(v);
    logins.push(perSec);
    // The round's rate is the login rate; its latencies cover the whole loop (me + login).
    rounds.push({ ...f, reqPerSec: perSec });
    perRound.push(perSec / (1000 / v));
    log(`  P8 round ${r + 1}/${opts.rounds}: ${perSec.toFixed(1)} logins/s, Argon2id verify median ${v.toFixed(1)} ms (${(1000 / v).toFixed(1)}/s)`);
  }
  const variant: VariantResult = { key: 'logins', name: 'App logins/s (me+login loop)', rounds, medianReqPerSec: median(logins), peakRssMb: null };
  return {
    variants: [variant],
    ratios: { P8: { perRound, median: median(perRound) } },
    extra: { loginsPerSec: logins, verifyMedianMs: verifyMs, verifySamplesPerRound: samples, loginStatuses: statuses, floodConnections: opts.floodConnections },
  };
}
