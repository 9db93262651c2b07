import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Summarises a V8 .cpuprofile (from `pnpm bench --profile`, which starts the app with
 * --cpu-prof): self and inclusive time by function, and self time by origin (a package in
 * node_modules, a project file, node internals, GC, idle).
 *
 *   pnpm exec tsx bench/profile-summary.ts bench/results/profiles/<file>.cpuprofile [top=30]
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function origin(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)' || functionName === '(idle)' || functionName === '(program)') return functionName;
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  const root = process.cwd();
  const file = url.replace(/^file:\/\//, '');
  return file.startsWith(root) ? path.relative(root, file) : file;
}

function label(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  return frame.url ? `${name} ${origin(frame)}:${frame.lineNumber + 1}` : name;
}

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const n of profile.nodes) {
  byId.set(n.id, n);
  for (const c of n.children ?? []) parent.set(c, n.id);
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const byOrigin = new Map<string, number>();
let total = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id);
  if (!node) return;
  total += dt;
  if (node.callFrame.functionName === '(idle)') idle += dt;
  const key = label(node.callFrame);
  self.set(key, (self.get(key) ?? 0) + dt);
  const o = origin(node.callFrame);
  byOrigin.set(o, (byOrigin.get(o) ?? 0) + dt);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur);
    if (!n) break;
    const k = label(n.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
  }
});

const busy = total - idle;
const pct = (v: number, of: number): string => `${((100 * v) / of).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>, of: number, n: number): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`  ${pct(v, of)}  ${k}\n`);
};

process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(idle / 1e6).toFixed(1)} s idle; percentages of busy time (${(busy / 1e6).toFixed(1)} s)\n`);
byOrigin.delete('(idle)');
self.delete('(idle)');
inclusive.delete('(idle)');
inclusive.delete('(root)');
print('self time by origin', byOrigin, busy, top);
print('self time by function', self, busy, top);
print('inclusive time by function', inclusive, busy, top);
