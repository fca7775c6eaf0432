/**
 * Summarises sampling heap profiles that count collected objects too (`.heapprofile`, written by the
 * `lib/alloc-sampler.mjs` preload): where a process allocates, by package (the allocating frame's,
 * and with node internals and native code charged to the nearest package up the stack), by our
 * nearest function up the stack, and the top allocating functions.
 * Usage: `node --import tsx test/bench/alloc-summary.ts [--per=<count>] <file>...` (`--per` divides
 * the bytes by a count, e.g. the tokens streamed in the window, to print bytes per token).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { areaOf } from './profile-summary.ts';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

interface HeapProfile {
  head: HeapNode;
  startedAt?: number;
  endedAt?: number;
}

export interface AllocSummary {
  file: string;
  totalBytes: number;
  seconds: number | null;
  byArea: Array<{ key: string; bytes: number; pct: number }>;
  byCaller: Array<{ key: string; bytes: number; pct: number }>;
  /** Our (packages/, apps/) nearest frame up the stack from the allocation. */
  byOurs: Array<{ key: string; bytes: number; pct: number }>;
  topSelf: Array<{ key: string; bytes: number; pct: number }>;
}

const isPlumbing = (area: string) => area.startsWith('node:') || area.startsWith('(');
const isOurs = (area: string) => area.startsWith('@turnstream/') || area.startsWith('apps/');

function where(frame: HeapNode['callFrame']): string {
  const fn = frame.functionName || '(anonymous)';
  if (!frame.url) return fn;
  return `${fn} ${frame.url.replace(/^.*\/(node_modules|packages|apps)\//, '$1/').replace(/^node_modules\/\.pnpm\/[^/]+\/node_modules\//, '')}:${frame.lineNumber + 1}`;
}

export function summarizeAllocations(file: string, top = 30): AllocSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as HeapProfile;
  const areas = new Map<string, number>();
  const callers = new Map<string, number>();
  const ours = new Map<string, number>();
  const self = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, b: number) => m.set(k, (m.get(k) ?? 0) + b);
  let total = 0;
  const walk = (node: HeapNode, stack: HeapNode['callFrame'][]) => {
    const frame = node.callFrame;
    const path = [...stack, frame];
    if (node.selfSize > 0) {
      const b = node.selfSize;
      total += b;
      const area = areaOf(frame.url, frame.functionName);
      add(areas, area, b);
      let caller = area;
      let mine = '(none of ours)';
      for (let i = path.length - 1; i >= 0; i--) {
        const a = areaOf(path[i]!.url, path[i]!.functionName);
        if (isPlumbing(caller) && !isPlumbing(a)) caller = a;
        if (isOurs(a)) {
          mine = where(path[i]!);
          break;
        }
      }
      add(callers, caller, b);
      add(ours, mine, b);
      add(self, where(frame), b);
    }
    for (const c of node.children) walk(c, path);
  };
  walk(profile.head, []);
  const rank = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, bytes]) => ({ key, bytes, pct: Math.round((bytes / total) * 1000) / 10 }));
  return {
    file,
    totalBytes: total,
    seconds: profile.startedAt && profile.endedAt ? (profile.endedAt - profile.startedAt) / 1000 : null,
    byArea: rank(areas, 20),
    byCaller: rank(callers, 20),
    byOurs: rank(ours, top),
    topSelf: rank(self, top),
  };
}

export function renderAllocations(s: AllocSummary, per?: number): string {
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  const unit = (b: number) => (per ? `${Math.round(b / per)} B` : mb(b));
  const table = (title: string, rows: AllocSummary['byArea']) => [
    `| ${title} | ${per ? 'bytes per unit' : 'MB'} | % |`,
    '| --- | --- | --- |',
    ...rows.map((r) => `| \`${r.key}\` | ${unit(r.bytes)} | ${r.pct} |`),
    '',
  ];
  return [
    `### ${basename(s.file)}: ${mb(s.totalBytes)} allocated${s.seconds ? ` in ${s.seconds.toFixed(1)} s` : ''}${per ? ` (${Math.round(s.totalBytes / per)} bytes per unit)` : ''}`,
    '',
    ...table('allocating package', s.byArea),
    ...table('package (node and native charged to the caller)', s.byCaller),
    ...table('our nearest frame', s.byOurs),
    ...table('allocating function', s.topSelf),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const perArg = args.find((a) => a.startsWith('--per='));
  const per = perArg ? Number(perArg.slice(6)) : undefined;
  for (const file of args.filter((a) => !a.startsWith('--'))) {
    console.log(renderAllocations(summarizeAllocations(file), per));
  }
}
