import type { LoadFigures } from './load.js';
import type { VariantResult } from './measure.js';
import type { ScenarioId } from './options.js';
import { round } from './stats.js';

export interface TargetDef {
  what: string;
  op: '>=' | '<=';
  value: number;
  unit?: string;
}

export const TARGETS: Record<ScenarioId, TargetDef> = {
  P1: { what: 'App GET /v1/incidents by API key / B1', op: '>=', value: 0.7 },
  P2: { what: 'App GET /v1/incidents by API key / B0', op: '>=', value: 0.45 },
  P3: { what: 'App GET by session cookie (Redis) / same by API key', op: '>=', value: 0.85 },
  P4: { what: 'App PATCH /v1/incidents/:id / B4 (the same transaction on bare node:http)', op: '>=', value: 0.7 },
  P4d: { what: 'B4 / bare UPDATE (what quota, lock, timeline and audit cost)', op: '>=', value: 0.25 },
  P5: { what: 'App GET ?cursor= at depth 100,000 (big tenant) / page 1', op: '>=', value: 0.9 },
  P6: { what: 'App with OpenTelemetry on / off', op: '>=', value: 0.85 },
  P7: { what: 'GET throughput during a saturating login flood / GET alone', op: '>=', value: 0.45 },
  P8: { what: 'logins per second / (1000 / median Argon2id verify ms)', op: '>=', value: 0.8 },
  P9: { what: 'App peak RSS under the P1 load (MB)', op: '<=', value: 200, unit: 'MB' },
  P10: { what: 'p99 / p50 latency for P1 at the fixed rate', op: '<=', value: 4 },
  P11: { what: 'App PATCH with 3 webhook endpoints per tenant (in-process delivery) / without endpoints', op: '>=', value: 0.8 },
  P12: { what: 'webhook delivery lag p99 (occurredAt to receiver) / PATCH p99, at half the P11 maximum', op: '<=', value: 5 },
  P13: { what: 'App PATCH with 500 open event streams / with none (fan-out lag p99 / PATCH p99 in the note, <= 5)', op: '>=', value: 0.8 },
  P14: { what: 'events-v2 trigger ingestion (1,000 dedup keys) / bare INSERT ... ON CONFLICT per event', op: '>=', value: 0.4 },
  P15: { what: 'App GET /v1/analytics/incidents (big tenant, a year by week and severity) / same aggregate on bare node:http', op: '>=', value: 0.8 },
};

export interface TargetResult {
  id: ScenarioId;
  ratio: number | null;
  target: string;
  pass: boolean | null;
  /** Per-round ratios behind the median, when there are rounds. */
  rounds?: number[];
  note?: string;
}

export function targetText(id: ScenarioId): string {
  const t = TARGETS[id];
  return `${t.op} ${t.value}${t.unit ? ` ${t.unit}` : ''}`;
}

export function evaluate(id: ScenarioId, value: number, rounds?: number[], note?: string): TargetResult {
  const t = TARGETS[id];
  const pass = Number.isFinite(value) ? (t.op === '>=' ? value >= t.value : value <= t.value) : false;
  const r: TargetResult = { id, ratio: round(value, 3), target: targetText(id), pass };
  if (rounds) r.rounds = rounds.map((x) => round(x, 3));
  if (note) r.note = note;
  return r;
}

export function notMeasured(id: ScenarioId, note: string): TargetResult {
  return { id, ratio: null, target: targetText(id), pass: null, note };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function lat(f: LoadFigures | undefined): string {
  if (!f) return '-';
  const l = f.latencyMs;
  return `${l.p50.toFixed(2)}/${l.p97_5.toFixed(2)}/${l.p99.toFixed(2)}`;
}

function cpu(f: LoadFigures | undefined): string {
  if (!f?.cpu) return '-';
  return `${f.cpu.variantMs?.toFixed(2) ?? '?'}/${f.cpu.dbMs.toFixed(2)}/${f.cpu.loadGenMs.toFixed(2)}`;
}

export function targetsTable(targets: TargetResult[]): string {
  const lines = [`${pad('id', 4)} | ${pad('ratio', 8)} | ${pad('target', 11)} | ${pad('result', 6)} | measures`];
  lines.push(`${'-'.repeat(4)}-+-${'-'.repeat(8)}-+-${'-'.repeat(11)}-+-${'-'.repeat(6)}-+-${'-'.repeat(40)}`);
  for (const t of targets) {
    const ratio = t.ratio === null ? 'n/a' : String(t.ratio);
    const result = t.pass === null ? 'n/a' : t.pass ? 'pass' : 'FAIL';
    const extra = t.note ? ` [${t.note}]` : t.rounds && t.rounds.length > 1 ? ` (rounds: ${t.rounds.join(', ')})` : '';
    lines.push(`${pad(t.id, 4)} | ${pad(ratio, 8)} | ${pad(t.target, 11)} | ${pad(result, 6)} | ${TARGETS[t.id].what}${extra}`);
  }
  return lines.join('\n');
}

export function variantsTable(groups: { label: string; variants: VariantResult[] }[]): string {
  const head = [
    pad('scenario', 8),
    pad('variant', 28),
    pad('req/s median', 12),
    pad('req/s per round', 24),
    pad('max-load p50/p97.5/p99 ms', 26),
    pad('fixed rate', 10),
    pad('fixed p50/p97.5/p99 ms', 24),
    pad('CPU ms/req proc/db/loadgen', 26),
    'peak RSS',
  ];
  const lines = [head.join(' | ')];
  for (const g of groups) {
    for (const v of g.variants) {
      const roundsText = v.rounds.map((f) => f.reqPerSec.toFixed(0)).join(' ');
      // The round with the median throughput stands for the variant's maximum-load figures.
      const maxLoad = [...v.rounds].sort((a, b) => a.reqPerSec - b.reqPerSec)[Math.floor(v.rounds.length / 2)];
      const bad = v.rounds.reduce((n, f) => n + f.non2xx + f.errors, 0);
      lines.push(
        [
          pad(g.label, 8),
          pad(v.name + (bad > 0 ? ` (!${bad} non-2xx/err)` : ''), 28),
          pad(v.medianReqPerSec.toFixed(1), 12),
          pad(roundsText, 24),
          pad(lat(maxLoad), 26),
          pad(v.fixedRate?.targetRate !== undefined ? `${v.fixedRate.targetRate}/s` : '-', 10),
          pad(lat(v.fixedRate), 24),
          pad(cpu(maxLoad), 26),
          v.peakRssMb === undefined || v.peakRssMb === null ? '-' : `${v.peakRssMb.toFixed(0)} MB`,
        ].join(' | '),
      );
    }
  }
  return lines.join('\n');
}
