import { duplicateRedis, type RedisClient } from '@turnstream/config';
import { type CancelRequest, cancelChannel } from '@turnstream/contracts';
import type { Logger } from '@turnstream/logger';
import type { RunningTurns } from './turn-context.ts';

/** Listens on the cancel channel and aborts the matching turn if it runs in this process. */
export class CancelListener {
  private sub: RedisClient | undefined;

  constructor(
    private readonly opts: { redis: RedisClient; prefix: string; running: RunningTurns; logger: Logger },
  ) {}

  async start(): Promise<void> {
    const sub = duplicateRedis(this.opts.redis);
    this.sub = sub;
    const channel = cancelChannel(this.opts.prefix);
    sub.on('message', (ch: string, raw: string) => {
      if (ch !== channel) return;
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
    });
    await sub.subscribe(channel);
  }

  async stop(): Promise<void> {
    await this.sub?.quit().catch(() => undefined);
    this.sub = undefined;
  }
}
