import { cancelFlagKey, turnJobId } from '@turnstream/contracts';
import {
  type Conversation,
  type Db,
  deleteConversationRows,
  FINAL_USER_STATUSES,
  getMessage,
  listUserMessageRefs,
  type Message,
} from '@turnstream/db';
import { conversationKeys } from '@turnstream/streams';
import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { RouteContext } from './context.ts';
import { ApiError } from './errors.ts';
import { cancelTurn } from './routes/cancel.ts';

/** What purging a conversation needs (the API's route context has it; so does the retention sweeper). */
export interface PurgeDeps {
  db: Db;
  redis: Redis;
  queue: Queue;
  redisPrefix: string;
}

export interface PurgeResult {
  /** false: the conversation was already gone. */
  deleted: boolean;
  messages: number;
  jobsRemoved: number;
}

/** Removing jobs is one Redis call each: a long conversation is done in slices. */
const JOB_REMOVAL_SLICE = 100;

/**
 * Remove every trace of a conversation: its turn jobs (any state but active: a running turn must be
 * stopped before, see {@link deleteConversation}), its rows (messages, sessions, transcripts and turn
 * attempts go by cascade), its event log, fence and cancel flags in Redis.
 */
export async function purgeConversation(
  deps: PurgeDeps,
  conversation: Pick<Conversation, 'id' | 'tenantId'>,
): Promise<PurgeResult> {
  const refs = await listUserMessageRefs(deps.db, conversation.id);
  let jobsRemoved = 0;
  for (let i = 0; i < refs.length; i += JOB_REMOVAL_SLICE) {
    const slice = refs.slice(i, i + JOB_REMOVAL_SLICE);
    const removed = await Promise.all(slice.map((m) => deps.queue.remove(turnJobId(m.id))));
    jobsRemoved += removed.filter((n) => n > 0).length;
  }
  const deleted = await deleteConversationRows(deps.db, conversation.tenantId, conversation.id);
  await deleteRedisState(
    deps,
    conversation.id,
    refs.map((m) => m.id),
  );
  return { deleted, messages: refs.length, jobsRemoved };
}

async function deleteRedisState(
  deps: PurgeDeps,
  conversationId: string,
  messageIds: string[],
): Promise<void> {
  const keys = conversationKeys(deps.redisPrefix, conversationId);
  const flags = messageIds.map((id) => cancelFlagKey(deps.redisPrefix, conversationId, id));
  // One key per call: every key of a conversation shares its hash tag, but stay Cluster-agnostic anyway.
  await Promise.all([keys.log, keys.fence, ...flags].map((key) => deps.redis.unlink(key)));
}

export interface DeletionOutcome extends PurgeResult {
  /** Turns that were unfinished: cancelled here (queued) or by their worker (running). */
  cancelled: number;
  /** Running turns that had not ended when the wait ran out (their writes then find nothing to write to). */
  stillRunning: number;
}

/**
 * `DELETE /v1/conversations/:id`: cancel every unfinished turn first (queued ones at once, running ones
 * through their worker, waiting up to `deleteCancelWaitMs` for them to end), then purge. The event log
 * is removed last, after the cancelled turns have published their final events.
 */
export async function deleteConversation(
  ctx: RouteContext,
  log: FastifyBaseLogger,
  conversation: Conversation,
): Promise<DeletionOutcome> {
  const unfinished = (await listUserMessageRefs(ctx.db, conversation.id)).filter(
    (m) => !FINAL_USER_STATUSES.includes(m.status as Message['status']),
  );
  const running: string[] = [];
  for (const ref of unfinished) {
    const message = await getMessage(ctx.db, conversation.tenantId, ref.id);
    if (!message || FINAL_USER_STATUSES.includes(message.status)) continue;
    const outcome = await cancelTurn(ctx, log, message).catch((err: unknown) => {
      // Ended meanwhile: nothing left to stop.
      if (err instanceof ApiError && err.code === 'message_not_cancellable') return null;
      throw err;
    });
    if (outcome?.status === 'cancelling') running.push(message.id);
  }
  const stillRunning = await waitForTurnsToEnd(ctx, conversation.tenantId, running);
  const purged = await purgeConversation(
    { db: ctx.db, redis: ctx.redis, queue: ctx.queue, redisPrefix: ctx.config.redisPrefix },
    conversation,
  );
  return { ...purged, cancelled: unfinished.length, stillRunning };
}

/** Wait (bounded) until each message's turn is final; returns how many were not. */
async function waitForTurnsToEnd(ctx: RouteContext, tenantId: string, messageIds: string[]): Promise<number> {
  const deadline = Date.now() + ctx.config.deleteCancelWaitMs;
  let pending = messageIds;
  while (pending.length > 0) {
    const statuses = await Promise.all(pending.map((id) => getMessage(ctx.db, tenantId, id)));
    pending = pending.filter((_, i) => {
      const m = statuses[i];
      return m !== null && m !== undefined && !FINAL_USER_STATUSES.includes(m.status);
    });
    if (pending.length === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return pending.length;
}
