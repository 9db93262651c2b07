import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllNow, peakRssMb, stopAll, stopChild, type Child } from './lib/children.js';
import { stopAllLoad } from './lib/load.js';
import { log, ProbeError, type VariantResult } from './lib/measure.js';
import { parseOptions, SCENARIO_IDS, type BenchOptions, type ScenarioId } from './lib/options.js';
import { startOtlpSink, type OtlpSink } from './lib/otlp-sink.js';
import { ensureBuilt, PROFILE_DIR, RESULTS_DIR, startApp, startBaseline, telemetryAvailable, type AppProcess, type BaselineName } from './lib/processes.js';
import { evaluate, notMeasured, targetsTable, variantsTable, type TargetResult } from './lib/report.js';
import {
  deepPageGroup,
  listGroup,
  loginFloodGroup,
  loginRateGroup,
  sessionGroup,
  telemetryGroup,
  writeGroup,
  type GroupResult,
} from './lib/scenarios.js';
import { eventsAppEnv, streamsGroup, webhooksGroup } from './lib/scenarios-events.js';
import { alertIngestGroup, analyticsGroup } from './lib/scenarios-alerts.js';
import { setUp } from './lib/setup.js';
import { round } from './lib/stats.js';

/**
 * `pnpm bench`: the load benchmark of docs/performance.md. Seeds its own database, starts the bare
 * baselines and the app as separate processes on 127.0.0.1, measures the targets as ratios between
 * variants run side by side, prints a table and writes bench/results/latest.json.
 */

let sink: OtlpSink | null = null;
let cleaning: Promise<void> | null = null;

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    stopAllLoad();
    await sink?.close();
    await stopAll();
  })();
  return cleaning;
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`\n${signal}: stopping load and every child process`);
    void cleanUp().finally(() => process.exit(130));
  });
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: round(os.totalmem() / 1024 ** 3, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

type GroupKey = 'list' | 'session' | 'write' | 'deep' | 'telemetry' | 'flood' | 'logins' | 'webhooks' | 'streams' | 'alerts' | 'analytics';
const GROUP_OF: Record<ScenarioId, GroupKey> = {
  P1: 'list',
  P2: 'list',
  P9: 'list',
  P10: 'list',
  P3: 'session',
  P4: 'write',
  P4d: 'write',
  P5: 'deep',
  P6: 'telemetry',
  P7: 'flood',
  P8: 'logins',
  P11: 'webhooks',
  P12: 'webhooks',
  P13: 'streams',
  P14: 'alerts',
  P15: 'analytics',
};
const GROUP_ORDER: GroupKey[] = ['list', 'session', 'deep', 'write', 'flood', 'logins', 'telemetry', 'webhooks', 'streams', 'alerts', 'analytics'];
const GROUP_LABEL: Record<GroupKey, string> = {
  list: 'P1/P2',
  session: 'P3',
  write: 'P4/P4d',
  deep: 'P5',
  telemetry: 'P6',
  flood: 'P7',
  logins: 'P8',
  webhooks: 'P11/P12',
  streams: 'P13',
  alerts: 'P14',
  analytics: 'P15',
};

async function main(opts: BenchOptions): Promise<number> {
  const startedAt = new Date();
  const groups = GROUP_ORDER.filter((g) => [...(opts.only ?? SCENARIO_IDS)].some((id) => GROUP_OF[id] === g));
  // --only selects scenarios; every target its run measures is reported.
  const wanted = new Set<ScenarioId>(SCENARIO_IDS.filter((id) => groups.includes(GROUP_OF[id])));
  log(`bench: ${opts.quick ? 'quick smoke run' : 'full run'}; ${opts.rounds} round(s) of ${opts.roundSeconds} s, warm-up ${opts.warmupSeconds} s, ${opts.connections} connections, pool ${opts.poolMax}`);
  log(`node ${process.version}; ${machine().cpu} x ${machine().cores}; scenarios ${groups.map((g) => GROUP_LABEL[g]).join(', ')}`);

  const data = await setUp({ adminUrl: opts.adminDatabaseUrl, reuse: opts.reuseDb, writeTenants: opts.writeTenants, log });
  const build = opts.appRuntime === 'dist' ? ensureBuilt(log) : { rebuilt: false, warnings: null };

  // P11-P13 deliver webhooks from this app to the harness's https receiver.
  const eventsEnv = groups.includes('webhooks') ? eventsAppEnv() : {};
  const app = await startApp(opts, 'app', data.databaseUrl, { profile: opts.profile, env: eventsEnv });
  log(`app: ${app.command} on 127.0.0.1:${app.port} (pid ${app.pid})`);
  const baselines: Partial<Record<BaselineName, Child>> = {};
  if (groups.includes('list')) {
    baselines.b0 = await startBaseline(opts, 'b0', data.databaseUrl);
    baselines.b1 = await startBaseline(opts, 'b1', data.databaseUrl);
  }
  if (groups.includes('write')) {
    baselines['b-update'] = await startBaseline(opts, 'b-update', data.databaseUrl);
    baselines.b4 = await startBaseline(opts, 'b4', data.databaseUrl);
  }
  if (groups.includes('alerts')) baselines['b-alert'] = await startBaseline(opts, 'b-alert', data.databaseUrl);
  if (groups.includes('analytics')) baselines['b-analytics'] = await startBaseline(opts, 'b-analytics', data.databaseUrl);

  const targets = new Map<ScenarioId, TargetResult>();
  const raw: Record<string, GroupResult & { error?: string }> = {};
  const failed = (ids: ScenarioId[], note: string): void => {
    for (const id of ids) if (wanted.has(id)) targets.set(id, notMeasured(id, note));
  };

  for (const g of groups) {
    log(`\n== ${GROUP_LABEL[g]} ==`);
    const ids = (Object.keys(GROUP_OF) as ScenarioId[]).filter((id) => GROUP_OF[id] === g);
    try {
      let res: GroupResult;
      if (g === 'list') {
        const { b0, b1 } = baselines;
        if (!b0 || !b1) throw new Error('baselines not started');
        res = await listGroup(opts, data, { b0, b1, app }, log);
        const appRes = res.variants.find((v) => v.key === 'app');
        const rss = appRes?.peakRssMb ?? peakRssMb(app.pid);
        const fixed = appRes?.fixedRate;
        if (res.ratios.P1) targets.set('P1', evaluate('P1', res.ratios.P1.median, res.ratios.P1.perRound));
        if (res.ratios.P2) targets.set('P2', evaluate('P2', res.ratios.P2.median, res.ratios.P2.perRound));
        targets.set('P9', rss === null ? notMeasured('P9', 'no /proc status for the app') : evaluate('P9', rss));
        targets.set(
          'P10',
          fixed
            ? evaluate('P10', fixed.latencyMs.p99 / fixed.latencyMs.p50, undefined, `p50 ${fixed.latencyMs.p50.toFixed(2)} ms, p99 ${fixed.latencyMs.p99.toFixed(2)} ms at ${fixed.targetRate ?? 0}/s`)
            : notMeasured('P10', 'no fixed-rate pass'),
        );
      } else if (g === 'session') {
        res = await sessionGroup(opts, data, app.port, app.pid, log);
      } else if (g === 'write') {
        const { 'b-update': bUpdate, b4 } = baselines;
        if (!bUpdate || !b4) throw new Error('b-update and b4 not started');
        res = await writeGroup(opts, data, { bUpdate, b4, app }, log);
      } else if (g === 'alerts' || g === 'analytics') {
        const { 'b-alert': bAlert, 'b-analytics': bAnalytics } = baselines;
        if (g === 'alerts') {
          if (!bAlert) throw new Error('b-alert not started');
          res = await alertIngestGroup(opts, data, { bAlert, app }, log);
        } else {
          if (!bAnalytics) throw new Error('b-analytics not started');
          res = await analyticsGroup(opts, data, { bAnalytics, app }, log);
        }
      } else if (g === 'deep') {
        res = await deepPageGroup(opts, data, app.port, app.pid, log);
      } else if (g === 'flood') {
        res = await loginFloodGroup(opts, data, app.port, app.pid, log);
      } else if (g === 'webhooks') {
        res = await webhooksGroup(opts, data, app, log);
        const p12 = res.ratios.P12;
        const extra = res.extra ?? {};
        if (p12) targets.set('P12', evaluate('P12', p12.median, undefined, `delivery lag p99 ${JSON.stringify(extra.deliveryLagMs)} ms, PATCH p99 ${Number(extra.patchP99Ms).toFixed(2)} ms at ${String(extra.fixedRate)}/s`));
      } else if (g === 'streams') {
        res = await streamsGroup(opts, data, app, log);
        const extra = res.extra ?? {};
        const r = res.ratios.P13;
        if (r) targets.set('P13', evaluate('P13', r.median, r.perRound, `fan-out lag p99 / PATCH p99 = ${String(extra.fanOutLagOverPatchP99)} (target <= 5) at ${String(extra.fixedRate)}/s`));
      } else if (g === 'logins') {
        res = await loginRateGroup(opts, data, app.port, app.pid, log);
      } else {
        if (!telemetryAvailable()) {
          failed(['P6'], 'not measurable yet: src/telemetry.ts does not exist');
          log('  P6 not measurable yet: src/telemetry.ts does not exist');
          continue;
        }
        sink = await startOtlpSink();
        const otel: AppProcess = await startApp(opts, 'app-otel', data.databaseUrl, { otlpEndpoint: `http://127.0.0.1:${sink.port}`, profile: opts.profile });
        log(`app with telemetry: ${otel.command} on 127.0.0.1:${otel.port}, exporting to the sink on 127.0.0.1:${sink.port}`);
        try {
          const s = sink;
          res = await telemetryGroup(opts, data, { port: app.port, pid: app.pid }, { port: otel.port, pid: otel.pid }, () => s.stats.requests, log);
        } finally {
          await stopChild(otel);
        }
        const exports = Number(res.extra?.otlpExportRequests ?? 0);
        if (res.ratios.P6) {
          targets.set('P6', evaluate('P6', res.ratios.P6.median, res.ratios.P6.perRound, exports === 0 ? 'the sink received no OTLP export: telemetry may not be on' : `${exports} OTLP exports received`));
        }
      }
      for (const id of ['P3', 'P4', 'P4d', 'P5', 'P7', 'P8', 'P11', 'P14', 'P15'] as const) {
        const r = res.ratios[id];
        if (r && GROUP_OF[id] === g) targets.set(id, evaluate(id, r.median, r.perRound));
      }
      raw[GROUP_LABEL[g]] = res;
    } catch (err) {
      if (!(err instanceof ProbeError)) throw err;
      log(`  not measurable: ${err.message}`);
      failed(ids, `not measurable: ${err.message}`);
      raw[GROUP_LABEL[g]] = { variants: [], ratios: {}, error: err.message };
    }
  }

  const appPeakRssMb = peakRssMb(app.pid);
  await cleanUp();

  const ordered = SCENARIO_IDS.filter((id) => wanted.has(id)).map((id) => targets.get(id) ?? notMeasured(id, 'not run'));
  const result = {
    date: startedAt.toISOString(),
    durationSec: round((Date.now() - startedAt.getTime()) / 1000, 1),
    node: process.version,
    machine: machine(),
    options: {
      quick: opts.quick,
      rounds: opts.rounds,
      roundSeconds: opts.roundSeconds,
      warmupSeconds: opts.warmupSeconds,
      fixedRateSeconds: opts.fixedRateSeconds,
      fixedRateFraction: opts.fixedRateFraction,
      connections: opts.connections,
      floodConnections: opts.floodConnections,
      writeTenants: data.writeTenants.length,
      poolMax: opts.poolMax,
      appRuntime: opts.appRuntime,
      appEnv: opts.appEnv,
      appNodeFlags: opts.appNodeFlags,
      profile: opts.profile,
    },
    app: { command: app.command, build, peakRssMbEndOfRun: appPeakRssMb },
    setup: { timings: data.timings, rows: data.rows },
    targets: ordered,
    scenarios: raw,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  // Only a full run of every scenario is `latest.json`; smoke and partial runs never overwrite it.
  const file = path.join(RESULTS_DIR, opts.only ? 'latest-partial.json' : opts.quick ? 'latest-quick.json' : 'latest.json');
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

  const groupsForTable: { label: string; variants: VariantResult[] }[] = Object.entries(raw).map(([label, r]) => ({ label, variants: r.variants }));
  log(`\n${targetsTable(ordered)}\n`);
  log(variantsTable(groupsForTable));
  log(`\n${result.date} | node ${result.node} | ${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memoryGb} GB | ${opts.quick ? 'quick' : `${opts.rounds} x ${opts.roundSeconds} s rounds`}`);
  log(`results: ${path.relative(process.cwd(), file)}${opts.profile ? `; CPU profiles: ${path.relative(process.cwd(), PROFILE_DIR)}` : ''}`);
  // A missed target is a finding, not a harness failure: the exit code says whether the run worked.
  return 0;
}

let opts: BenchOptions;
try {
  opts = parseOptions(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
const deadline = setTimeout(() => {
  log(`\nbench: the run exceeded ${opts.deadlineMinutes} minutes; stopping`);
  void cleanUp().finally(() => process.exit(1));
}, opts.deadlineMinutes * 60_000);
deadline.unref();

main(opts).then(
  async (code) => {
    await cleanUp();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanUp();
    process.exit(1);
  },
);
