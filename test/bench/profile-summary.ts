/**
 * Summarises V8 CPU profiles (`.cpuprofile`, from `pnpm bench --cpu-prof=<dir>`): where the self time
 * goes by package (postgres, ioredis, bullmq, zod, pino, the SDK, node internals, our packages) and the
 * top functions by self time. Usage: `node --import tsx test/bench/profile-summary.ts <file>...`
 */
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Which package or area a script URL belongs to. */
export function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = /\/(packages|apps)\/([^/]+)\//.exec(url);
  if (m) return m[1] === 'packages' ? `@turnstream/${m[2]}` : `apps/${m[2]}`;
  return url;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  byArea: Array<{ area: string; ms: number; pct: number }>;
  /** Self time of native code, node internals and GC charged to the nearest package up the stack. */
  byCaller: Array<{ area: string; ms: number; pct: number }>;
  topSelf: Array<{ fn: string; where: string; ms: number; pct: number }>;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isPlumbing = (area: string) => area.startsWith('node:') || area.startsWith('(');
  /** The first package (not node internals, native code or V8) on the way up from `id`. */
  const callerArea = (id: number): string => {
    let at: number | undefined = id;
    while (at !== undefined) {
      const { url, functionName } = byId.get(at)!.callFrame;
      const area = areaOf(url, functionName);
      if (!isPlumbing(area)) return area;
      at = parent.get(at);
    }
    return areaOf(byId.get(id)!.callFrame.url, byId.get(id)!.callFrame.functionName);
  };
  const callers = new Map<string, number>();
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  let busy = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; ms: number }>();
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += ms;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const caller = callerArea(id);
    callers.set(caller, (callers.get(caller) ?? 0) + ms);
    const where = url
      ? `${url.replace(/^.*\/(node_modules|packages|apps)\//, '$1/')}:${lineNumber + 1}`
      : area;
    const key = `${functionName}@${where}`;
    const entry = fns.get(key) ?? { fn: functionName || '(anonymous)', where, ms: 0 };
    entry.ms += ms;
    fns.set(key, entry);
  }
  const pct = (ms: number) => Math.round((ms / busy) * 1000) / 10;
  return {
    file,
    totalMs: Math.round(busy),
    byArea: [...areas]
      .map(([area, ms]) => ({ area, ms: Math.round(ms), pct: pct(ms) }))
      .sort((a, b) => b.ms - a.ms),
    byCaller: [...callers]
      .map(([area, ms]) => ({ area, ms: Math.round(ms), pct: pct(ms) }))
      .sort((a, b) => b.ms - a.ms),
    topSelf: [...fns.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((e) => ({ ...e, ms: Math.round(e.ms), pct: pct(e.ms) })),
  };
}

export function renderProfile(s: ProfileSummary, areas = 15, top = 20): string {
  const name = `${basename(dirname(s.file))}/${basename(s.file)}`;
  return [
    `### ${name}: ${s.totalMs} ms busy`,
    '',
    `By package: ${s.byArea
      .slice(0, areas)
      .map((a) => `${a.area} ${a.pct}%`)
      .join(', ')}`,
    '',
    `Native code, node internals and GC charged to the calling package: ${s.byCaller
      .slice(0, areas)
      .map((a) => `${a.area} ${a.pct}%`)
      .join(', ')}`,
    '',
    '| self ms | % | function | where |',
    '| --- | --- | --- | --- |',
    ...s.topSelf.slice(0, top).map((e) => `| ${e.ms} | ${e.pct} | \`${e.fn}\` | ${e.where} |`),
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const file of process.argv.slice(2)) console.log(renderProfile(summarizeProfile(file)));
}
