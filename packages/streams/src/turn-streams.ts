import { randomUUID } from 'node:crypto';
import { isCluster, type RedisClient } from '@turnstream/config';
import { type DeliveredEvent, isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { decodeEntries } from './entries.ts';
import { type ConversationKeys, conversationKeys } from './keys.ts';
import { PublishBatcher } from './publish-batcher.ts';
import { definePublishCommand } from './publish-script.ts';
import { checkResume, logInfo, type ResumeCheck, trimmedPast } from './resume-check.ts';
import { isStreamId } from './stream-ids.ts';

export interface TurnStreamsOptions {
  /**
   * A regular (non-subscriber) ioredis connection used for publishing and reading: a `Redis`, or a
   * `Cluster` (every key and the channel of a conversation share one hash slot). The publish script
   * is registered on it with `defineCommand`. Do not set an ioredis `keyPrefix` on it; use
   * {@link TurnStreamsOptions.keyPrefix}.
   */
  redis: RedisClient;
  /** Prefix of every key and channel. Default `'ts'`. */
  keyPrefix?: string;
  /**
   * Approximate maximum number of entries kept per conversation log (`XADD MAXLEN ~`):
   * Redis trims whole radix-tree nodes, so the log may hold up to about
   * `stream-node-max-entries` (100 by default) more. Default `10_000`.
   */
  maxLen?: number;
  /** Expiry of the log and fence keys, refreshed on every publish. Default `86_400` (one day). */
  ttlSeconds?: number;
  /**
   * Use sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+) instead of `PUBLISH`/`SUBSCRIBE`.
   * On a Cluster this keeps live traffic on the conversation's shard. Must match on every
   * publisher and subscriber of a deployment. Default `false` on a `Redis`; always on for a `Cluster`
   * (`false` is refused there: a subscriber learns of shard changes only with sharded pub/sub).
   */
  sharded?: boolean;
  /**
   * Send the publishes made during one turn of the event loop as one pipeline (each still its own
   * atomic script call, in order). Saves a socket write per publish when a process publishes for many
   * conversations at once (a worker holding many streams). Default `true` on a `Redis`; off on a
   * `Cluster`, where `true` is refused (a pipeline goes to one node, the conversations of one loop
   * turn live on several).
   */
  pipelinePublishes?: boolean;
}

/** Outcome of {@link TurnStreams.publish}. */
export type PublishResult =
  | { ok: true; ids: string[] }
  | { ok: false; reason: 'stale_fence'; currentFence: number };

export interface ReadOptions {
  /** Return only events strictly after this id. Default: from the oldest entry still in the log. */
  after?: string;
  /** Maximum number of events returned. Default: no limit (the whole rest of the log). */
  count?: number;
}

export interface TurnStreams {
  /**
   * Appends `events` to the conversation's log and publishes them live, atomically.
   * `fence` is the turn's lease fence (a positive integer); a batch whose fence is lower than the
   * highest fence accepted for this conversation is refused and nothing is written.
   * `null` publishes unfenced (always accepted, does not move the fence).
   * A message's terminal event is appended once: a batch carrying the terminal event of a message
   * whose end the log already holds appends nothing and returns the ids of that end (so a worker may
   * publish an end it rebuilt from the database when it cannot know whether the first was published).
   * Put a terminal event in a batch of its own (with its message's events only).
   */
  publish(conversationId: string, fence: number | null, events: TurnEvent[]): Promise<PublishResult>;
  /** Events of the log in order, exclusive of `after`. */
  read(conversationId: string, opts?: ReadOptions): Promise<DeliveredEvent[]>;
  /** Id of the newest event in the log, or `null` when the log is empty or gone. */
  lastId(conversationId: string): Promise<string | null>;
  /**
   * Whether resuming after `after` would skip events: the log dropped entries (trimmed by `maxLen`)
   * and `after` is older than the oldest one left, or the log expired altogether. May report a gap
   * when `after` was exactly the last entry dropped (a client then reloads what it has: harmless);
   * never misses one.
   */
  resumeGap(conversationId: string, after: string): Promise<{ gap: boolean; oldestId: string | null }>;
  /**
   * Where a client resuming after `after` stands (see {@link ResumeCheck}): an id later than the
   * Redis server's clock is `future`; an id the log never issued, or one it was trimmed past, is a
   * `gap`; otherwise `continue`. `after` must satisfy {@link isStreamId}.
   */
  resumeCheck(conversationId: string, after: string): Promise<ResumeCheck>;
  /** Redis key and channel names of a conversation. */
  keys(conversationId: string): ConversationKeys;
  /** Whether sharded pub/sub is used (see {@link TurnStreamsOptions.sharded}). */
  readonly sharded: boolean;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export function createTurnStreams(opts: TurnStreamsOptions): TurnStreams {
  const { redis } = opts;
  const prefix = opts.keyPrefix ?? 'ts';
  const maxLen = positiveInteger('maxLen', opts.maxLen ?? 10_000);
  const ttlSeconds = positiveInteger('ttlSeconds', opts.ttlSeconds ?? 86_400);
  const cluster = isCluster(redis);
  if (cluster && opts.sharded === false) {
    throw new RangeError('sharded: false is not supported on a Redis Cluster (use sharded pub/sub)');
  }
  if (cluster && opts.pipelinePublishes === true) {
    throw new RangeError(
      'pipelinePublishes is not supported on a Redis Cluster (a pipeline goes to one node)',
    );
  }
  const sharded = opts.sharded ?? cluster;
  const direct = definePublishCommand(redis);
  const batcher = !cluster && (opts.pipelinePublishes ?? true) ? new PublishBatcher(redis) : null;
  const runPublish = batcher ? batcher.publish.bind(batcher) : direct;
  const keys = (conversationId: string) => conversationKeys(prefix, conversationId);

  return {
    sharded,
    keys,

    async publish(conversationId, fence, events) {
      if (fence !== null) positiveInteger('fence', fence);
      const k = keys(conversationId);
      const ending = events.find(isTerminalEvent);
      const result = await runPublish(
        k.log,
        k.fence,
        `${k.fence}:batch:${randomUUID()}`,
        k.ends,
        fence === null ? '' : String(fence),
        String(maxLen),
        String(ttlSeconds),
        k.channel,
        sharded ? '1' : '0',
        ending?.messageId ?? '',
        ...events.map((event) => JSON.stringify(event)),
      );
      if (result[0] === 1) return { ok: true, ids: result[1] };
      return { ok: false, reason: 'stale_fence', currentFence: Number(result[1]) };
    },

    async read(conversationId, readOpts = {}) {
      const { after, count } = readOpts;
      if (after !== undefined && !isStreamId(after)) {
        throw new TypeError(`after is not a Redis Stream id: ${JSON.stringify(after)}`);
      }
      if (count !== undefined) positiveInteger('count', count);
      const start = after === undefined ? '-' : `(${after}`;
      const log = keys(conversationId).log;
      const entries =
        count === undefined
          ? await redis.xrange(log, start, '+')
          : await redis.xrange(log, start, '+', 'COUNT', count);
      return decodeEntries(entries);
    },

    async resumeGap(conversationId, after) {
      const info = await logInfo(redis, keys(conversationId).log);
      return { gap: trimmedPast(info, after), oldestId: info?.oldestId ?? null };
    },
    async resumeCheck(conversationId, after) {
      if (!isStreamId(after)) throw new TypeError(`after is not a Redis Stream id: ${JSON.stringify(after)}`);
      return checkResume(redis, keys(conversationId).log, after);
    },
    async lastId(conversationId) {
      const entries = await redis.xrevrange(keys(conversationId).log, '+', '-', 'COUNT', 1);
      return entries[0]?.[0] ?? null;
    },
  };
}
