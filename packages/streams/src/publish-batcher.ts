import type { Redis } from 'ioredis';
import { PUBLISH_COMMAND, type PublishCommand, type PublishReply } from './publish-script.ts';

interface Pending {
  args: [string, string, string, string, string, ...string[]];
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

  constructor(private readonly redis: Redis) {}

  publish(...args: [string, string, string, string, string, ...string[]]): Promise<PublishReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ args, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 1) {
      const only = batch[0]!;
      this.command(this.redis)(...only.args).then(only.resolve, only.reject);
      return;
    }
    const pipeline = this.redis.pipeline();
    // On a pipeline the command queues (its result comes from `exec`).
    const send = this.command(pipeline as unknown as Redis);
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
  }

  private command(target: Redis): PublishCommand {
    return (target as unknown as Record<string, PublishCommand>)[PUBLISH_COMMAND]!.bind(target);
  }
}
