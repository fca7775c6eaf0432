import { DEFAULT_REDIS_WAIT_TIMEOUT_MS, isCluster, type RedisClient } from '@turnstream/config';
import { type DeliveredEvent, isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { BatchRecords } from './batch-record.ts';
import { DurableAppender, type ReplicationShort } from './durable-append.ts';
import { decodeEntries } from './entries.ts';
import { KeyCache } from './key-cache.ts';
import { type ConversationKeys, conversationKeys } from './keys.ts';
import { PublishBatcher } from './publish-batcher.ts';
import {
  definePublishCommand,
  defineReleaseCommand,
  PUBLISH_KEY_COUNT,
  PUBLISH_LUA,
  type PublishReply,
} from './publish-script.ts';
import { defineLogReads } from './release-script.ts';
import { checkResume, logInfo, type ResumeCheck, trimmedPast } from './resume-check.ts';
import { isStreamId } from './stream-ids.ts';

/** The publish command's keys and ARGV before the events (ARGV[9..]). */
const PUBLISH_FIXED_ARGS = PUBLISH_KEY_COUNT + 8;

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
  /**
   * Replicas that must have a batch before it is released to readers (published live, readable from
   * the log): the publish appends it, then `WAIT`s on the connection that wrote it, then releases it.
   * Closes the loss of acknowledged events to a failover (replication is asynchronous): without it a
   * reader can receive an event that the promoted replica never got. `0` releases a batch as it is
   * appended, in one script. On a Cluster at most as many replicas as the slot's master has are
   * awaited. Default `1` on a `Cluster`, `0` on a `Redis` (set it where that server has a replica that
   * can be promoted). With it, publishes are not pipelined.
   */
  waitReplicas?: number;
  /**
   * How long a publish waits for its replicas, in milliseconds. When they do not all acknowledge in
   * time the batch is released anyway (see `onReplicationShort`): a lagging or lost replica slows
   * publishes down by this much, it does not stop them. Default `500`.
   */
  waitTimeoutMs?: number;
  /** Called when a replication wait timed out short (to log it); the batch was released anyway. */
  onReplicationShort?: (short: ReplicationShort) => void;
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
  /**
   * Events of the log in order, exclusive of `after`, up to the newest one released (see
   * {@link TurnStreamsOptions.waitReplicas}): a batch still waiting for its replicas is not read.
   */
  read(conversationId: string, opts?: ReadOptions): Promise<DeliveredEvent[]>;
  /** Id of the newest released event in the log, or `null` when there is none (or the log is gone). */
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
  /** Replicas a batch waits for before it is released (see {@link TurnStreamsOptions.waitReplicas}). */
  readonly waitReplicas: number;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
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
  const waitReplicas = nonNegativeInteger('waitReplicas', opts.waitReplicas ?? (cluster ? 1 : 0));
  const waitTimeoutMs = positiveInteger('waitTimeoutMs', opts.waitTimeoutMs ?? DEFAULT_REDIS_WAIT_TIMEOUT_MS);
  const direct = definePublishCommand(redis);
  const batcher =
    !cluster && waitReplicas === 0 && (opts.pipelinePublishes ?? true) ? new PublishBatcher(redis) : null;
  const runPublish: (args: string[]) => Promise<PublishReply> = batcher
    ? (args) => batcher.publish(args)
    : (args) => (direct as (...args: string[]) => Promise<PublishReply>)(...args);
  const durable =
    waitReplicas > 0
      ? new DurableAppender(redis, PUBLISH_LUA, {
          replicas: waitReplicas,
          timeoutMs: waitTimeoutMs,
          ...(opts.onReplicationShort ? { onShort: opts.onReplicationShort } : {}),
        })
      : null;
  const release = defineReleaseCommand(redis);
  const logReads = defineLogReads(redis);
  const keys = (conversationId: string) => conversationKeys(prefix, conversationId);
  const publishKeys = new KeyCache(prefix);
  const live = sharded ? '1' : '0';
  const maxLenArg = String(maxLen);
  const ttlArg = String(ttlSeconds);
  const records = new BatchRecords();

  /**
   * Appends, waits for the replicas, then releases the batch (and any before it not yet released).
   * `argv` is the publish command's: its keys, then its ARGV.
   */
  async function publishDurably(k: ConversationKeys, argv: string[]): Promise<PublishReply> {
    const reply = await durable!.append(argv.slice(0, PUBLISH_KEY_COUNT), argv.slice(PUBLISH_KEY_COUNT));
    if (reply[0] === 1 && reply[1].length > 0) {
      const ids = reply[1];
      await release(k.log, k.released, ids[0]!, ids[ids.length - 1]!, String(ttlSeconds), k.channel, live);
    }
    return reply;
  }

  return {
    sharded,
    waitReplicas,
    keys,

    async publish(conversationId, fence, events) {
      if (fence !== null) positiveInteger('fence', fence);
      const k = publishKeys.get(conversationId);
      const ending = events.find(isTerminalEvent);
      // The record is the fence key plus a suffix: the same hash tag, hence the same slot.
      const slot = records.open(conversationId, k.fence);
      // The command's keys and ARGV (see PUBLISH_LUA) in one array of its final size: a held stream
      // publishes every few tens of milliseconds, so no array grown, copied or spread on the way.
      const argv = new Array<string>(PUBLISH_FIXED_ARGS + events.length);
      argv[0] = k.log;
      argv[1] = k.fence;
      argv[2] = slot.key;
      argv[3] = k.ends;
      argv[4] = k.released;
      argv[5] = fence === null ? '' : String(fence);
      argv[6] = maxLenArg;
      argv[7] = ttlArg;
      argv[8] = k.channel;
      argv[9] = durable ? '' : live;
      argv[10] = ending?.messageId ?? '';
      argv[11] = slot.batch;
      argv[12] = slot.floor;
      for (let i = 0; i < events.length; i++) argv[PUBLISH_FIXED_ARGS + i] = JSON.stringify(events[i]);
      let result: PublishReply;
      try {
        result = durable ? await publishDurably(k, argv) : await runPublish(argv);
      } finally {
        records.settle(slot);
      }
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
      const k = keys(conversationId);
      return decodeEntries(
        await logReads.read(k.log, k.released, start, count === undefined ? '' : String(count)),
      );
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
      const k = keys(conversationId);
      const entries = await logReads.last(k.log, k.released);
      return entries[0]?.[0] ?? null;
    },
  };
}
