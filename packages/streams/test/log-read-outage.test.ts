// Fault injection on a private redis-server (append-only: a restart keeps the logs): catch-up reads that
// fail while Redis is down, and a pub/sub connection that stops reconnecting.
import { randomUUID } from 'node:crypto';
import { waitFor } from '@turnstream/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  LogReadError,
  type ReadRetry,
  SubscriberConnectionEndedError,
  type Subscription,
} from '../src/index.ts';
import { chunk, completed, iteratorOf, texts, untilTerminal } from './helpers.ts';
import { privateServerFixture } from './private-server-fixture.ts';

const f = privateServerFixture({ appendOnly: true });

/** A connection like the API's (`maxRetriesPerRequest: 2`), to the private server. */
function apiLikeConnection(options: RedisOptions = {}): Redis {
  const redis = new Redis(f.server.url, { maxRetriesPerRequest: 2, ...options });
  redis.on('error', () => {}); // refused reconnects while the server is down
  return redis;
}

/** Resolves with the error a subscription ended with (pulls and drops its events). */
async function failureOf(subscription: Subscription): Promise<unknown> {
  try {
    for await (const _ of subscription);
  } catch (error) {
    return error;
  }
  return null;
}

async function closeAll(subscriber: EventSubscriber, ...redis: Redis[]): Promise<void> {
  await subscriber.close();
  await Promise.all(redis.map((r) => r.quit().catch(() => r.disconnect())));
}

describe('log reads while Redis is down', () => {
  it('a catch-up read that fails is retried until Redis is back: everything once, in order', async () => {
    f.redis.on('error', () => {});
    const redis = apiLikeConnection();
    const streams = createTurnStreams({ redis, keyPrefix: f.prefix });
    const retries: ReadRetry[] = [];
    const subscriber = createEventSubscriber({ redis, streams, onReadRetry: (r) => retries.push(r) });
    try {
      const c = `read-outage-${randomUUID()}`;
      await streams.publish(c, 1, [chunk('m1', 'one'), chunk('m1', 'two')]);
      const live = subscriber.subscribe(c);
      await live.ready; // the channel is subscribed
      const liveReceived = untilTerminal(iteratorOf(live));
      liveReceived.catch(() => {}); // asserted below
      let late!: Subscription;
      // Redis is down; a subscription to the same channel reads the log at once (its channel is
      // subscribed already) and that read fails. The outage lasts until the failure was seen.
      await f.server.restart('kill', async () => {
        late = subscriber.subscribe(c);
        await waitFor(() => retries.some((r) => r.conversationId === c) || late.ended, {
          message: 'the catch-up read to fail',
        });
      });
      expect(late.ended).toBe(false);
      expect(retries[0]!.error.name).toBe('MaxRetriesPerRequestError');
      const lateReceived = untilTerminal(iteratorOf(late));
      await late.ready;
      await streams.publish(c, 1, [chunk('m1', 'three'), completed('m1')]);
      const all = ['one', 'two', 'three', 'turn.completed'];
      expect(texts(await lateReceived)).toEqual(all);
      expect(texts(await liveReceived)).toEqual(all);
    } finally {
      await closeAll(subscriber, redis);
    }
  });

  it('reads failing for longer than readRetryMs end the subscription with LogReadError and a resumable id', async () => {
    f.redis.on('error', () => {});
    const redis = apiLikeConnection();
    const streams = createTurnStreams({ redis, keyPrefix: f.prefix });
    const subscriber = createEventSubscriber({ redis, streams, readRetryMs: 200 });
    try {
      const c = `read-bound-${randomUUID()}`;
      const published = await streams.publish(c, 1, [chunk('m1', 'one'), chunk('m1', 'two')]);
      if (!published.ok) throw new Error('publish refused');
      const first = published.ids[0]!;
      const live = subscriber.subscribe(c);
      await live.ready;
      let failure: unknown;
      await f.server.restart('kill', async () => {
        failure = await failureOf(subscriber.subscribe(c, { after: first }));
      });
      expect(failure).toBeInstanceOf(LogReadError);
      expect((failure as LogReadError).lastDeliveredId).toBe(first);
      expect((failure as LogReadError).attempts).toBeGreaterThan(1);
      // Redis is back: resuming after that id continues where it stopped.
      const resumed = subscriber.subscribe(c, { after: (failure as LogReadError).lastDeliveredId! });
      const received = untilTerminal(iteratorOf(resumed));
      await resumed.ready;
      await streams.publish(c, 1, [completed('m1')]);
      expect(texts(await received)).toEqual(['two', 'turn.completed']);
    } finally {
      await closeAll(subscriber, redis);
    }
  });
});

describe('pub/sub connection that stops reconnecting', () => {
  it('ends every subscription with SubscriberConnectionEndedError; subscribe throws it', async () => {
    f.redis.on('error', () => {});
    // ioredis gives up at the first drop: the subscriber's connection (a duplicate) ends for good.
    const base = apiLikeConnection({ retryStrategy: () => null });
    const errors: Error[] = [];
    const subscriber = createEventSubscriber({
      redis: base,
      streams: f.streams,
      onError: (e) => errors.push(e),
    });
    try {
      const c = `ended-${randomUUID()}`;
      const published = await f.streams.publish(c, 1, [chunk('m1', 'one')]);
      if (!published.ok) throw new Error('publish refused');
      const live = subscriber.subscribe(c);
      const iterator = iteratorOf(live);
      expect((await iterator.next()).value?.id).toBe(published.ids[0]);
      const failure = iterator.next();
      failure.catch(() => {}); // asserted below
      await f.server.restart('kill', async () => {
        await waitFor(() => live.ended, { message: 'the subscription to end' });
      });
      const error = await failure.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SubscriberConnectionEndedError);
      expect((error as SubscriberConnectionEndedError).lastDeliveredId).toBe(published.ids[0]);
      expect(subscriber.failure).toBeInstanceOf(SubscriberConnectionEndedError);
      expect(errors.some((e) => e instanceof SubscriberConnectionEndedError)).toBe(true);
      expect(() => subscriber.subscribe(c)).toThrow(SubscriberConnectionEndedError);
    } finally {
      await closeAll(subscriber, base);
    }
  });
});
