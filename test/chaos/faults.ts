import { appendFileSync } from 'node:fs';
import { type SeededRandom, sleepMs } from '@turnstream/testkit';
import { type ChaosCluster, PAUSE_MS } from './cluster.ts';
import type { ChaosProfile } from './profile.ts';

type FaultKind = 'pause' | 'redis-restart' | 'postgres-kill' | 'signing-key-rotation' | 'global-429';

interface Milestone {
  /** Share of the load sent when it fires. */
  at: number;
  kind: FaultKind;
}

/** A fault as it happened, for forensics. */
export interface FaultRecord {
  time: string;
  kind: FaultKind | 'worker-kill' | 'resume';
  detail?: string;
}

/** retry-after of the global 429s. */
export const GLOBAL_RETRY_AFTER_MS = 1500;

/**
 * Process and infrastructure faults while the load runs: a random worker SIGKILLed every few seconds
 * (and replaced), and milestones placed along the load's progress: workers frozen past their lease,
 * Redis crashed and restarted, every database connection terminated, the signing key rotated, a 429
 * for whatever request comes next. Seeded: the same seed places the same faults.
 */
export class FaultScheduler {
  readonly history: FaultRecord[] = [];
  private stopped = false;
  private readonly running: Promise<unknown>[] = [];
  private readonly milestones: Milestone[];

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly rnd: SeededRandom,
    private readonly profile: ChaosProfile,
    private readonly progress: () => number,
    private readonly logFile: string,
  ) {
    const place = (kind: FaultKind, n: number) =>
      Array.from({ length: n }, () => ({ at: 0.1 + rnd.next() * 0.75, kind }));
    this.milestones = [
      ...place('pause', profile.pauses),
      ...place('redis-restart', profile.redisRestarts),
      ...place('postgres-kill', profile.postgresKills),
      ...place('signing-key-rotation', profile.signingKeyRotations),
      ...place('global-429', profile.globalRateLimits),
    ].sort((a, b) => a.at - b.at);
  }

  start(): void {
    this.running.push(this.killLoop(), this.milestoneLoop());
  }

  private record(kind: FaultRecord['kind'], detail?: string): void {
    const r = { time: new Date().toISOString(), kind, ...(detail ? { detail } : {}) };
    this.history.push(r);
    appendFileSync(this.logFile, `${JSON.stringify(r)}\n`);
  }

  private async killLoop(): Promise<void> {
    while (!this.stopped) {
      await sleepMs(this.profile.killEveryMs * (0.5 + this.rnd.next()));
      if (this.stopped) return;
      const killed = await this.cluster.killRandomWorker(this.rnd);
      if (!killed) continue;
      this.record('worker-kill', killed);
      // The replacement starts in the background: kills keep their pace however slow a start is.
      this.running.push(this.cluster.startReplacementWorker());
    }
  }

  private async milestoneLoop(): Promise<void> {
    for (const m of this.milestones) {
      while (!this.stopped && this.progress() < m.at) await sleepMs(200);
      if (this.stopped) return;
      await this.fire(m.kind);
    }
  }

  private async fire(kind: FaultKind): Promise<void> {
    if (kind !== 'pause') this.record(kind, `at ${Math.round(this.progress() * 100)}% of the load`);
    switch (kind) {
      case 'pause':
        // In the background: the load and the other faults go on while the worker is frozen.
        this.running.push(
          this.cluster.pauseRandomWorker(this.rnd, async (name) => {
            this.record('pause', name);
            await sleepMs(PAUSE_MS);
            this.record('resume', name);
          }),
        );
        return;
      case 'redis-restart':
        return this.cluster.restartRedis();
      case 'postgres-kill':
        await this.cluster.killPostgresConnections();
        return;
      case 'signing-key-rotation':
        return this.cluster.rotateSigningKey();
      case 'global-429':
        return this.cluster.globalRateLimit(GLOBAL_RETRY_AFTER_MS);
    }
  }

  /** Stop injecting; waits for faults in progress (a frozen worker is resumed). */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.running.length) await Promise.all(this.running.splice(0));
  }
}
