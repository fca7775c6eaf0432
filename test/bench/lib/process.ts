import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type GcEvent, parseGcLine } from './gc.ts';
import type { AppCommand } from './runtime.ts';

export const ROOT = new URL('../../../', import.meta.url).pathname;

export type LogLine = Record<string, unknown> & { event?: string; level?: number; time?: string };

export interface AppProcessOptions {
  name: string;
  /** How to start it (the program, from the image's bundle or from source: `runtime.ts`). */
  command: AppCommand;
  env: Record<string, string>;
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Print every line (for debugging the harness). */
  echo?: boolean;
}

/**
 * One of the apps as a real child process (`node <flags> <command>`). Log lines are counted by
 * event; only warnings and errors, runtime stats and lines a caller waits for are kept.
 */
export class AppProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly command: AppCommand;
  readonly exited: Promise<number | null>;
  readonly counts = new Map<string, number>();
  readonly problems: LogLine[] = [];
  readonly stats: Array<LogLine & { at: number }> = [];
  /** Collections the process traced (`--trace-gc-nvp`). */
  readonly gc: GcEvent[] = [];
  private readonly waiters = new Set<{ event: string; resolve: (l: LogLine) => void }>();
  private readonly seen = new Map<string, LogLine>();

  constructor(opts: AppProcessOptions) {
    this.name = opts.name;
    this.command = opts.command;
    this.child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...opts.command.args], {
      cwd: opts.command.cwd,
      env: { ...process.env, LOG_LEVEL: 'info', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: s }).on('line', (raw) => {
        if (opts.echo) console.log(`[${this.name}] ${raw}`);
        this.onLine(raw);
      });
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      const gc = parseGcLine(raw, Date.now());
      if (gc) this.gc.push(gc);
      else if (this.problems.length < 50) this.problems.push({ msg: raw });
      return;
    }
    const event = line.event ?? '(none)';
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
    if (event === 'runtime.stats_sampled') this.stats.push({ ...line, at: Date.now() });
    else if ((line.level ?? 0) >= 40 && this.problems.length < 50) this.problems.push(line);
    if (!this.seen.has(event) && /(start|listen)_completed$/.test(event)) this.seen.set(event, line);
    for (const w of this.waiters) {
      if (w.event === event) {
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  count(event: string): number {
    return this.counts.get(event) ?? 0;
  }

  /** Resolves with the first line of `event` (a start-up event already seen counts). */
  waitForEvent(event: string, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.seen.get(event);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        event,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(
          new Error(`${this.name}: no ${event} within ${timeoutMs} ms: ${JSON.stringify(this.problems)}`),
        );
      }, timeoutMs);
      this.waiters.add(w);
      void this.exited.then((code) => {
        if (!this.waiters.delete(w)) return;
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before ${event}: ${JSON.stringify(this.problems)}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Resolves `true` once `check` does, polling every `everyMs`; `false` after `timeoutMs`. */
export async function poll(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
