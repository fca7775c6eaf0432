import type { RedisClient } from '@turnstream/config';
import { enqueueTurn, turnJobId } from '@turnstream/contracts';
import { type Db, listStalePendingMessages } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import type { TurnStreams } from '@turnstream/streams';
import type { Queue } from 'bullmq';
import { abandonFailedJob } from './abandon.ts';

/**
 * Never lose a message: a user message stored as pending whose job is gone (the enqueue after the
 * insert failed, or the queue lost it) is enqueued again. The job id is derived from the message id,
 * so a job that does exist is never duplicated.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly opts: {
      db: Db;
      queue: Queue;
      streams: TurnStreams;
      logger: Logger;
      intervalMs: number;
      minAgeMs?: number;
      /**
       * With a Redis connection and key, one worker of the fleet scans per interval (a `SET NX PX`
       * turn); without, every worker scans (safe, only redundant).
       */
      turn?: { redis: RedisClient; key: string };
    },
  ) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.runIfMyTurn(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** One pass if it is this worker's turn; `null` when another worker has the turn. */
  async runIfMyTurn(): Promise<number | null> {
    const turn = this.opts.turn;
    if (turn) {
      const mine = await turn.redis
        .set(turn.key, '1', 'PX', Math.max(1000, this.opts.intervalMs - 100), 'NX')
        .catch(() => null);
      if (mine !== 'OK') return null;
    }
    return this.runOnce();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass. Returns how many messages were enqueued again. */
  async runOnce(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let requeued = 0;
    try {
      const stale = await listStalePendingMessages(this.opts.db, {
        olderThan: new Date(Date.now() - (this.opts.minAgeMs ?? this.opts.intervalMs)),
        limit: 500,
      });
      for (const m of stale) {
        const jobId = turnJobId(m.id);
        const job = await this.opts.queue.getJob(jobId);
        if (job) {
          // A job that exists is left to BullMQ; one that failed for good without the turn recording it
          // (an unexpected error) marks its message failed instead of looping.
          if ((await job.getState()) === 'failed') {
            await abandonFailedJob(this.opts, job, new Error(job.failedReason ?? 'failed'));
          }
          continue;
        }
        await enqueueTurn(this.opts.queue, {
          v: 2,
          tenantId: m.tenantId,
          conversationId: m.conversationId,
          messageId: m.id,
          mode: m.mode,
        });
        requeued++;
      }
      if (requeued > 0)
        this.opts.logger.warn(
          { event: 'reconcile.requeue_completed', requeued },
          'pending messages re-enqueued',
        );
    } catch (err) {
      this.opts.logger.error({ event: 'reconcile.run_failed', err: String(err) }, 'reconciler pass failed');
    } finally {
      this.running = false;
    }
    return requeued;
  }
}
