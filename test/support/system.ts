import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRedis, type RedisClient } from '@turnstream/config';
import { createTestDatabase, seedTenant, type TestDatabase } from '@turnstream/db/testing';
import { deleteKeys, freePort, type ManagedProcess, startApp } from '@turnstream/testkit';
import type { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Worker settings under which the turns of a dead or frozen worker are taken over within seconds. */
export const FAST_TAKEOVER_ENV = {
  LEASE_TTL_MS: '1500',
  LOCK_DURATION_MS: '1500',
  STALLED_INTERVAL_MS: '500',
};

export interface SystemOptions {
  workers?: number;
  apis?: number;
  workerEnv?: Record<string, string>;
  apiEnv?: Record<string, string>;
  simEnv?: Record<string, string>;
  /** Redis for the processes and the test (default `REDIS_URL`, the shared server). */
  redisUrl?: string;
  /** A Redis Cluster instead (`REDIS_CLUSTER_NODES` of every process, e.g. `startRedisCluster().seedList`). */
  redisClusterNodes?: string;
  /** Write each process's log lines to `<logDir>/<name>.log` (and keep fewer in memory): long runs. */
  logDir?: string;
}

/** TS_TEST_LOGS=1 echoes every process's log lines. */
const echo = Boolean(process.env.TS_TEST_LOGS);
/**
 * TS_TEST_LOG_DIR=<dir> also writes them to `<dir>/<redis prefix>/<process>.log`, one directory per
 * system: the logs of a whole run, to read after a flaky failure.
 */
const logRoot = process.env.TS_TEST_LOG_DIR;

/**
 * The real system for one test file: its own database, its own Redis prefixes, and real processes
 * (simulator, API, workers) started with tsx. `stop()` tears everything down.
 */
export class TestSystem {
  readonly redisPrefix = `tse${randomBytes(4).toString('hex')}`;
  readonly bullPrefix = `${this.redisPrefix}bull`;
  tdb!: TestDatabase;
  redis!: RedisClient;
  apiKey!: string;
  tenantId!: string;
  simUrl!: string;
  sim!: ManagedProcess;
  readonly apis: Array<{ url: string; proc: ManagedProcess }> = [];
  readonly workers: ManagedProcess[] = [];
  private workerSeq = 0;
  private apiSeq = 0;

  constructor(private readonly opts: SystemOptions = {}) {}

  get apiUrl(): string {
    return this.apis[0]!.url;
  }

  private logging(name: string): { echo: boolean; logFile?: string; keepLines?: number } {
    if (this.opts.logDir) return { echo, logFile: `${this.opts.logDir}/${name}.log`, keepLines: 2000 };
    if (!logRoot) return { echo };
    const dir = join(logRoot, this.redisPrefix);
    mkdirSync(dir, { recursive: true });
    return { echo, logFile: join(dir, `${name}.log`) };
  }

  get redisUrl(): string {
    return this.opts.redisUrl ?? REDIS_URL;
  }

  async start(): Promise<this> {
    this.tdb = await createTestDatabase();
    this.redis = createRedis(
      { url: this.redisUrl, clusterNodes: this.clusterSeeds() },
      { maxRetriesPerRequest: null },
    );
    const seeded = await seedTenant(this.tdb.db);
    this.apiKey = seeded.apiKey.key;
    this.tenantId = seeded.tenant.id;
    const sim = await startApp('claude-sim', {
      name: 'sim',
      ...this.logging('sim'),
      env: { SIM_PORT: String(await freePort()), SIM_TOKEN_DELAY_MS: '2', ...this.opts.simEnv },
    });
    this.sim = sim.proc;
    this.simUrl = String(sim.ready.url);
    await Promise.all([
      ...Array.from({ length: this.opts.workers ?? 1 }, () => this.startWorker()),
      ...Array.from({ length: this.opts.apis ?? 1 }, () => this.startApi()),
    ]);
    return this;
  }

  private clusterSeeds(): Array<{ host: string; port: number }> | undefined {
    return this.opts.redisClusterNodes?.split(',').map((seed) => {
      const [host, port] = seed.split(':');
      return { host: host!, port: Number(port) };
    });
  }

  /** The BullMQ prefix the processes use (hash-tagged on a cluster, as `bullPrefixFor` does). */
  get effectiveBullPrefix(): string {
    return this.opts.redisClusterNodes ? `{${this.bullPrefix}}` : this.bullPrefix;
  }

  private commonEnv(): Record<string, string> {
    return {
      DATABASE_URL: this.tdb.url,
      REDIS_URL: this.redisUrl,
      ...(this.opts.redisClusterNodes ? { REDIS_CLUSTER_NODES: this.opts.redisClusterNodes } : {}),
      REDIS_PREFIX: this.redisPrefix,
      BULL_PREFIX: this.bullPrefix,
      MIGRATE_ON_START: 'false',
    };
  }

  async startWorker(env: Record<string, string> = {}): Promise<ManagedProcess> {
    const id = `w${++this.workerSeq}`;
    const { proc } = await startApp('worker', {
      name: id,
      ...this.logging(id),
      env: {
        ...this.commonEnv(),
        ANTHROPIC_API_KEY: 'sim-key',
        ANTHROPIC_BASE_URL: this.simUrl,
        WORKER_ID: id,
        WORKER_CONCURRENCY: '20',
        ...this.opts.workerEnv,
        ...env,
      },
    });
    this.workers.push(proc);
    return proc;
  }

  /** Start an API replica; `env.PORT` picks its port (e.g. to restart one in place), else a free one. */
  async startApi(env: Record<string, string> = {}): Promise<{ url: string; proc: ManagedProcess }> {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const name = `api${++this.apiSeq}`;
    const { proc, ready } = await startApp('api', {
      name,
      ...this.logging(name),
      env: { ...this.commonEnv(), PORT: String(port), HOST: '127.0.0.1', ...this.opts.apiEnv, ...env },
    });
    const entry = { url: String(ready.url), proc };
    this.apis.push(entry);
    return entry;
  }

  /** JSON request to an API replica (default the first) with the test tenant's key. */
  // biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
  async api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    apiIndex = 0,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.apis[apiIndex]!.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** The simulator's request log, with bodies. */
  // biome-ignore lint/suspicious/noExplicitAny: the simulator's request log, asserted field by field
  async simRequests(): Promise<any[]> {
    const res = await fetch(`${this.simUrl}/__sim/requests?full=1`);
    const body = (await res.json()) as { requests?: unknown[] } | unknown[];
    return (Array.isArray(body) ? body : (body.requests ?? [])) as never[];
  }

  /**
   * A process of the system that ended on its own (a crash) is printed with its last lines: tests that
   * then time out waiting for it show why in the run's output.
   */
  private reportUnexpectedExits(): void {
    for (const p of [...this.workers, ...this.apis.map((a) => a.proc), ...(this.sim ? [this.sim] : [])]) {
      const exit = p.unexpectedExit;
      if (!exit) continue;
      console.error(
        `${p.name} exited on its own (code ${exit.code}, signal ${exit.signal}); last lines:\n${p.tail(40)}`,
      );
    }
  }

  async sim_(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`${this.simUrl}${path}`, init);
  }

  async stop(): Promise<void> {
    this.reportUnexpectedExits();
    await Promise.all([...this.workers, ...this.apis.map((a) => a.proc)].map((p) => p.stop()));
    await this.sim?.stop();
    if (this.redis && !this.opts.redisClusterNodes) {
      await deleteKeys(this.redis as Redis, `${this.redisPrefix}*`);
      await this.redis.quit();
    } else {
      // A cluster is the test's own: it goes away whole.
      this.redis?.disconnect();
    }
    await this.tdb?.drop();
  }
}
