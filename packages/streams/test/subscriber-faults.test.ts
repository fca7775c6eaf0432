// Fault injection on real connections: slow SUBSCRIBE, killed pub/sub connection, held reads.
import { randomUUID } from 'node:crypto';
import { eventually } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { createEventSubscriber } from '../src/index.ts';
import {
  chunk,
  completed,
  holdFirstRead,
  iteratorOf,
  observeSubscriberMessages,
  texts,
  untilTerminal,
} from './helpers.ts';
import { subscriberFixture } from './subscriber-fixture.ts';

const { conns, redis, streams, extraSubscribers, publishOk, numsub, pubsubClientId } = subscriberFixture();

describe('faults', () => {
  it('reads the log only after the channel subscription is confirmed', async () => {
    // Fault injection: the subscriber's (real) connection holds SUBSCRIBE back until released,
    // so events are published while the subscription is not yet confirmed.
    const base = conns.open();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const duplicate = base.duplicate.bind(base);
    base.duplicate = (override) => {
      const connection = duplicate(override);
      const subscribe = connection.subscribe.bind(connection) as (...channels: string[]) => Promise<unknown>;
      connection.subscribe = (async (...channels: string[]) => {
        await gate;
        return subscribe(...channels);
      }) as typeof connection.subscribe;
      return connection;
    };
    const gated = createEventSubscriber({ redis: base, streams });
    extraSubscribers.push(gated);
    const c = `gated-${randomUUID()}`;
    await publishOk(c, 1, [chunk('m1', 'before')]);
    const subscription = gated.subscribe(c);
    const received = untilTerminal(iteratorOf(subscription));
    let live = false;
    void subscription.ready.then(() => {
      live = true;
    });
    await publishOk(c, 1, [chunk('m1', 'while-subscribing-1')]);
    await publishOk(c, 1, [chunk('m1', 'while-subscribing-2')]);
    expect(live).toBe(false);
    release();
    await subscription.ready;
    await publishOk(c, 1, [chunk('m1', 'after'), completed('m1')]);
    expect(texts(await received)).toEqual([
      'before',
      'while-subscribing-1',
      'while-subscribing-2',
      'after',
      'turn.completed',
    ]);
    subscription.close();
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

    const killed = await pubsubClientId(name);
    expect(killed).toBeDefined();
    await redis.client('KILL', 'ID', killed!);
    expect(await numsub(channel)).toBe(0);
    await publishOk(c, 1, [chunk('m1', 'during-1'), chunk('m1', 'during-2')]);
    await publishOk(c, 1, [chunk('m1', 'during-3')]);
    // Proof that these were published while nobody listened (their live messages are lost).
    expect(await numsub(channel)).toBe(0);

    await eventually(async () => {
      const id = await pubsubClientId(name);
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

  it('a reconnect during a log read makes the subscription read again before going live', async () => {
    // Fault injection: the first log read is held after Redis answered it, while the pub/sub
    // connection is killed, events are published (their live messages are lost) and it reconnects.
    const name = `streams-midread-${randomUUID().slice(0, 8)}`;
    const named = conns.open({ connectionName: name, retryStrategy: () => 200 });
    const hold = holdFirstRead(streams);
    const own = createEventSubscriber({ redis: named, streams: hold.streams });
    extraSubscribers.push(own);
    const c = `midread-${randomUUID()}`;
    await publishOk(c, 1, [chunk('m1', 'before')]);
    const subscription = own.subscribe(c);
    const received = untilTerminal(iteratorOf(subscription));
    await hold.held;
    const killed = await pubsubClientId(name);
    expect(killed).toBeDefined();
    await redis.client('KILL', 'ID', killed!);
    await publishOk(c, 1, [chunk('m1', 'lost-live-1'), chunk('m1', 'lost-live-2')]);
    await eventually(async () => {
      const id = await pubsubClientId(name);
      expect(id).toBeDefined();
      expect(id).not.toBe(killed);
    });
    hold.release();
    await subscription.ready;
    await publishOk(c, 1, [completed('m1')]);
    expect(texts(await received)).toEqual(['before', 'lost-live-1', 'lost-live-2', 'turn.completed']);
    expect(hold.reads()).toBeGreaterThan(1);
    subscription.close();
  });

  it('live events beyond the high-water mark during a log read are re-read from the log', async () => {
    // The last (short) read is held after Redis answered it while a live batch larger than
    // highWaterMark arrives: the read buffer is dropped and the log is read again instead.
    const hold = holdFirstRead(streams);
    const base = conns.open();
    const messages = observeSubscriberMessages(base);
    const own = createEventSubscriber({ redis: base, streams: hold.streams, highWaterMark: 4 });
    extraSubscribers.push(own);
    const c = `drop-${randomUUID()}`;
    await publishOk(c, 1, [chunk('m1', 'before')]);
    const subscription = own.subscribe(c);
    const received = untilTerminal(iteratorOf(subscription));
    await hold.held;
    const seen = messages.next();
    await publishOk(
      c,
      1,
      Array.from({ length: 6 }, (_, i) => chunk('m1', `during-${i}`)),
    );
    await seen; // the subscription has had the live batch while its read was in flight
    hold.release();
    await subscription.ready;
    await publishOk(c, 1, [completed('m1')]);
    expect(texts(await received)).toEqual([
      'before',
      ...Array.from({ length: 6 }, (_, i) => `during-${i}`),
      'turn.completed',
    ]);
    expect(hold.reads()).toBeGreaterThan(1);
    subscription.close();
  });
});
