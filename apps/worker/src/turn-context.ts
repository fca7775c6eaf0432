import type { ClaudeProvider } from '@turnstream/claude';
import type { Db } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ConversationLeases } from './lease.ts';
import type { WorkerMetrics } from './metrics.ts';

export interface TurnConfig {
  /** Prefix of Turnstream's Redis keys (cancel flags). */
  redisPrefix: string;
  maxTokens: number;
  sessionRecovery: boolean;
  rebuildTokenBudget: number;
  coalesceWindowMs: number;
  livePersistIntervalMs: number;
  /** Delay before a job that found the lease held (or an earlier message unfinished) runs again. */
  waitDelayMs: number;
}

/** Why a running turn was aborted from outside. */
export type AbortReason = 'cancelled' | 'shutdown' | 'lease_lost' | 'fenced_out' | 'lock_lost';

/** The turns running in this process, by user message id (cancel and shutdown reach them here). */
export class RunningTurns {
  private readonly turns = new Map<string, AbortController>();

  add(messageId: string, controller: AbortController): void {
    this.turns.set(messageId, controller);
  }

  delete(messageId: string): void {
    this.turns.delete(messageId);
  }

  abort(messageId: string, reason: AbortReason): boolean {
    const c = this.turns.get(messageId);
    if (!c) return false;
    if (!c.signal.aborted) c.abort(reason);
    return true;
  }

  abortAll(reason: AbortReason): number {
    for (const c of this.turns.values()) if (!c.signal.aborted) c.abort(reason);
    return this.turns.size;
  }

  get size(): number {
    return this.turns.size;
  }
}

export interface TurnDeps {
  db: Db;
  redis: Redis;
  queue: Queue;
  streams: TurnStreams;
  provider: ClaudeProvider;
  leases: ConversationLeases;
  running: RunningTurns;
  logger: Logger;
  metrics: WorkerMetrics;
  workerId: string;
  config: TurnConfig;
}
