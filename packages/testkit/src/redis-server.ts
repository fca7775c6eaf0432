import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { ManagedProcess } from './process.ts';

export interface RedisServerOptions {
  /** Append-only file on, fsynced on every write: a restart (even after SIGKILL) keeps the data. */
  appendOnly?: boolean;
  /** The `redis-server` binary (default from PATH). */
  binary?: string;
  /** Extra `--name value` arguments. */
  args?: string[];
  echo?: boolean;
  /** Append the server's log lines to this file. */
  logFile?: string;
  readyTimeoutMs?: number;
}

/**
 * A private redis-server on a free loopback port with its own data directory, for tests that break
 * Redis (restart it, kill it) without touching the shared one.
 */
export class RedisServer {
  proc!: ManagedProcess;
  restarts = 0;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: RedisServerOptions,
  ) {}

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'ts-redis-')), opts);
    try {
      await server.launch();
    } catch (err) {
      rmSync(server.dir, { recursive: true, force: true });
      throw err;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc.running;
  }

  private async launch(): Promise<void> {
    const aof = this.opts.appendOnly ?? false;
    this.proc = new ManagedProcess({
      name: `redis:${this.port}`,
      command: this.opts.binary ?? 'redis-server',
      args: [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        aof ? 'yes' : 'no',
        '--appendfsync',
        'always',
        '--logfile',
        '',
        ...(this.opts.args ?? []),
      ],
      ...(this.opts.echo ? { echo: true } : {}),
      ...(this.opts.logFile ? { logFile: this.opts.logFile } : {}),
    });
    await this.proc.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.includes('Ready to accept connections'),
      this.opts.readyTimeoutMs ?? 20_000,
      'redis-server ready',
    );
  }

  /**
   * Stop the server and start it again on the same port and data directory. `kill` (default) is a
   * crash (SIGKILL); `shutdown` is a clean SIGTERM. With `appendOnly` the data survives either way.
   * `whileDown` runs after the server is gone and before it starts again (an outage lasting until
   * something happened, never a fixed time).
   */
  async restart(how: 'kill' | 'shutdown' = 'kill', whileDown?: () => Promise<void>): Promise<void> {
    if (how === 'kill') await this.proc.kill();
    else await this.proc.stop();
    this.restarts++;
    await whileDown?.();
    await this.launch();
  }

  /** Stop the server and delete its data directory. */
  async stop(): Promise<void> {
    if (this.proc) await this.proc.stop(5_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Start a private redis-server (see `RedisServer`). */
export function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  return RedisServer.start(opts);
}
