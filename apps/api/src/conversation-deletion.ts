import type { RedisClient } from '@turnstream/config';
import { turnJobId } from '@turnstream/contracts';
import {
  type Conversation,
  type Db,
  deleteConversationRows,
  FINAL_USER_STATUSES,
  getMessage,
  listUserMessageRefs,
  type Message,
} from '@turnstream/db';
import { deleteConversationKeys } from '@turnstream/streams';
import { enqueueConversationDeleted } from '@turnstream/webhooks';
import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { RouteContext } from './context.ts';
import { ApiError } from './errors.ts';
import { removeIntakeJobs } from './intake-removal.ts';
import { cancelTurn } from './routes/cancel.ts';

/** What purging a conversation needs (the API's route context has it; so does the retention sweeper). */
export interface PurgeDeps {
  db: Db;
  redis: RedisClient;
  /** The turns queue. */
  queue: Queue;
  /** The intake queue (`TURNS_INTAKE_QUEUE_NAME`): messages handed in but not stored yet. */
  intakeQueue: Queue;
  /** The webhook fan-out queue (`webhook-fanout`): where `conversation.deleted` is announced. */
  webhookQueue: Queue;
  redisPrefix: string;
}

export interface PurgeResult {
  /** false: the conversation was already gone. */
  deleted: boolean;
  messages: number;
  jobsRemoved: number;
  /** Messages for it still waiting on the intake queue, removed unstored. */
  intakeJobsRemoved: number;
}

/** Removing jobs is one Redis call each: a long conversation is done in slices. */
const JOB_REMOVAL_SLICE = 100;

async function removeTurnJobs(queue: Queue, messageIds: readonly string[]): Promise<number> {
  let removed = 0;
  for (let i = 0; i < messageIds.length; i += JOB_REMOVAL_SLICE) {
    const slice = messageIds.slice(i, i + JOB_REMOVAL_SLICE);
    const counts = await Promise.all(slice.map((id) => queue.remove(turnJobId(id))));
    removed += counts.filter((n) => n > 0).length;
  }
  return removed;
}

/**
 * Remove every trace of a conversation: its turn jobs (any state but active: a running turn must be
 * stopped before, see {@link deleteConversation}), its rows (messages, sessions, transcripts and turn
 * attempts go by cascade) leaving a tombstone, the messages for it still on the intake queue, and its
 * event log, fence and cancel flags in Redis; then announce `conversation.deleted` to the tenant's
 * webhook endpoints. The API's `DELETE` (`via: 'api'`) and the retention sweeper (`'retention'`) both go
 * through here.
 *
 * An intake job a worker holds meanwhile cannot come back with it: a message it stores before the rows
 * go is among the deleted ones (its turn job and log go here, after the rows); one it stores after finds
 * no conversation; one naming the external id finds the tombstone (`conversation_deleted`), and an
 * intake that sees its message vanish under it cleans up what it published.
 */
export async function purgeConversation(
  deps: PurgeDeps,
  conversation: Pick<Conversation, 'id' | 'tenantId' | 'externalId'>,
  via: 'api' | 'retention',
): Promise<PurgeResult> {
  const before = (await listUserMessageRefs(deps.db, conversation.id)).map((m) => m.id);
  let jobsRemoved = await removeTurnJobs(deps.queue, before);
  const rows = await deleteConversationRows(deps.db, conversation.tenantId, conversation.id);
  if (rows.deleted) {
    await enqueueConversationDeleted(deps.webhookQueue, {
      tenantId: conversation.tenantId,
      conversationId: conversation.id,
      externalId: conversation.externalId,
      via,
      at: Date.now(),
    });
  }
  // Messages stored by an intake between the listing and the deletion.
  const known = new Set(before);
  jobsRemoved += await removeTurnJobs(
    deps.queue,
    rows.userMessageIds.filter((id) => !known.has(id)),
  );
  const intakeJobsRemoved = await removeIntakeJobs(deps.intakeQueue, conversation);
  const messageIds = [...new Set([...before, ...rows.userMessageIds])];
  await deleteConversationKeys(deps.redis, deps.redisPrefix, conversation.id, messageIds);
  return { deleted: rows.deleted, messages: messageIds.length, jobsRemoved, intakeJobsRemoved };
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
    {
      db: ctx.db,
      redis: ctx.redis,
      queue: ctx.queue,
      intakeQueue: ctx.intakeQueue,
      webhookQueue: ctx.webhookQueue,
      redisPrefix: ctx.config.redisPrefix,
    },
    conversation,
    'api',
  );
  return { ...purged, cancelled: unfinished.length, stillRunning };
}

/**
 * Wait (bounded) until each message's turn has ended: its row final and its job out of `active`. The row
 * goes final inside the worker's turn, a round trip before the worker completes the job, and a job
 * still locked by its worker cannot be removed (the purge would leave it behind, completed). Returns how
 * many had not ended.
 */
async function waitForTurnsToEnd(ctx: RouteContext, tenantId: string, messageIds: string[]): Promise<number> {
  const deadline = Date.now() + ctx.config.deleteCancelWaitMs;
  let pending = messageIds;
  while (pending.length > 0) {
    const ended = await Promise.all(pending.map((id) => turnHasEnded(ctx, tenantId, id)));
    pending = pending.filter((_, i) => !ended[i]);
    if (pending.length === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return pending.length;
}

async function turnHasEnded(ctx: RouteContext, tenantId: string, messageId: string): Promise<boolean> {
  const message = await getMessage(ctx.db, tenantId, messageId);
  if (message && !FINAL_USER_STATUSES.includes(message.status)) return false;
  return (await ctx.queue.getJobState(turnJobId(messageId))) !== 'active';
}
