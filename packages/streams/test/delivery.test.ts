// Delivery: exactly once, in order, whenever the subscription starts.
import { randomUUID } from 'node:crypto';
import type { DeliveredEvent } from '@turnstream/contracts';
import { chooseSeed, testRandom } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { createEventSubscriber, createTurnStreams, type EventSubscriber } from '../src/index.ts';
import {
  chunk,
  completed,
  expectStrictlyIncreasing,
  iteratorOf,
  take,
  texts,
  untilTerminal,
} from './helpers.ts';
import { subscriberFixture } from './subscriber-fixture.ts';

const { conns, prefix, redis, streams, subscriber, publishOk } = subscriberFixture();

describe('delivery', () => {
  it('a late subscriber receives every chunk once, in order', async () => {
    const c = `late-${randomUUID()}`;
    for (let i = 0; i < 50; i++) await publishOk(c, 1, [chunk('m1', `${i}`)]);
    const subscription = subscriber.subscribe(c);
    const received = untilTerminal(iteratorOf(subscription));
    for (let i = 50; i < 100; i++) await publishOk(c, 1, [chunk('m1', `${i}`)]);
    await publishOk(c, 1, [completed('m1')]);
    const events = await received;
    expect(texts(events)).toEqual([...Array.from({ length: 100 }, (_, i) => `${i}`), 'turn.completed']);
    expect(events.map((e) => e.id)).toEqual((await streams.read(c)).map((e) => e.id));
    expectStrictlyIncreasing(events.map((e) => e.id));
    subscription.close();
  });

  it('an early subscriber on an empty conversation gets live events', async () => {
    const c = `early-${randomUUID()}`;
    const subscription = subscriber.subscribe(c);
    await subscription.ready;
    const received = untilTerminal(iteratorOf(subscription));
    await publishOk(c, null, [{ type: 'turn.queued', messageId: 'm1' }]);
    await publishOk(c, 1, [chunk('m1', 'a'), chunk('m1', 'b')]);
    await publishOk(c, 1, [completed('m1', 'ab')]);
    expect(texts(await received)).toEqual(['turn.queued', 'a', 'b', 'turn.completed']);
    subscription.close();
  });

  it('resuming after any id yields exactly the rest (random cut points)', async () => {
    const seed = chooseSeed(process.env, 20240611);
    const random = testRandom(seed, 'delivery');
    const c = `resume-${randomUUID()}`;
    for (let i = 0; i < 120; i += 4) {
      await publishOk(
        c,
        1,
        [0, 1, 2, 3].map((k) => chunk('m1', `${i + k}`)),
      );
    }
    const log = await streams.read(c);
    expect(log).toHaveLength(120);
    for (let round = 0; round < 60; round++) {
      const cut = Math.floor(random.next() * log.length);
      const subscription = subscriber.subscribe(c, { after: log[cut]!.id });
      const rest = await take(iteratorOf(subscription), log.length - cut - 1);
      expect(
        rest.map((e) => e.id),
        `seed ${seed} round ${round} cut ${cut}`,
      ).toEqual(log.slice(cut + 1).map((e) => e.id));
      // Caught up (the whole log was read): nothing more than the rest is buffered.
      await subscription.ready;
      expect(subscription.buffered).toBe(0);
      subscription.close();
    }
  });

  it('resuming while the turn is still streaming yields the rest and the live events', async () => {
    const seed = chooseSeed(process.env, 7);
    const random = testRandom(seed, 'delivery');
    for (let round = 0; round < 20; round++) {
      const c = `resume-live-${randomUUID()}`;
      const before = await publishOk(
        c,
        1,
        Array.from({ length: 30 }, (_, i) => chunk('m1', `${i}`)),
      );
      const cut = Math.floor(random.next() * before.length);
      const subscription = subscriber.subscribe(c, { after: before[cut]! });
      const received = untilTerminal(iteratorOf(subscription));
      const publishing: Promise<string[]>[] = [];
      for (let i = 30; i < 40; i++) publishing.push(publishOk(c, 1, [chunk('m1', `${i}`)]));
      publishing.push(publishOk(c, 1, [completed('m1')]));
      await Promise.all(publishing);
      const events = await received;
      const log = await streams.read(c);
      expect(
        events.map((e) => e.id),
        `seed ${seed} round ${round}`,
      ).toEqual(log.slice(cut + 1).map((e) => e.id));
      subscription.close();
    }
  });

  it('concurrent publishing while subscribing: nothing lost, nothing duplicated', async () => {
    // Publishes go through their own connection, and each round uses a fresh subscriber whose
    // connection is still being established when the first subscription starts: publishes race
    // with the channel subscribe, the log read, and the switch to live.
    const publisher = createTurnStreams({ redis: conns.open(), keyPrefix: prefix });
    const seed = chooseSeed(process.env, 99);
    const random = testRandom(seed, 'delivery');
    for (let round = 0; round < 40; round++) {
      const own = createEventSubscriber({ redis, streams });
      const c = `race-${randomUUID()}`;
      const batches = 40;
      const subscribeAt = [Math.floor(random.next() * batches), Math.floor(random.next() * batches)];
      const subscriptions: ReturnType<EventSubscriber['subscribe']>[] = [];
      const received: Promise<DeliveredEvent[]>[] = [];
      const publishing: Promise<unknown>[] = [];
      for (let b = 0; b < batches; b++) {
        for (const at of subscribeAt) {
          if (at !== b) continue;
          const subscription = own.subscribe(c);
          subscriptions.push(subscription);
          received.push(untilTerminal(iteratorOf(subscription)));
        }
        const size = 1 + Math.floor(random.next() * 3);
        const events = Array.from({ length: size }, (_, k) => chunk('m1', `${b}.${k}`));
        // Not awaited: publishes overlap with the subscriptions' channel subscribe and log read.
        publishing.push(publisher.publish(c, 1, events));
        if (random.next() < 0.3) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(publishing);
      await publisher.publish(c, 1, [completed('m1')]);
      const log = (await streams.read(c)).map((e) => e.id);
      for (const events of await Promise.all(received)) {
        expect(
          events.map((e) => e.id),
          `seed ${seed} round ${round}`,
        ).toEqual(log);
      }
      for (const subscription of subscriptions) subscription.close();
      await own.close();
    }
  });
});

describe('fence', () => {
  it('events of an older fence never reach a live subscriber', async () => {
    const c = `fence-${randomUUID()}`;
    const subscription = subscriber.subscribe(c);
    await subscription.ready;
    const received = untilTerminal(iteratorOf(subscription));
    await publishOk(c, 5, [chunk('m1', 'a')]);
    expect(await streams.publish(c, 4, [chunk('m1', 'zombie'), completed('m1', 'zombie')])).toEqual({
      ok: false,
      reason: 'stale_fence',
      currentFence: 5,
    });
    await publishOk(c, 6, [chunk('m1', 'b')]);
    await publishOk(c, null, [chunk('m1', 'c')]);
    expect((await streams.publish(c, 5, [completed('m1', 'zombie')])).ok).toBe(false);
    await publishOk(c, 6, [completed('m1', 'abc')]);
    const events = await received;
    expect(texts(events)).toEqual(['a', 'b', 'c', 'turn.completed']);
    expect(events.at(-1)!.event).toEqual(completed('m1', 'abc'));
    subscription.close();
  });
});
