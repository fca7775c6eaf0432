import { duplicateRedis, isCluster, type RedisClient } from '@turnstream/config';
import { ReplyError } from 'ioredis';
import { decodeLiveMessage } from './entries.ts';
import { SubscriberClosedError, SubscriberConnectionEndedError } from './errors.ts';
import { DEFAULT_READ_RETRY_MS, type ReadRetry } from './read-retry.ts';
import { isStreamId } from './stream-ids.ts';
import { LiveSubscription, type Subscription } from './subscription.ts';
import type { TurnStreams } from './turn-streams.ts';

export interface EventSubscriberOptions {
  /**
   * A connection to duplicate: the subscriber opens exactly one connection of its own
   * (`redis.duplicate()`) in subscribe mode, shared by all its subscriptions. `redis` itself is
   * not used for subscribing and is not closed. On a `Cluster` the duplicate holds one sharded
   * subscriber connection per master (ioredis `shardedSubscribers`), which follows slot moves and
   * failovers.
   */
  redis: RedisClient;
  /** Reads the log and names the channels; its `sharded` setting selects SUBSCRIBE or SSUBSCRIBE. */
  streams: TurnStreams;
  /**
   * Events buffered per subscription for a consumer that does not pull; beyond it the
   * subscription ends with `SubscriberOverflowError`. Default `1000`.
   */
  highWaterMark?: number;
  /**
   * Called with errors of the subscriber connection (it reconnects by itself) and with
   * undecodable live messages (skipped). Default: ignored.
   */
  onError?: (error: Error) => void;
  /**
   * How long a channel whose last subscription ended stays subscribed, in milliseconds: a
   * subscription to it meanwhile reuses it (no SUBSCRIBE, no wait for its confirmation), and the
   * channels left idle are unsubscribed together (one UNSUBSCRIBE for all of them instead of one
   * each). Messages of an idle channel are dropped unread. `0` unsubscribes at once. Default `1000`.
   */
  unsubscribeAfterMs?: number;
  /**
   * How long a subscription retries log reads that keep failing (Redis restarting, the connection
   * reconnecting), pausing 50 ms, 100 ms, ... up to 1 s between tries, before it ends with
   * `LogReadError`. A read that succeeds meanwhile continues after the last event delivered: nothing
   * lost, nothing repeated. Default `10_000`.
   */
  readRetryMs?: number;
  /** Called for each failed log read that will be retried (to log it). Default: ignored. */
  onReadRetry?: (retry: ReadRetry) => void;
}

export interface SubscribeOptions {
  /**
   * Deliver only events strictly after this id (a `Last-Event-ID`).
   * Default: every event still in the log, then live ones.
   */
  after?: string;
  /** Aborting ends the subscription cleanly (the iterator returns `done`). */
  signal?: AbortSignal;
}

export interface EventSubscriber {
  /**
   * Starts a subscription at once (channel first, then the log): events published after this call
   * are never missed even if iteration starts later. Throws a `TypeError` for an invalid `after`.
   */
  subscribe(conversationId: string, opts?: SubscribeOptions): Subscription;
  /**
   * Set once the pub/sub connection ended for good (ioredis stopped reconnecting): every subscription
   * ended with it and `subscribe` throws it. `null` while the subscriber works (or after `close`).
   */
  readonly failure: SubscriberConnectionEndedError | null;
  /** Ends every subscription (`done`) and closes the subscriber connection. */
  close(): Promise<void>;
}

interface ChannelEntry {
  subscriptions: Set<LiveSubscription>;
  /** Confirmation of the current (S)SUBSCRIBE; replaced after a reconnect. */
  ready: Promise<void>;
}

/** Most channels named in one UNSUBSCRIBE. */
const UNSUBSCRIBE_BATCH = 500;

function noop(): void {}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export function createEventSubscriber(opts: EventSubscriberOptions): EventSubscriber {
  const { streams } = opts;
  const highWaterMark = opts.highWaterMark ?? 1000;
  if (!Number.isSafeInteger(highWaterMark) || highWaterMark <= 0) {
    throw new RangeError(`highWaterMark must be a positive integer, got ${highWaterMark}`);
  }
  const onError = opts.onError ?? noop;
  const onReadRetry = opts.onReadRetry ?? noop;
  const readRetryMs = opts.readRetryMs ?? DEFAULT_READ_RETRY_MS;
  if (!Number.isFinite(readRetryMs) || readRetryMs < 0) {
    throw new RangeError(`readRetryMs must be a non-negative number, got ${readRetryMs}`);
  }
  const unsubscribeAfterMs = opts.unsubscribeAfterMs ?? 1000;
  if (!Number.isFinite(unsubscribeAfterMs) || unsubscribeAfterMs < 0) {
    throw new RangeError(`unsubscribeAfterMs must be a non-negative number, got ${unsubscribeAfterMs}`);
  }
  const sharded = streams.sharded;
  const cluster = isCluster(opts.redis);
  if (cluster && !sharded)
    throw new RangeError('a Redis Cluster needs sharded pub/sub (TurnStreams sharded)');
  // Resubscribing is done here (not by ioredis) so that the log is re-read only after the new
  // subscription is confirmed.
  const connection = duplicateRedis(opts.redis, { autoResubscribe: false, shardedSubscribers: cluster });
  const channels = new Map<string, ChannelEntry>();
  let closed = false;
  let failure: SubscriberConnectionEndedError | null = null;
  /** Settles at the next 'ready' event, after every channel has been (re)subscribed. */
  let nextReady = deferred();
  /** Counts the resubscriptions (`resync`): a SUBSCRIBE lost with its connection knows if it was made again. */
  let resyncs = 0;

  const subscribeOnce = (channel: string): Promise<void> =>
    (sharded ? connection.ssubscribe(channel) : connection.subscribe(channel)).then(noop);

  const subscribeChannel = (channel: string): Promise<void> => {
    // ioredis writes (S)SUBSCRIBE even during the connection handshake, which makes its INFO
    // ready check fail ("Connection in subscriber mode") and drops the connection. So channels
    // are subscribed only on a ready connection; until then the 'ready' handler does it.
    if (connection.status !== 'ready') return nextReady.promise;
    const sentAt = resyncs;
    const sent = cluster ? subscribeOnShard(channel) : subscribeOnce(channel);
    const confirmed = sent.catch((error: unknown) => afterLostSubscribe(error, sentAt));
    confirmed.catch(noop); // observed by the subscriptions; never an unhandled rejection
    return confirmed;
  };

  // A SUBSCRIBE that fails without Redis refusing it was lost with its connection: ioredis gave up on it
  // (MaxRetriesPerRequestError once a reconnect took more attempts than `maxRetriesPerRequest`, or the
  // connection was torn down with it in flight). The resync at the next 'ready' subscribes the channel
  // again, so this confirmation settles once that resync ran (its subscriptions then wait for the new
  // one) instead of ending them over a transient outage. Rejects only when Redis refused the SUBSCRIBE
  // or the connection ended for good (no reconnect will come).
  const afterLostSubscribe = (error: unknown, sentAt: number): Promise<void> => {
    if (closed || resyncs !== sentAt) return Promise.resolve();
    if (error instanceof ReplyError || connection.status === 'end') return Promise.reject(error);
    onError(error instanceof Error ? error : new Error(String(error)));
    return nextReady.promise;
  };

  // On a Cluster the shard serving a channel may be failing over (its subscriber connection ended,
  // no replica promoted yet): retry until confirmed, for as long as the channel is wanted.
  const subscribeOnShard = async (channel: string): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await subscribeOnce(channel);
        return;
      } catch (error) {
        if (closed || !channels.has(channel)) return;
        if (attempt === 0) onError(error as Error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 1000)));
        if (closed || !channels.has(channel)) return;
      }
    }
  };

  // Resubscribe every channel and have every subscription re-read the log: on a new connection
  // (whether or not an earlier one ever became ready), and on a Cluster whenever its sharded
  // subscribers were replaced (a master failed over, a connection dropped, slots moved), since
  // messages published meanwhile are lost.
  const resync = (): void => {
    resyncs++;
    for (const [channel, entry] of channels) {
      entry.ready = subscribeChannel(channel);
      for (const subscription of entry.subscriptions) subscription.requestSync();
    }
  };

  const unsubscribe = (names: string[]): void => {
    (sharded ? connection.sunsubscribe(...names) : connection.unsubscribe(...names)).catch((error: Error) =>
      onError(error),
    );
  };

  // Channels whose last subscription ended, in the order they emptied; unsubscribed by `sweepIdle`
  // unless a subscription came back meanwhile.
  const idle = new Set<string>();
  let sweep: NodeJS.Timeout | undefined;

  const sweepIdle = (): void => {
    sweep = undefined;
    const names: string[] = [];
    for (const channel of idle) {
      const entry = channels.get(channel);
      if (entry && entry.subscriptions.size === 0) {
        channels.delete(channel);
        names.push(channel);
      }
    }
    idle.clear();
    if (closed || names.length === 0) return;
    // SSUBSCRIBE channels of one command must share a slot (on a Cluster they do not): one each.
    if (sharded) for (const channel of names) unsubscribe([channel]);
    else
      for (let i = 0; i < names.length; i += UNSUBSCRIBE_BATCH)
        unsubscribe(names.slice(i, i + UNSUBSCRIBE_BATCH));
  };

  const release = (channel: string): void => {
    if (unsubscribeAfterMs === 0) {
      channels.delete(channel);
      if (!closed) unsubscribe([channel]);
      return;
    }
    idle.add(channel);
    if (!sweep) {
      sweep = setTimeout(sweepIdle, unsubscribeAfterMs);
      sweep.unref();
    }
  };

  connection.on(sharded ? 'smessage' : 'message', (channel: string, message: string) => {
    const entry = channels.get(channel);
    if (!entry || entry.subscriptions.size === 0) return;
    let events: ReturnType<typeof decodeLiveMessage>;
    try {
      events = decodeLiveMessage(message);
    } catch (error) {
      onError(error as Error);
      return;
    }
    for (const subscription of entry.subscriptions) subscription.onLive(events);
  });
  connection.on('error', (error: Error) => onError(error));
  connection.on('ready', () => {
    if (closed) return;
    resync();
    const settled = nextReady;
    nextReady = deferred();
    settled.resolve();
  });
  // ioredis stopped reconnecting (its retryStrategy gave up): no message will arrive on any channel
  // again, so every subscription ends now rather than waiting, with heartbeats only, forever.
  connection.on('end', () => {
    if (closed || failure) return;
    failure = new SubscriberConnectionEndedError();
    onError(failure);
    for (const entry of channels.values()) {
      for (const subscription of entry.subscriptions) {
        subscription.abort(new SubscriberConnectionEndedError(subscription.lastDeliveredId));
      }
    }
    channels.clear();
    idle.clear();
    clearTimeout(sweep);
    nextReady.resolve(); // subscriptions waiting for a connection see that they ended
  });
  // ioredis subscribes a replaced shard subscriber again too (ClusterSubscriberGroup `_resubscribe`, the
  // result handled); this one also has every subscription re-read the log (docs/reliability.md).
  if (cluster) {
    connection.on('subscribersReady', () => {
      if (!closed && connection.status === 'ready') resync();
    });
  }
  if (connection.status === 'wait') connection.connect().catch(noop); // lazyConnect inherited

  return {
    subscribe(conversationId, subOpts = {}) {
      if (closed) throw new SubscriberClosedError();
      if (failure) throw failure;
      const { after, signal } = subOpts;
      if (after !== undefined && !isStreamId(after)) {
        throw new TypeError(`after is not a Redis Stream id: ${JSON.stringify(after)}`);
      }
      const { channel } = streams.keys(conversationId);
      let entry: ChannelEntry | undefined;
      const subscription = new LiveSubscription(
        conversationId,
        {
          channelReady: () => entry!.ready,
          read: (cursor, count) =>
            streams.read(conversationId, cursor === null ? { count } : { after: cursor, count }),
          readRetryMs,
          readRetried: (attempt, error) => onReadRetry({ conversationId, attempt, error }),
          detach: (ended) => {
            if (!entry) return;
            entry.subscriptions.delete(ended);
            if (entry.subscriptions.size > 0 || channels.get(channel) !== entry) return;
            release(channel);
          },
        },
        highWaterMark,
        after ?? null,
        signal,
      );
      if (signal?.aborted) {
        subscription.close();
        return subscription;
      }
      entry = channels.get(channel);
      if (!entry) {
        entry = { subscriptions: new Set(), ready: subscribeChannel(channel) };
        channels.set(channel, entry);
      }
      entry.subscriptions.add(subscription);
      subscription.start();
      return subscription;
    },

    get failure() {
      return closed ? null : failure;
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const entry of channels.values()) {
        for (const subscription of entry.subscriptions) subscription.close();
      }
      channels.clear();
      idle.clear();
      clearTimeout(sweep);
      nextReady.resolve(); // subscriptions waiting for a connection see that they ended
      if (connection.status === 'ready') {
        await connection.quit().catch(() => connection.disconnect());
      } else {
        connection.disconnect();
      }
    },
  };
}
