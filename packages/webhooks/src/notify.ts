import { isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { type Db, webhookOutcomeWanted } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { PublishResult, TurnStreams } from '@turnstream/streams';
import type { Queue } from 'bullmq';
import { enqueueFanout, type FanoutJob, isTurnOutcomeType, type TurnOutcomeType } from './jobs.ts';

export interface WebhookNoticeOptions {
  /**
   * With it, an outcome nobody takes (no endpoint of the tenant takes its type, the message has no
   * `callbackUrl`) queues no fan-out: one indexed statement instead of a fan-out job (its add, its run
   * with two reads, its completion) per turn. Without it every outcome queues one.
   */
  db?: Db;
  /** What publishers already know of their outcomes' targets: for those the notice reads nothing. */
  known?: KnownOutcomeTargets;
}

/**
 * Whether an outcome about to be published has a webhook target, when its publisher already knows
 * (the worker's completion statement reads it with its writes): the notice of that outcome then takes
 * the answer instead of a statement of its own. Told right before the publish, forgotten right after
 * it (whether or not the publish was made), so nothing outlives the publish it was told for.
 */
export class KnownOutcomeTargets {
  private readonly known = new Map<string, boolean>();

  /** `messageId`'s outcome `type`, about to be published, has a target (`wanted`) or not. */
  tell(messageId: string, type: TurnOutcomeType, wanted: boolean): void {
    this.known.set(`${type}:${messageId}`, wanted);
  }

  /** Drop what was told of `messageId`'s outcome `type` (its publish is over). */
  forget(messageId: string, type: TurnOutcomeType): void {
    this.known.delete(`${type}:${messageId}`);
  }

  /** What was told of the outcome, if anything. */
  of(messageId: string, type: TurnOutcomeType): boolean | undefined {
    return this.known.get(`${type}:${messageId}`);
  }

  /** Outcomes told and not forgotten (for tests). */
  get size(): number {
    return this.known.size;
  }
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
    // Read before any wait: the publisher forgets what it told once its publish returns.
    const known = opts.known?.of(job.messageId, job.type);
    if (known === false) return;
    if (known === undefined && opts.db && !(await wanted(opts.db, job, logger))) return;
    await enqueueFanout(queue, job);
  };
  const noticed = (conversationId: string, events: TurnEvent[], result: PublishResult): PublishResult => {
    if (!result.ok) return result;
    for (const event of events) {
      if (!isOutcome(event)) continue;
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
  };
  return {
    ...streams,
    publish(conversationId, fence, events) {
      const published = streams.publish(conversationId, fence, events);
      // Most batches carry no outcome (chunks): they get the publish's own promise, nothing more per
      // publish (a held stream publishes every few tens of milliseconds).
      if (!events.some(isOutcome)) return published;
      return published.then((result) => noticed(conversationId, events, result));
    },
    async noticesSettled() {
      await Promise.allSettled([...pending]);
    },
  };
}

/** A turn outcome (a terminal event webhooks are sent for). */
function isOutcome(event: TurnEvent): event is TurnEvent & { type: TurnOutcomeType } {
  return isTerminalEvent(event) && isTurnOutcomeType(event.type);
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
