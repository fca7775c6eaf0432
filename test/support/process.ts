import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const root = new URL('../../', import.meta.url).pathname;

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

/**
 * A real child process running one of the apps (via tsx), with its JSON log lines collected
 * so tests can wait for events instead of sleeping.
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();

  constructor(
    readonly name: string,
    entry: string,
    env: Record<string, string>,
  ) {
    // node with tsx's loader (not the tsx CLI): one process, so signals (SIGSTOP too) reach the app itself.
    this.child = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: s }).on('line', (raw) => this.onLine(raw));
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  private onLine(raw: string): void {
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      line = { msg: raw, raw: true };
    }
    this.lines.push(line);
    if (process.env.TS_TEST_LOGS) console.log(`[${this.name}] ${raw}`);
    for (const w of this.waiters) {
      if (w.match(line)) {
        this.waiters.delete(w);
        w.resolve(line);
      }
    }
  }

  /** Resolve with the first log line (already seen or future) matching `match`. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
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
        reject(
          new Error(
            `${this.name}: no matching log line within ${timeoutMs} ms; last: ${JSON.stringify(this.lines.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(w);
      this.exited.then((code) => {
        if (this.waiters.delete(w)) {
          clearTimeout(timer);
          reject(
            new Error(
              `${this.name} exited (${code}) before the log line; last: ${JSON.stringify(this.lines.slice(-8))}`,
            ),
          );
        }
      });
    });
  }

  waitForEvent(event: string, timeoutMs = 60_000): Promise<LogLine> {
    return this.waitForLog((l) => l.event === event, timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
