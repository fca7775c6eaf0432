import { type RedisClient, subscriberRedis } from '@turnstream/config';
import { type CancelRequest, cancelChannel } from '@turnstream/contracts';
import type { Logger } from '@turnstream/logger';
import { CancelSubscriberEndedError } from './errors.ts';
import type { RunningTurns } from './turn-context.ts';

/** Listens on the cancel channel and aborts the matching turn if it runs in this process. */
export class CancelListener {
  private sub: RedisClient | undefined;
  private stopped = false;
  private ended: CancelSubscriberEndedError | null = null;

  constructor(
    private readonly opts: {
      /** What the subscriber connection duplicates. */
      redis: RedisClient;
      prefix: string;
      running: RunningTurns;
      logger: Logger;
    },
  ) {}

  /**
   * Set once the subscriber connection ended for good (ioredis stopped reconnecting, or it was closed
   * under the listener): no cancel reaches a turn here any more, only a restart mends it. `null` while
   * it works (or after `stop`).
   */
  get failure(): CancelSubscriberEndedError | null {
    return this.stopped ? null : this.ended;
  }

  async start(): Promise<void> {
    // Subscribed again on each 'ready' below; on a Cluster ioredis subscribes its subscriber connection
    // again itself, handling the result (see subscriberRedis).
    const sub = subscriberRedis(this.opts.redis);
    this.sub = sub;
    const channel = cancelChannel(this.opts.prefix);
    sub.on('message', (ch: string, raw: string) => {
      if (ch === channel) this.onCancel(raw);
    });
    // Refused reconnects while Redis is away: logged, not printed by ioredis as unhandled error events.
    sub.on('error', (err: Error) =>
      this.opts.logger.warn(
        { event: 'cancel.subscriber_failed', err: err.message },
        'cancel subscriber error',
      ),
    );
    sub.on('ready', () => {
      sub
        .subscribe(channel)
        .catch((err: Error) =>
          this.opts.logger.warn(
            { event: 'cancel.subscriber_failed', err: err.message },
            'cancel subscriber could not subscribe again (the next reconnect does)',
          ),
        );
    });
    // 'end' means no reconnect will come.
    sub.on('end', () => {
      if (this.stopped || this.ended) return;
      this.ended = new CancelSubscriberEndedError();
      this.opts.logger.error(
        { event: 'cancel.subscriber_ended', err: this.ended.message },
        'cancel subscriber gave up on Redis; cancels no longer reach running turns here',
      );
    });
    await sub.subscribe(channel);
  }

  private onCancel(raw: string): void {
    let req: CancelRequest;
    try {
      req = JSON.parse(raw) as CancelRequest;
    } catch {
      return;
    }
    if (typeof req?.messageId !== 'string') return;
    if (this.opts.running.abort(req.messageId, 'cancelled')) {
      this.opts.logger.info(
        { event: 'turn.cancel_started', conversationId: req.conversationId, messageId: req.messageId },
        'cancel requested for a running turn',
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sub?.quit().catch(() => undefined);
    this.sub = undefined;
  }
}

/**
 * Why this worker must be restarted, or null: its cancel listener's Redis connection ended for good, so
 * cancels no longer reach the turns it runs.
 */
export function notLiveReason(cancels: Pick<CancelListener, 'failure'>): string | null {
  const failure = cancels.failure;
  return failure ? `cancel subscriber: ${failure.message}` : null;
}
