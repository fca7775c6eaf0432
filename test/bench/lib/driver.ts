import { type ChildProcess, fork } from 'node:child_process';
import { ROOT } from './process.ts';

interface Reply {
  id?: number;
  result?: unknown;
  error?: string;
  ready?: boolean;
}

/**
 * A load-generating (or baseline) process of the benchmark: a module under test/bench/drivers that
 * calls {@link serveDriver}; the harness calls its handlers over IPC. Each driver is its own process,
 * so its CPU is measured apart from the system under test and from the harness.
 */
export class Driver {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private readonly ready: Promise<void>;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    file: string,
    env: Record<string, string> = {},
  ) {
    this.child = fork(new URL(`../drivers/${file}`, import.meta.url).pathname, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    let markReady!: () => void;
    this.ready = new Promise((r) => {
      markReady = r;
    });
    this.child.on('message', (msg: Reply) => {
      if (msg.ready) return markReady();
      const p = this.pending.get(msg.id!);
      if (!p) return;
      this.pending.delete(msg.id!);
      if (msg.error !== undefined) p.reject(new Error(`${this.name}: ${msg.error}`));
      else p.resolve(msg.result);
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited (${code})`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  async call<T>(method: string, params: unknown = {}): Promise<T> {
    await this.ready;
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, method, params });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: handlers take the JSON their caller sends
type Handlers = Record<string, (params: any) => unknown>;

/** Inside a driver process: answer the harness's calls with `handlers`; exit on SIGTERM or disconnect. */
export function serveDriver(handlers: Handlers, onExit: () => Promise<void> | void = () => {}): void {
  const exit = async () => {
    await Promise.race([Promise.resolve(onExit()), new Promise((r) => setTimeout(r, 3000))]).catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void exit());
  process.on('disconnect', () => void exit());
  process.on('message', async (msg: { id: number; method: string; params: unknown }) => {
    try {
      const handler = handlers[msg.method];
      if (!handler) throw new Error(`no handler ${msg.method}`);
      const result = await handler(msg.params);
      process.send!({ id: msg.id, result: result ?? null });
    } catch (err) {
      process.send!({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  process.send!({ ready: true });
}
