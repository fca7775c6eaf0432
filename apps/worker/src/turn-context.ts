import type { ClaudeProvider } from '@turnstream/claude';
import type { ConversationTurnJob, ModelSpec } from '@turnstream/contracts';
import type { Conversation, Db, Message, Session } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ConversationLeases, Lease } from './lease.ts';
import type { LiveReplyWriter } from './live-replies.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { ClaudeRateGate } from './rate-gate.ts';
import type { TenantGateDeps } from './tenant-gate.ts';

export interface TurnConfig {
  /** Prefix of Turnstream's Redis keys (cancel flags). */
  redisPrefix: string;
  /** Output budget of a reply (plus the thinking budget), within the model's limit. */
  maxTokens: number;
  /** The models and their output limits (`MODELS`). */
  models: readonly ModelSpec[];
  sessionRecovery: boolean;
  rebuildTokenBudget: number;
  coalesceWindowMs: number;
  livePersistIntervalMs: number;
  /** Delay before a job that found the lease held (or an earlier message unfinished) runs again. */
  waitDelayMs: number;
  /** Multiplier on every retry backoff (tests shrink it). */
  backoffScale: number;
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
  /** Already behind the rate gate. */
  provider: ClaudeProvider;
  /** The fleet-wide Claude rate gate (checked before a turn takes the lease). */
  rateGate: ClaudeRateGate;
  leases: ConversationLeases;
  running: RunningTurns;
  /** The process's one writer of streaming partials. */
  liveReplies: LiveReplyWriter;
  logger: Logger;
  metrics: WorkerMetrics;
  workerId: string;
  config: TurnConfig;
  /** Running turns per tenant: a turn starts only holding one of its tenant's slots. */
  tenantGate: TenantGateDeps;
}

/** Everything a turn holding the conversation lease works with. */
export interface LeasedTurn {
  deps: TurnDeps;
  job: Job;
  token: string | undefined;
  data: ConversationTurnJob;
  conversation: Conversation;
  message: Message;
  session: Session;
  lease: Lease;
  lockSignal: AbortSignal | undefined;
  log: Logger;
}
