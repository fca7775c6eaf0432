import { testServerUrl } from '@turnstream/db/testing';
import { type ManagedProcess, RedisServer, type SeededRandom, waitFor } from '@turnstream/testkit';
import postgres from 'postgres';
import { TestSystem } from '../support/system.ts';
import type { ChaosProfile } from './profile.ts';

/** What the faults did, for the table. */
export interface FaultCounts {
  workerKills: number;
  workersStarted: number;
  workerPauses: number;
  redisRestarts: number;
  postgresKills: number;
  postgresConnectionsKilled: number;
  signingKeyRotations: number;
  globalRateLimits: number;
}

/**
 * Short leases, locks and stall checks so a dead or frozen worker's turns move on within seconds; fast
 * backoff so retries do not dominate the run. Each request carries its last rate-gate check (the
 * simulator's journal records it; the rate-limit check judges by it).
 */
const WORKER_ENV = {
  CLAUDE_GATE_CHECK_HEADER: 'true',
  LOCK_DURATION_MS: '5000',
  STALLED_INTERVAL_MS: '2000',
  LEASE_TTL_MS: '5000',
  CLAUDE_IDLE_TIMEOUT_MS: '2500',
  RETRY_BACKOFF_SCALE: '0.1',
  RECONCILE_INTERVAL_MS: '5000',
  SHUTDOWN_GRACE_MS: '2000',
  LOG_LEVEL: 'info',
};

/** Long enough for the lease and the job lock of a frozen worker to expire (and a stall check to run). */
export const PAUSE_MS = 13_000;

/**
 * The system under chaos: a private redis-server (AOF on, so a restart keeps the data), its own
 * database, the simulator with a request journal, API replicas and workers, all real processes.
 */
export class ChaosCluster {
  readonly counts: FaultCounts = {
    workerKills: 0,
    workersStarted: 0,
    workerPauses: 0,
    redisRestarts: 0,
    postgresKills: 0,
    postgresConnectionsKilled: 0,
    signingKeyRotations: 0,
    globalRateLimits: 0,
  };
  private constructor(
    readonly redis: RedisServer,
    readonly sys: TestSystem,
    readonly journalPath: string,
  ) {}

  static async start(profile: ChaosProfile, dir: string): Promise<ChaosCluster> {
    const redis = await RedisServer.start({ appendOnly: true, logFile: `${dir}/redis.log` });
    const journalPath = `${dir}/sim-requests.jsonl`;
    const sys = new TestSystem({
      workers: profile.workers,
      apis: profile.apis,
      redisUrl: redis.url,
      logDir: dir,
      workerEnv: { ...WORKER_ENV, WORKER_CONCURRENCY: String(profile.workerConcurrency) },
      // The load posts faster than a tenant's default limit (600 a minute) allows: it is one tenant.
      apiEnv: { LOG_LEVEL: 'info', TENANT_MESSAGES_PER_MINUTE: '1000000' },
      simEnv: { LOG_LEVEL: 'info', SIM_TOKEN_DELAY_MS: '10', SIM_REQUEST_JOURNAL: journalPath },
    });
    const cluster = new ChaosCluster(redis, sys, journalPath);
    try {
      await sys.start();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    cluster.counts.workersStarted = profile.workers;
    return cluster;
  }

  /** Workers running and not frozen. */
  liveWorkers(): ManagedProcess[] {
    return this.sys.workers.filter((w) => w.running && !w.paused);
  }

  /** SIGKILL a random live worker, unless it is the last one; returns its name. */
  async killRandomWorker(rnd: SeededRandom): Promise<string | undefined> {
    const live = this.liveWorkers();
    if (live.length < 2) return undefined;
    const w = rnd.pick(live);
    await w.kill();
    this.counts.workerKills++;
    return w.name;
  }

  async startReplacementWorker(): Promise<void> {
    await this.sys.startWorker();
    this.counts.workersStarted++;
  }

  /**
   * SIGSTOP a random live worker past its lease and lock, then SIGCONT it. Another worker stays live to
   * take its turns over (waits for a replacement being started, if need be).
   */
  async pauseRandomWorker(rnd: SeededRandom, frozen: (name: string) => Promise<void>): Promise<void> {
    const live = await waitFor(() => (this.liveWorkers().length >= 2 ? this.liveWorkers() : null), {
      timeoutMs: 60_000,
      message: 'two live workers to pause one of',
    });
    const w = rnd.pick(live);
    w.pause();
    this.counts.workerPauses++;
    try {
      await frozen(w.name);
    } finally {
      w.resume();
    }
  }

  /** Crash Redis (SIGKILL) and start it again on the same port and data. */
  async restartRedis(): Promise<void> {
    await this.redis.restart('kill');
    this.counts.redisRestarts++;
  }

  /** Terminate every application connection (API, workers) to this run's database. */
  async killPostgresConnections(): Promise<number> {
    const admin = postgres(testServerUrl(), { max: 1, onnotice: () => {} });
    try {
      const killed = await admin<{ ok: boolean }[]>`
        select pg_terminate_backend(pid) as ok from pg_stat_activity
        where datname = ${this.sys.tdb.name} and application_name like 'turnstream-%'`;
      this.counts.postgresKills++;
      this.counts.postgresConnectionsKilled += killed.filter((k) => k.ok).length;
      return killed.length;
    } finally {
      await admin.end({ timeout: 5 });
    }
  }

  async rotateSigningKey(): Promise<void> {
    await this.simPost('/__sim/rotate-signing-key', undefined);
    this.counts.signingKeyRotations++;
  }

  /** A 429 with `retry-after` for whatever request comes next. */
  async globalRateLimit(retryAfterMs: number): Promise<void> {
    await this.simPost('/__sim/faults', { rules: [{ fault: 'rate_limited', times: 1, retryAfterMs }] });
    this.counts.globalRateLimits++;
  }

  async simPost(path: string, body: unknown): Promise<void> {
    const res = await this.sys.sim_(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
  }

  async stop(): Promise<void> {
    for (const w of this.sys.workers) w.resume();
    await this.sys.stop().catch(() => undefined);
    await this.redis.stop();
  }
}
