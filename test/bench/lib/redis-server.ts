import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../support/wait.ts';
import { poll } from './process.ts';

/**
 * A private redis-server on a free loopback port, without persistence: its CPU is measured alone,
 * and stopping it leaves no key anywhere.
 */
export class PrivateRedis {
  private child!: ChildProcess;
  private dir!: string;
  url!: string;
  version = '';

  get pid(): number {
    return this.child.pid!;
  }

  async start(): Promise<this> {
    const port = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'ts-bench-redis-'));
    this.child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
      { stdio: 'ignore' },
    );
    this.url = `redis://127.0.0.1:${port}`;
    const probe = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 50,
    });
    probe.on('error', () => {});
    try {
      const up = await poll(async () => {
        if (this.child.exitCode !== null) throw new Error(`redis-server exited ${this.child.exitCode}`);
        try {
          if (probe.status === 'wait') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        }
      }, 10_000);
      if (!up) throw new Error('redis-server did not start');
      const info = await probe.info('server');
      this.version = /redis_version:(\S+)/.exec(info)?.[1] ?? '';
    } finally {
      probe.disconnect();
    }
    return this;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
