// Fault injection on a private redis-server (append-only: a restart keeps the logs): catch-up reads that
// fail while Redis is down, and a pub/sub connection that stops reconnecting.
import { randomUUID } from 'node:crypto';
import { waitFor } from '@turnstream/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  createTurnStreams,
  LogReadError,
  type ReadRetry,
  SubscriberConnectionEndedError,
  type Subscription,
} from '../src/index.ts';
import { chunk, completed, iteratorOf, texts, untilTerminal } from './helpers.ts';
import { outageSubscriber, privateServerFixture } from './private-server-fixture.ts';

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

describe('log reads while Redis is down', () => {
  it('a catch-up read that fails is retried until Redis is back: everything once, in order', async () => {
    const redis = apiLikeConnection();
    const streams = createTurnStreams({ redis, keyPrefix: f.prefix });
    const retries: ReadRetry[] = [];
    const { subscriber, close } = outageSubscriber(f, {
      redis,
      streams,
      onReadRetry: (r) => retries.push(r),
    });
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
      await close();
    }
  });

  it('reads failing for longer than readRetryMs end the subscription with LogReadError and a resumable id', async () => {
    const redis = apiLikeConnection();
    const streams = createTurnStreams({ redis, keyPrefix: f.prefix });
    const { subscriber, close } = outageSubscriber(f, { redis, streams, readRetryMs: 200 });
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
      await close();
    }
  });
});

describe('pub/sub connection that stops reconnecting', () => {
  it('ends every subscription with SubscriberConnectionEndedError; subscribe throws it', async () => {
    // ioredis gives up at the first drop: the subscriber's connection (a duplicate) ends for good.
    const { subscriber, errors, close } = outageSubscriber(f, {
      redis: apiLikeConnection({ retryStrategy: () => null }),
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
      await close();
    }
  });
});
