import type { Redis } from 'ioredis';
import { PUBLISH_COMMAND, type PublishCommand, type PublishReply } from './publish-script.ts';

interface Pending {
  /** The publish command's arguments: its five keys, then its ARGV. */
  args: string[];
  resolve: (reply: PublishReply) => void;
  reject: (err: unknown) => void;
}

/**
 * Sends the publishes made during one turn of the event loop as one pipeline: every batch is still
 * its own atomic script call, in the order they were made, but a worker holding many streams writes
 * them to Redis in one socket write (and reads the replies in one go) instead of one per publish.
 * Flushed from `setImmediate`, after the I/O callbacks of the loop turn that produced them.
 */
export class PublishBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  /** The script's caller on the connection (bound once: it is registered before the first publish). */
  private direct: PublishCommand | undefined;

  constructor(private readonly redis: Redis) {}

  /** Queues one publish: `args` are the command's keys then its ARGV (the array is kept, not copied). */
  publish(args: string[]): Promise<PublishReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ args, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 1) {
      const only = batch[0]!;
      this.direct ??= this.command(this.redis);
      (this.direct as (...args: string[]) => Promise<PublishReply>)(...only.args).then(
        only.resolve,
        only.reject,
      );
      return;
    }
    const pipeline = this.redis.pipeline();
    // On a pipeline the command queues (its result comes from `exec`).
    const send = this.command(pipeline as unknown as Redis) as (...args: string[]) => Promise<PublishReply>;
    for (const p of batch) send(...p.args);
    pipeline.exec().then(
      (results) => {
        batch.forEach((p, i) => {
          const [err, reply] = results?.[i] ?? [new Error('pipeline returned no reply'), null];
          if (err) p.reject(err);
          else p.resolve(reply as PublishReply);
        });
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  };

  private command(target: Redis): PublishCommand {
    return (target as unknown as Record<string, PublishCommand>)[PUBLISH_COMMAND]!.bind(target);
  }
}
