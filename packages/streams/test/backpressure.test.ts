// Backpressure: bounded buffers, overflow with a resumable id, paced catch-up.
import { randomUUID } from 'node:crypto';
import { type DeliveredEvent, isTerminalEvent } from '@turnstream/contracts';
import { chooseSeed, eventually, testRandom } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import {
  createEventSubscriber,
  createTurnStreams,
  SubscriberOverflowError,
  type Subscription,
} from '../src/index.ts';
import { chunk, completed, iteratorOf, take, texts, until } from './helpers.ts';
import { subscriberFixture } from './subscriber-fixture.ts';

const { conns, prefix, redis, streams, subscriber, extraSubscribers, publishOk, numsub } =
  subscriberFixture();

describe('backpressure', () => {
  it('ends a non-consuming subscriber with SubscriberOverflowError and a bounded buffer', async () => {
    const highWaterMark = 20;
    const batch = 7;
    const bounded = createEventSubscriber({ redis, streams, highWaterMark });
    extraSubscribers.push(bounded);
    const c = `overflow-${randomUUID()}`;
    const subscription = bounded.subscribe(c);
    await subscription.ready;
    const iterator = iteratorOf(subscription);
    const first = await publishOk(c, 1, [chunk('m1', 'x'), chunk('m1', 'y'), chunk('m1', 'z')]);
    await take(iterator, 3);
    expect(subscription.lastDeliveredId).toBe(first[2]);

    let published = 0;
    for (let k = 1; !subscription.ended; k++) {
      await publishOk(
        c,
        1,
        Array.from({ length: batch }, (_, i) => chunk('m1', `${k}.${i}`)),
      );
      published += batch;
      if (published <= highWaterMark) {
        await eventually(() => expect(subscription.buffered).toBe(published));
      } else {
        await eventually(() => expect(subscription.ended).toBe(true));
      }
      expect(subscription.buffered).toBeLessThanOrEqual(highWaterMark + batch);
    }
    expect(published).toBe(21);
    expect(subscription.buffered).toBe(0);
    const error = await iterator.next().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SubscriberOverflowError);
    expect((error as SubscriberOverflowError).lastDeliveredId).toBe(first[2]);
    expect((error as SubscriberOverflowError).name).toBe('SubscriberOverflowError');
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    await eventually(async () => expect(await numsub(streams.keys(c).channel)).toBe(0));

    // The resumable id gives the consumer everything it did not get.
    const resumed = subscriber.subscribe(c, { after: (error as SubscriberOverflowError).lastDeliveredId! });
    expect(texts(await take(iteratorOf(resumed), 21)).slice(0, 2)).toEqual(['1.0', '1.1']);
    resumed.close();
  });

  it('with a tiny high-water mark, resuming after each overflow still yields every event once', async () => {
    // Small pages, a dropped read buffer, overflow and resume from lastDeliveredId together, the way
    // the SSE layer uses them. Each burst is published once a subscription is live, and the
    // consumer stops pulling then, so every burst overflows it.
    const tiny = createEventSubscriber({ redis, streams, highWaterMark: 4 });
    extraSubscribers.push(tiny);
    const publisher = createTurnStreams({ redis: conns.open(), keyPrefix: prefix });
    const random = testRandom(chooseSeed(process.env, 4242), 'backpressure');
    for (let round = 0; round < 5; round++) {
      const c = `tiny-${randomUUID()}`;
      await publisher.publish(
        c,
        1,
        Array.from({ length: 25 }, (_, i) => chunk('m1', `pre${i}`)),
      );
      const current: { live: Subscription | null } = { live: null };
      const publishing = (async () => {
        for (let burst = 0; burst < 4; burst++) {
          await until(() => current.live !== null && !current.live.ended);
          const batches = Array.from({ length: 10 }, (_, b) =>
            Array.from({ length: 1 + Math.floor(random.next() * 3) }, (_, k) =>
              chunk('m1', `${burst}.${b}.${k}`),
            ),
          );
          await Promise.all(batches.map((events) => publisher.publish(c, 1, events)));
        }
        await publisher.publish(c, 1, [completed('m1')]);
      })();
      const events: DeliveredEvent[] = [];
      let after: string | undefined;
      let overflows = 0;
      for (let done = false; !done; ) {
        const subscription = tiny.subscribe(c, after === undefined ? {} : { after });
        void subscription.ready.then(() => {
          if (!subscription.ended) current.live = subscription;
        });
        let stalled = false;
        try {
          for await (const delivered of subscription) {
            events.push(delivered);
            if (isTerminalEvent(delivered.event)) {
              done = true;
              break;
            }
            if (current.live === subscription && !stalled) {
              stalled = true;
              await until(() => subscription.ended, publishing);
            }
          }
        } catch (error) {
          if (!(error instanceof SubscriberOverflowError)) throw error;
          overflows++;
          after = error.lastDeliveredId ?? undefined;
          expect(after).toBe(events.at(-1)?.id);
        }
      }
      await publishing;
      expect(
        events.map((e) => e.id),
        `round ${round}`,
      ).toEqual((await streams.read(c)).map((e) => e.id));
      expect(overflows, `round ${round}`).toBeGreaterThanOrEqual(1);
    }
  });

  it('paces catch-up of a long log by the consumer instead of overflowing', async () => {
    const highWaterMark = 50;
    const paced = createEventSubscriber({ redis, streams, highWaterMark });
    extraSubscribers.push(paced);
    const c = `long-${randomUUID()}`;
    for (let i = 0; i < 1000; i += 50) {
      await publishOk(
        c,
        1,
        Array.from({ length: 50 }, (_, k) => chunk('m1', `${i + k}`)),
      );
    }
    const subscription = paced.subscribe(c);
    const iterator = iteratorOf(subscription);
    const events: DeliveredEvent[] = [];
    let maxBuffered = 0;
    for (;;) {
      const result = await iterator.next();
      if (result.done) throw new Error('ended early');
      events.push(result.value);
      maxBuffered = Math.max(maxBuffered, subscription.buffered);
      // Let the catch-up read ahead while we are "slow".
      await new Promise((resolve) => setImmediate(resolve));
      if (events.length === 500) await publishOk(c, 1, [completed('m1')]);
      if (isTerminalEvent(result.value.event)) break;
    }
    expect(events).toHaveLength(1001);
    expect(maxBuffered).toBeLessThanOrEqual(highWaterMark);
    expect(events.map((e) => e.id)).toEqual((await streams.read(c)).map((e) => e.id));
    subscription.close();
  });
});
