// Subscriber lifecycle: one shared connection, (un)subscribe, abort, close.
import { randomUUID } from 'node:crypto';
import { eventually } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { createEventSubscriber, SubscriberClosedError } from '../src/index.ts';
import { chunk, completed, iteratorOf, take, texts, untilTerminal } from './helpers.ts';
import { subscriberFixture } from './subscriber-fixture.ts';

const { conns, redis, streams, subscriber, publishOk, numsub } = subscriberFixture();

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
    await eventually(async () => expect(await numsub(streams.keys(c).channel)).toBe(0));

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
    await eventually(async () => expect(await numsub(channel)).toBe(0));
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

  it('keeps an emptied channel for a while (reused without SUBSCRIBE), then unsubscribes the idle ones together', async () => {
    const name = `streams-linger-${randomUUID().slice(0, 8)}`;
    const own = createEventSubscriber({
      redis: conns.open({ connectionName: name }),
      streams,
      unsubscribeAfterMs: 200,
    });
    const cs = [0, 1, 2].map((i) => `linger-${name}-${i}`);
    const channels = cs.map((c) => streams.keys(c).channel);
    const first = cs.map((c) => own.subscribe(c));
    await Promise.all(first.map((s) => s.ready));
    const addr = /addr=(\S+)/.exec(
      ((await redis.client('LIST')) as string)
        .split('\n')
        .find((l) => l.includes(` name=${name} `) && /\bsub=[1-9]/.test(l))!,
    )?.[1];
    const sent: string[][] = [];
    const monitor = await redis.monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === addr) sent.push(args.map(String));
    });
    try {
      first[0]!.close();
      const again = own.subscribe(cs[0]!);
      await again.ready;
      await publishOk(cs[0]!, 1, [chunk('m1', 'after')]);
      expect(texts(await take(iteratorOf(again), 1))).toEqual(['after']);
      first[1]!.close();
      first[2]!.close();
      await eventually(async () => {
        expect(await numsub(channels[1]!)).toBe(0);
        expect(await numsub(channels[2]!)).toBe(0);
      });
      expect(await numsub(channels[0]!)).toBe(1);
      again.close();
      await eventually(async () => expect(await numsub(channels[0]!)).toBe(0));
      await eventually(() => {
        const verbs = sent.map((args) => args[0]!.toLowerCase());
        expect(verbs).not.toContain('subscribe');
        const unsubscribes = sent.filter((args) => args[0]!.toLowerCase() === 'unsubscribe');
        expect(unsubscribes.map((args) => args.slice(1).sort())).toEqual([
          [channels[1], channels[2]].sort(),
          [channels[0]],
        ]);
      });
    } finally {
      monitor.disconnect();
      await own.close();
    }
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

  it('subscriptions made at any point of the connection handshake go live', async () => {
    // Sweeps the subscribe call across the event-loop ticks of a fresh subscriber connection
    // (connecting, handshake, ready check, ready), without ever breaking the connection.
    const errors: Error[] = [];
    for (let ticks = 0; ticks < 30; ticks++) {
      const fresh = createEventSubscriber({ redis, streams, onError: (e) => errors.push(e) });
      for (let t = 0; t < ticks; t++) await new Promise((resolve) => setImmediate(resolve));
      const c = `handshake-${randomUUID()}`;
      const subscription = fresh.subscribe(c);
      await subscription.ready;
      await publishOk(c, 1, [chunk('m1', 'live'), completed('m1')]);
      expect(texts(await untilTerminal(iteratorOf(subscription))), `after ${ticks} ticks`).toEqual([
        'live',
        'turn.completed',
      ]);
      await fresh.close();
    }
    expect(errors).toEqual([]);
  });

  it('rejects an invalid after id', () => {
    expect(() => subscriber.subscribe('x', { after: 'not-an-id' })).toThrow(TypeError);
  });
});
