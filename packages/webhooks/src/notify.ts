import { isTerminalEvent } from '@turnstream/contracts';
import { type Db, webhookOutcomeWanted } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Queue } from 'bullmq';
import { enqueueFanout, type FanoutJob, isTurnOutcomeType } from './jobs.ts';

export interface WebhookNoticeOptions {
  /**
   * With it, an outcome nobody takes (no endpoint of the tenant takes its type, the message has no
   * `callbackUrl`) queues no fan-out: one indexed statement instead of a fan-out job (its add, its run
   * with two reads, its completion) per turn. Without it every outcome queues one.
   */
  db?: Db;
}

/** Streams that queue webhook notices, and can say when the notices started so far are settled. */
export type NoticingStreams = TurnStreams & {
  /** Resolves once every notice started so far is queued, skipped or (logged) failed: before closing. */
  noticesSettled(): Promise<void>;
};

/**
 * Wrap a process's {@link TurnStreams} so that every turn outcome it publishes (a terminal event that
 * the log accepted) also queues a webhook fan-out. The fan-out is added without being awaited: the
 * publisher (a turn ending in the worker, a cancel in the API) never waits for webhooks, and an error
 * here is logged, never raised.
 */
export function withWebhookNotices(
  streams: TurnStreams,
  queue: Queue,
  logger: Logger,
  opts: WebhookNoticeOptions = {},
): NoticingStreams {
  const pending = new Set<Promise<void>>();
  const notice = async (job: FanoutJob) => {
    if (opts.db && !(await wanted(opts.db, job, logger))) return;
    await enqueueFanout(queue, job);
  };
  return {
    ...streams,
    async publish(conversationId, fence, events) {
      const result = await streams.publish(conversationId, fence, events);
      if (!result.ok) return result;
      for (const event of events) {
        if (!isTerminalEvent(event) || !isTurnOutcomeType(event.type)) continue;
        const job = { conversationId, messageId: event.messageId, type: event.type, at: Date.now() };
        const done: Promise<void> = notice(job)
          .catch((err: unknown) =>
            logger.warn(
              { event: 'webhook.fanout_enqueue_failed', messageId: event.messageId, err: String(err) },
              'could not queue a webhook fan-out',
            ),
          )
          .finally(() => pending.delete(done));
        pending.add(done);
      }
      return result;
    },
    async noticesSettled() {
      await Promise.allSettled([...pending]);
    },
  };
}

/** Whether the outcome has a target; a failed check queues the fan-out anyway (it reads again). */
async function wanted(db: Db, job: FanoutJob, logger: Logger): Promise<boolean> {
  try {
    return await webhookOutcomeWanted(db, job.messageId, job.type);
  } catch (err) {
    logger.warn(
      { event: 'webhook.target_check_failed', messageId: job.messageId, err: String(err) },
      'could not check for webhook targets; queueing the fan-out',
    );
    return true;
  }
}
