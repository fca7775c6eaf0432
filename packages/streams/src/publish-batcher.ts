import type { Redis } from 'ioredis';
import {
  definePublishManyCommand,
  PUBLISH_KEY_COUNT,
  PUBLISH_MANY_COMMAND,
  type PublishManyCommand,
  type PublishReply,
} from './publish-script.ts';

/** One batch for {@link PublishBatcher.publish}: what `PUBLISH_MANY_LUA` takes per batch. */
export interface BatchedPublish {
  /** The 5 keys of the publish script (log, fence, record, ends, released). */
  keys: readonly string[];
  fence: string;
  channel: string;
  /** The message id whose terminal event the batch carries ('' = none). */
  ending: string;
  batch: string;
  floor: string;
  /** Event bodies as JSON. */
  events: readonly string[];
}

/** What every batch of one `TurnStreams` shares: `PUBLISH_MANY_LUA`'s ARGV[1..3]. */
export interface BatcherSettings {
  maxLen: string;
  ttl: string;
  /** '1' = SPUBLISH, '0' = PUBLISH. */
  live: string;
}

interface Pending {
  publish: BatchedPublish;
  resolve: (reply: PublishReply) => void;
  reject: (err: unknown) => void;
}

/**
 * Batches per script call at most: a script holds Redis for its whole run (one batch is a few tens of
 * microseconds), so a loop turn with more is sent as several calls in one pipeline.
 */
export const MAX_BATCHES_PER_CALL = 64;

/**
 * Sends the publishes made during one turn of the event loop together: one call of the several-batch
 * publish script (`PUBLISH_MANY_LUA`) carries them all (up to {@link MAX_BATCHES_PER_CALL}; more go as
 * several calls in one pipeline). Every batch is still its own atomic step with its own fence and
 * reply, in the order they were made; a worker holding many streams sends one command per loop turn
 * instead of one per publish, which saves both the client's and Redis's per-command work (and the
 * socket writes). Flushed from `setImmediate`, after the I/O callbacks of the loop turn that produced
 * them. Only on a single Redis: on a Cluster the conversations of one loop turn live on several slots.
 */
export class PublishBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly shared: readonly string[];

  constructor(
    private readonly redis: Redis,
    settings: BatcherSettings,
  ) {
    definePublishManyCommand(redis);
    this.shared = [settings.maxLen, settings.ttl, settings.live];
  }

  publish(publish: BatchedPublish): Promise<PublishReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ publish, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (queue.length <= MAX_BATCHES_PER_CALL) {
      settle(queue, this.command(this.redis)(...this.callArgs(queue)));
      return;
    }
    const pipeline = this.redis.pipeline();
    // On a pipeline the command queues (its result comes from `exec`).
    const send = this.command(pipeline as unknown as Redis);
    const parts: Pending[][] = [];
    for (let i = 0; i < queue.length; i += MAX_BATCHES_PER_CALL) {
      const part = queue.slice(i, i + MAX_BATCHES_PER_CALL);
      parts.push(part);
      send(...this.callArgs(part));
    }
    pipeline.exec().then(
      (results) => {
        parts.forEach((part, i) => {
          const [err, replies] = results?.[i] ?? [new Error('pipeline returned no reply'), null];
          settle(part, err ? Promise.reject(err) : Promise.resolve(replies as unknown[]));
        });
      },
      (err: unknown) => {
        for (const p of queue) p.reject(err);
      },
    );
  };

  /** `numKeys`, every batch's keys, the shared arguments, then each batch's own. */
  private callArgs(part: readonly Pending[]): [number, ...string[]] {
    const args: [number, ...string[]] = [part.length * PUBLISH_KEY_COUNT];
    for (const p of part) for (const key of p.publish.keys) args.push(key);
    for (const value of this.shared) args.push(value);
    for (const { publish: b } of part) {
      args.push(String(b.events.length), b.fence, b.channel, b.ending, b.batch, b.floor);
      for (const event of b.events) args.push(event);
    }
    return args;
  }

  private command(target: Redis): PublishManyCommand {
    return (target as unknown as Record<string, PublishManyCommand>)[PUBLISH_MANY_COMMAND]!.bind(target);
  }
}

/** Hands each batch its own reply (an error reply fails that batch only), or the call's error to all. */
function settle(part: readonly Pending[], call: Promise<unknown[]>): void {
  call.then(
    (replies) => {
      part.forEach((p, i) => {
        const reply = replies?.[i];
        if (reply instanceof Error) p.reject(reply);
        else if (Array.isArray(reply)) p.resolve(reply as PublishReply);
        else p.reject(new Error('the publish script returned no reply for a batch'));
      });
    },
    (err: unknown) => {
      for (const p of part) p.reject(err);
    },
  );
}
