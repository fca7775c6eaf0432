import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A log line of a child process: its JSON fields, or `{ msg, raw: true }` for a non-JSON line. */
export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

export interface SpawnOptions {
  /** Shown in failure messages and echoed log lines. */
  name: string;
  command: string;
  args?: string[];
  cwd?: string;
  /** Added to (and overriding) the parent's environment. */
  env?: Record<string, string>;
  /** Print every line as it arrives, prefixed with the name. */
  echo?: boolean;
  /** Append every raw line to this file (forensics for long runs). */
  logFile?: string;
  /** Keep at most this many recent lines in `lines` (default 20,000). */
  keepLines?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** SIGKILL whatever is still running when the test process exits, however it exits. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.child.kill('SIGKILL');
  });
}

/**
 * A real child process with its log lines collected (JSON lines parsed), so tests wait for what it
 * logs instead of sleeping. Every instance is SIGKILLed when the test process exits; `stopAll()`
 * stops them from a hook.
 */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<Exit>;
  paused = false;
  /** A signal that ends it was sent through this object (`signal`, `kill`, `stop`). */
  private endRequested = false;
  private exit: Exit | undefined;
  private readonly waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();

  constructor(private readonly opts: SpawnOptions) {
    this.name = opts.name;
    installExitHook();
    this.child = spawn(opts.command, opts.args ?? [], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    for (const s of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: s }).on('line', (raw) => this.onLine(raw));
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.child.once('error', (err) => {
        this.onLine(JSON.stringify({ event: 'process.spawn_failed', err: String(err) }));
        live.delete(this);
        resolve({ code: null, signal: null });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      const parsed = JSON.parse(raw) as unknown;
      line = parsed && typeof parsed === 'object' ? (parsed as LogLine) : { msg: raw, raw: true };
    } catch {
      line = { msg: raw, raw: true };
    }
    this.lines.push(line);
    if (this.lines.length > (this.opts.keepLines ?? 20_000)) this.lines.splice(0, 1000);
    if (this.opts.echo) console.log(`[${this.name}] ${raw}`);
    if (this.opts.logFile) appendFileSync(this.opts.logFile, `${raw}\n`);
    for (const w of this.waiters) {
      if (w.match(line)) {
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /** The last `n` lines, for failure messages. */
  tail(n = 8): string {
    return this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n');
  }

  /**
   * Resolve with the first log line (already seen or future) matching `match`; reject on timeout or
   * if the process exits first, with its last lines in the message.
   */
  waitForLog(
    match: (l: LogLine) => boolean,
    timeoutMs = 30_000,
    what = 'a matching log line',
  ): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        match,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms; last lines:\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(w);
      void this.exited.then((exit) => {
        if (!this.waiters.delete(w)) return;
        clearTimeout(timer);
        reject(
          new Error(
            `${this.name} exited (code ${exit.code}, signal ${exit.signal}) before ${what}; last lines:\n${this.tail()}`,
          ),
        );
      });
    });
  }

  /** The first log line whose `event` field is `event`. */
  waitForEvent(event: string, timeoutMs = 60_000): Promise<LogLine> {
    return this.waitForLog((l) => l.event === event, timeoutMs, `log event ${event}`);
  }

  /** Lines whose `event` field is `event`. */
  eventsNamed(event: string): LogLine[] {
    return this.lines.filter((l) => l.event === event);
  }

  signal(sig: NodeJS.Signals): void {
    if (sig !== 'SIGSTOP' && sig !== 'SIGCONT') this.endRequested = true;
    if (this.running) this.child.kill(sig);
  }

  /**
   * How it ended when it ended on its own (a crash, an exit nobody asked for): null while it runs or
   * when it was stopped or signalled through this object.
   */
  get unexpectedExit(): Exit | null {
    return this.exit && !this.endRequested ? this.exit : null;
  }

  /** SIGKILL and wait for the exit: a crash, nothing runs its shutdown. */
  async kill(): Promise<Exit> {
    this.signal('SIGKILL');
    this.paused = false;
    return this.exited;
  }

  /** SIGSTOP: frozen in place (timers, connections and locks go stale), until `resume()`. */
  pause(): void {
    this.signal('SIGSTOP');
    this.paused = true;
  }

  /** SIGCONT after `pause()`. */
  resume(): void {
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** SIGTERM (after a SIGCONT, in case it is paused), then SIGKILL if it is still running after `graceMs`. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.resume();
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Stop every process spawned through the kit that is still running (from afterAll). */
export async function stopAll(graceMs = 10_000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs)));
}
