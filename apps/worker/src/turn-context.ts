import type { ClaudeProvider } from '@turnstream/claude';
import type { RedisClient } from '@turnstream/config';
import type { ConversationTurnJob, ModelSpec } from '@turnstream/contracts';
import type { Conversation, Db, Message, Session } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { KnownOutcomeTargets } from '@turnstream/webhooks';
import type { Job, Queue } from 'bullmq';
import type { ConversationLeases, Lease } from './lease.ts';
import type { LiveReplyWriter } from './live-replies.ts';
import type { PublishPacing } from './publish-pacing.ts';
import type { ClaudeRateGate } from './rate-gate.ts';
import type { ReplyPublisher } from './reply-publisher.ts';
import type { TenantGateDeps } from './tenant-gate.ts';
import type { AbortReason, TurnAbort } from './turn-abort.ts';

export type { AbortReason } from './turn-abort.ts';

export interface TurnConfig extends PublishPacing {
  /** Prefix of Turnstream's Redis keys (cancel flags). */
  redisPrefix: string;
  /** Output budget of a reply (plus the thinking budget), within the model's limit. */
  maxTokens: number;
  /** The models and their output limits (`MODELS`). */
  models: readonly ModelSpec[];
  sessionRecovery: boolean;
  rebuildTokenBudget: number;
  livePersistIntervalMs: number;
  /** Delay before a job that found the lease held (or an earlier message unfinished) runs again. */
  waitDelayMs: number;
  /** Multiplier on every retry backoff (tests shrink it). */
  backoffScale: number;
}

/** The turns running in this process, by user message id (cancel and shutdown reach them here). */
export class RunningTurns {
  private readonly turns = new Map<string, TurnAbort>();

  add(messageId: string, abort: TurnAbort): void {
    this.turns.set(messageId, abort);
  }

  delete(messageId: string): void {
    this.turns.delete(messageId);
  }

  abort(messageId: string, reason: AbortReason): boolean {
    const turn = this.turns.get(messageId);
    if (!turn) return false;
    turn.abort(reason);
    return true;
  }

  abortAll(reason: AbortReason): number {
    for (const turn of this.turns.values()) turn.abort(reason);
    return this.turns.size;
  }

  get size(): number {
    return this.turns.size;
  }
}

export interface TurnDeps {
  db: Db;
  redis: RedisClient;
  queue: Queue;
  streams: TurnStreams;
  /** Already behind the rate gate. */
  provider: ClaudeProvider;
  /** The fleet-wide Claude rate gate (checked before a turn takes the lease). */
  rateGate: ClaudeRateGate;
  leases: ConversationLeases;
  running: RunningTurns;
  /** The merge window of the worker's streams right now, in ms (publish pacing: count and loop load). */
  publishWindowMs: () => number;
  /** The process's one writer of streaming partials. */
  liveReplies: LiveReplyWriter;
  logger: Logger;
  workerId: string;
  config: TurnConfig;
  /** Running turns per tenant: a turn starts only holding one of its tenant's slots. */
  tenantGate: TenantGateDeps;
  /** Where a completion tells the webhook notices of `streams` whether its outcome has a target. */
  outcomeTargets?: KnownOutcomeTargets;
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

/** How a processor run of a turn job ended (the job's return value). */
export interface TurnResult {
  outcome: 'completed' | 'already_finished' | 'cancelled' | 'superseded';
  status: string;
  replyId: string | null;
}

/** One attempt of a leased turn once its reply row and attempt row exist. */
export interface TurnRun extends LeasedTurn {
  replyId: string;
  attemptId: string;
  /** This attempt's number, from 1. */
  attemptNumber: number;
  publisher: ReplyPublisher;
  abort: TurnAbort;
  startedAt: number;
}
