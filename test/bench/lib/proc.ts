import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of a process (all its threads), or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name is in parentheses and may contain spaces: fields count from after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLK_TCK;
}

/** Resident set size in bytes, or null when the process is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A named group of processes whose CPU (and optionally RSS) is measured together. */
export interface ProcessGroup {
  name: string;
  /** Current pids of the group (may change: Postgres backends come and go). */
  pids: () => number[] | Promise<number[]>;
  /** Track the peak RSS of each pid. */
  rss?: boolean;
}

export interface GroupUsage {
  cpuSeconds: number;
  /** Peak RSS per pid over the window (only for groups with `rss`). */
  peakRssBytes?: number[];
  /** RSS per pid at the start of the window. */
  startRssBytes?: number[];
}

/**
 * CPU seconds of each group over a window, sampled every `intervalMs` so that processes that start
 * during the window are counted from zero and those that exit keep their last reading.
 */
export class CpuMeter {
  private readonly start = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly groupOf = new Map<number, string>();
  private readonly peakRss = new Map<number, number>();
  private readonly startRss = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private started = false;

  constructor(
    private readonly groups: ProcessGroup[],
    private readonly intervalMs = 1000,
  ) {}

  async begin(): Promise<void> {
    await this.sample();
    this.started = true;
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, this.intervalMs);
  }

  async end(): Promise<Record<string, GroupUsage>> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample();
    const out: Record<string, GroupUsage> = {};
    for (const g of this.groups)
      out[g.name] = { cpuSeconds: 0, ...(g.rss ? { peakRssBytes: [], startRssBytes: [] } : {}) };
    for (const [pid, last] of this.last) {
      const usage = out[this.groupOf.get(pid)!]!;
      usage.cpuSeconds += last - (this.start.get(pid) ?? 0);
      if (usage.peakRssBytes) {
        usage.peakRssBytes.push(this.peakRss.get(pid) ?? 0);
        usage.startRssBytes!.push(this.startRss.get(pid) ?? 0);
      }
    }
    for (const usage of Object.values(out)) usage.cpuSeconds = Math.round(usage.cpuSeconds * 100) / 100;
    return out;
  }

  private async sample(): Promise<void> {
    for (const g of this.groups) {
      for (const pid of await g.pids()) {
        const cpu = cpuSeconds(pid);
        if (cpu === null) continue;
        if (!this.started && !this.start.has(pid)) this.start.set(pid, cpu);
        this.last.set(pid, cpu);
        this.groupOf.set(pid, g.name);
        if (g.rss) {
          const rss = rssBytes(pid) ?? 0;
          if (!this.started) this.startRss.set(pid, rss);
          this.peakRss.set(pid, Math.max(this.peakRss.get(pid) ?? 0, rss));
        }
      }
    }
  }
}
