import type { RedisClient } from '@turnstream/config';
import {
  enqueueTurn,
  type IntakeResult,
  parseIntakeJob,
  TURN_JOB_NAME,
  turnJobId,
} from '@turnstream/contracts';
import { getMessage } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import { deleteConversationKeys } from '@turnstream/streams';
import { type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import { type AdmitDeps, admitMessage } from './admit.ts';

/** What the intake processor needs: admitting messages, the turns queue, and Redis to undo with. */
export interface IntakeDeps extends AdmitDeps {
  queue: Queue;
  logger: Logger;
  redis: RedisClient;
  /** `REDIS_PREFIX`: where the conversation's log and flags are. */
  redisPrefix: string;
}

/**
 * A job on the intake queue (`TurnsClient.enqueue`, or any producer writing the documented JSON):
 * store the message (creating the conversation of a new `externalConversationId`), publish
 * `turn.queued`, then enqueue its turn on the turns queue. The job completes once the message is
 * visible; its return value is an {@link IntakeResult}. Refusals fail it for good, naming the field,
 * and store nothing. A conversation deleted while this runs is not brought back: see
 * {@link undoIfDeleted}.
 */
export async function processIntakeJob(job: Job, deps: IntakeDeps): Promise<IntakeResult> {
  if (job.name !== TURN_JOB_NAME)
    throw new UnrecoverableError(`invalid_job: name: expected "${TURN_JOB_NAME}"`);
  const parsed = parseIntakeJob(job.data);
  if (!parsed.ok) {
    deps.logger.warn(
      { event: 'intake.job_rejected', jobId: job.id, reason: parsed.reason },
      'invalid intake job',
    );
    throw new UnrecoverableError(`invalid_job: ${parsed.reason}`);
  }
  const data = parsed.job;
  const { conversation, message, created } = await admitMessage(deps, data, job.timestamp);
  // A message stored by an earlier try whose turn job is gone (that enqueue failed) is queued again; a
  // queued, running or finished one is left alone (its job id is derived from the message id anyway).
  const mustEnqueue =
    created ||
    (message.status === 'pending' && (await deps.queue.getJob(turnJobId(message.id))) === undefined);
  if (mustEnqueue) {
    await enqueueTurn(deps.queue, {
      v: 2,
      tenantId: data.tenantId,
      conversationId: conversation.id,
      messageId: message.id,
      mode: message.mode,
      ...(data.acceptedAt !== undefined ? { acceptedAt: data.acceptedAt } : {}),
    });
  }
  if (created || mustEnqueue) await undoIfDeleted(deps, conversation.id, data.tenantId, message.id);
  deps.logger.info(
    {
      event: 'intake.accept_completed',
      conversationId: conversation.id,
      messageId: message.id,
      created,
      enqueued: mustEnqueue,
    },
    'message taken in',
  );
  return { conversationId: conversation.id, messageId: message.id, created, status: message.status };
}

/**
 * After writing to Redis (`turn.queued`, the turn job): when the message is gone, its conversation was
 * deleted meanwhile, possibly after the deletion cleaned Redis. Remove what this intake wrote there and
 * refuse (`conversation_deleted`). A deletion that comes later finds the message and cleans up itself.
 */
async function undoIfDeleted(
  deps: IntakeDeps,
  conversationId: string,
  tenantId: string,
  messageId: string,
): Promise<void> {
  if (await getMessage(deps.db, tenantId, messageId)) return;
  await deps.queue.remove(turnJobId(messageId));
  await deleteConversationKeys(deps.redis, deps.redisPrefix, conversationId, [messageId]);
  deps.logger.info(
    { event: 'intake.accept_undone', conversationId, messageId },
    'conversation deleted during intake',
  );
  throw new UnrecoverableError(
    'conversation_deleted: the conversation was deleted while the message was taken in',
  );
}

/** Options of {@link createIntakeWorker}. */
export interface IntakeWorkerOptions {
  deps: IntakeDeps;
  /** BullMQ connection of the intake worker (blocking: its own). */
  connection: RedisClient;
  prefix: string;
  queueName: string;
  concurrency: number;
  /** BullMQ lock duration and stalled check (as the turns worker's): how soon a dead worker's intake moves on. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  autorun: boolean;
}

/** The BullMQ worker of the intake queue (quick jobs: store, publish, enqueue). */
export function createIntakeWorker(opts: IntakeWorkerOptions): Worker<unknown, IntakeResult> {
  const worker = new Worker<unknown, IntakeResult>(
    opts.queueName,
    (job) => processIntakeJob(job, opts.deps),
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs,
      autorun: opts.autorun,
    },
  );
  worker.on('error', (err) =>
    opts.deps.logger.error({ event: 'intake.run_failed', err: err.message }, 'intake worker error'),
  );
  // An intake job whose worker died or froze (its lock expired) is handed to another worker.
  worker.on('stalled', (jobId) =>
    opts.deps.logger.warn({ event: 'intake.job_stalled', jobId }, 'intake job taken over'),
  );
  worker.on('failed', (job, err) =>
    opts.deps.logger.info(
      { event: 'intake.job_failed', jobId: job?.id, reason: err.message.slice(0, 200) },
      'intake attempt failed',
    ),
  );
  return worker;
}
