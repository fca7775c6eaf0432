import { randomUUID } from 'node:crypto';
import type { DeliveredEvent } from '@turnstream/contracts';
import { isTerminalEvent } from '@turnstream/contracts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  compareStreamIds,
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  SubscriberClosedError,
  SubscriberOverflowError,
  type TurnStreams,
} from '../src/index.ts';
import {
  chunk,
  completed,
  connections,
  deleteKeys,
  iteratorOf,
  prng,
  take,
  testPrefix,
  texts,
} from './helpers.ts';

const conns = connections();
const prefix = testPrefix();
const redis = conns.open();
let streams: TurnStreams;
let subscriber: EventSubscriber;
const extraSubscribers: EventSubscriber[] = [];

beforeAll(() => {
  streams = createTurnStreams({ redis, keyPrefix: prefix });
  subscriber = createEventSubscriber({ redis, streams });
});

afterAll(async () => {
  await subscriber.close();
  await Promise.all(extraSubscribers.map((s) => s.close()));
  await deleteKeys(redis, prefix);
  await conns.closeAll();
});

const waitFor = <T>(check: () => T | Promise<T>) => vi.waitFor(check, { timeout: 15_000, interval: 5 });

async function numsub(channel: string): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** Pulls until a terminal event (inclusive). */
async function untilTerminal(iterator: AsyncIterator<DeliveredEvent>): Promise<DeliveredEvent[]> {
  const out: DeliveredEvent[] = [];
  for (;;) {
    const result = await iterator.next();
    if (result.done) throw new Error(`ended after ${out.length} events without a terminal event`);
    out.push(result.value);
    if (isTerminalEvent(result.value.event)) return out;
  }
}

async function publishOk(
  conversationId: string,
  fence: number | null,
  events: Parameters<TurnStreams['publish']>[2],
) {
  const result = await streams.publish(conversationId, fence, events);
  if (!result.ok) throw new Error(`refused: fence ${result.currentFence}`);
  return result.ids;
}

function expectStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) expect(compareStreamIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
}

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
    const seed = 20240611;
    const random = prng(seed);
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
      const cut = Math.floor(random() * log.length);
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
    const seed = 7;
    const random = prng(seed);
    for (let round = 0; round < 20; round++) {
      const c = `resume-live-${randomUUID()}`;
      const before = await publishOk(
        c,
        1,
        Array.from({ length: 30 }, (_, i) => chunk('m1', `${i}`)),
      );
      const cut = Math.floor(random() * before.length);
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
    const seed = 99;
    const random = prng(seed);
    for (let round = 0; round < 40; round++) {
      const c = `race-${randomUUID()}`;
      const batches = 30;
      const subscribeAt = [Math.floor(random() * batches), Math.floor(random() * batches)];
      const subscriptions: ReturnType<EventSubscriber['subscribe']>[] = [];
      const received: Promise<DeliveredEvent[]>[] = [];
      const publishing: Promise<unknown>[] = [];
      for (let b = 0; b < batches; b++) {
        for (const at of subscribeAt) {
          if (at !== b) continue;
          const subscription = subscriber.subscribe(c);
          subscriptions.push(subscription);
          received.push(untilTerminal(iteratorOf(subscription)));
        }
        const size = 1 + Math.floor(random() * 3);
        // Not awaited: publishes overlap with the subscriptions' channel subscribe and log read.
        publishing.push(
          publishOk(
            c,
            1,
            Array.from({ length: size }, (_, k) => chunk('m1', `${b}.${k}`)),
          ),
        );
        if (random() < 0.3) await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(publishing);
      await publishOk(c, 1, [completed('m1')]);
      const log = (await streams.read(c)).map((e) => e.id);
      for (const events of await Promise.all(received)) {
        expect(
          events.map((e) => e.id),
          `seed ${seed} round ${round}`,
        ).toEqual(log);
      }
      for (const subscription of subscriptions) subscription.close();
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
        await waitFor(() => expect(subscription.buffered).toBe(published));
      } else {
        await waitFor(() => expect(subscription.ended).toBe(true));
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
    await waitFor(async () => expect(await numsub(streams.keys(c).channel)).toBe(0));

    // The resumable id gives the consumer everything it did not get.
    const resumed = subscriber.subscribe(c, { after: (error as SubscriberOverflowError).lastDeliveredId! });
    expect(texts(await take(iteratorOf(resumed), 21)).slice(0, 2)).toEqual(['1.0', '1.1']);
    resumed.close();
  });
});

describe('lifecycle', () => {
  it('an abort signal ends the iterator cleanly and the channel is unsubscribed', async () => {
    const c = `abort-${randomUUID()}`;
    const controller = new AbortController();
    const subscription = subscriber.subscribe(c, { signal: controller.signal });
    await subscription.ready;
    expect(await numsub(streams.keys(c).channel)).toBe(1);
    const pending = iteratorOf(subscription).next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    await waitFor(async () => expect(await numsub(streams.keys(c).channel)).toBe(0));

    const aborted = subscriber.subscribe(c, { signal: AbortSignal.abort() });
    expect(aborted.ended).toBe(true);
    expect(await iteratorOf(aborted).next()).toEqual({ done: true, value: undefined });
  });

  it('unsubscribes from the channel only when the last subscription ends (break)', async () => {
    const c = `shared-${randomUUID()}`;
    const channel = streams.keys(c).channel;
    const a = subscriber.subscribe(c);
    const b = subscriber.subscribe(c);
    await Promise.all([a.ready, b.ready]);
    expect(await numsub(channel)).toBe(1);
    await publishOk(c, 1, [chunk('m1', 'one')]);
    for await (const event of a) {
      expect(texts([event])).toEqual(['one']);
      break; // ends `a`
    }
    expect(a.ended).toBe(true);
    await publishOk(c, 1, [chunk('m1', 'two')]);
    expect(texts(await take(iteratorOf(b), 2))).toEqual(['one', 'two']);
    expect(await numsub(channel)).toBe(1);
    b.close();
    await waitFor(async () => expect(await numsub(channel)).toBe(0));
    // Subscribing again after the unsubscribe works.
    const again = subscriber.subscribe(c);
    expect(texts(await take(iteratorOf(again), 2))).toEqual(['one', 'two']);
    await again.ready;
    expect(await numsub(channel)).toBe(1);
    again.close();
  });

  it('shares one Redis connection between all subscriptions', async () => {
    const name = `streams-shared-${randomUUID().slice(0, 8)}`;
    const named = conns.open({ connectionName: name });
    const shared = createEventSubscriber({ redis: named, streams });
    const subscriptions = Array.from({ length: 60 }, (_, i) => shared.subscribe(`many-${name}-${i % 12}`));
    await Promise.all(subscriptions.map((s) => s.ready));
    const clients = (await redis.client('LIST')) as string;
    const subscribers = clients
      .split('\n')
      .filter((line) => line.includes(` name=${name} `) && /\bsub=[1-9]/.test(line));
    expect(subscribers).toHaveLength(1);
    expect(subscribers[0]).toMatch(/\bsub=12\b/);
    await shared.close();
  });

  it('close() ends every subscription; subscribe() afterwards throws', async () => {
    const own = createEventSubscriber({ redis, streams });
    const c = `close-${randomUUID()}`;
    const subscription = own.subscribe(c);
    await subscription.ready;
    const pending = iteratorOf(subscription).next();
    await own.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(() => own.subscribe(c)).toThrow(SubscriberClosedError);
    await own.close();
  });

  it('rejects an invalid after id', () => {
    expect(() => subscriber.subscribe('x', { after: 'not-an-id' })).toThrow(TypeError);
  });

  it('re-reads the log after a pub/sub reconnect: events published meanwhile arrive once', async () => {
    const name = `streams-reconnect-${randomUUID().slice(0, 8)}`;
    // Reconnect only after 500 ms so that the publishes below surely happen while disconnected.
    const named = conns.open({ connectionName: name, retryStrategy: () => 500 });
    const errors: Error[] = [];
    const own = createEventSubscriber({ redis: named, streams, onError: (e) => errors.push(e) });
    extraSubscribers.push(own);
    const c = `reconnect-${randomUUID()}`;
    const channel = streams.keys(c).channel;
    const subscription = own.subscribe(c);
    await subscription.ready;
    const received = untilTerminal(iteratorOf(subscription));
    await publishOk(c, 1, [chunk('m1', 'before')]);

    const pubsubClientId = async (): Promise<string | undefined> => {
      const clients = (await redis.client('LIST')) as string;
      const line = clients.split('\n').find((l) => l.includes(` name=${name} `) && /\bsub=[1-9]/.test(l));
      return line?.match(/^id=(\d+)/)?.[1];
    };
    const killed = await pubsubClientId();
    expect(killed).toBeDefined();
    await redis.client('KILL', 'ID', killed!);
    expect(await numsub(channel)).toBe(0);
    await publishOk(c, 1, [chunk('m1', 'during-1'), chunk('m1', 'during-2')]);
    await publishOk(c, 1, [chunk('m1', 'during-3')]);
    // Proof that these were published while nobody listened (their live messages are lost).
    expect(await numsub(channel)).toBe(0);

    await waitFor(async () => {
      const id = await pubsubClientId();
      expect(id).toBeDefined();
      expect(id).not.toBe(killed);
    });
    await publishOk(c, 1, [chunk('m1', 'after')]);
    await publishOk(c, 1, [completed('m1')]);
    const events = await received;
    expect(texts(events)).toEqual(['before', 'during-1', 'during-2', 'during-3', 'after', 'turn.completed']);
    expect(events.map((e) => e.id)).toEqual((await streams.read(c)).map((e) => e.id));
    subscription.close();
  });
});
