import { randomUUID } from 'node:crypto';
import { isTerminalEvent } from '@turnstream/contracts';
import { deleteKeys, eventually } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventSubscriber,
  createTurnStreams,
  type EventSubscriber,
  type TurnStreams,
} from '../src/index.ts';
import { chunk, completed, connections, iteratorOf, take, testPrefix, texts } from './helpers.ts';

// Redis 7 accepts SPUBLISH/SSUBSCRIBE on a non-cluster server.
const conns = connections();
const prefix = testPrefix();
const redis = conns.open();
let streams: TurnStreams;
let subscriber: EventSubscriber;

beforeAll(() => {
  streams = createTurnStreams({ redis, keyPrefix: prefix, sharded: true });
  subscriber = createEventSubscriber({ redis, streams });
});

afterAll(async () => {
  await subscriber.close();
  await deleteKeys(redis, `${prefix}:*`);
  await conns.closeAll();
});

async function shardNumsub(channel: string): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

describe('sharded pub/sub', () => {
  it('delivers the log then live events over SSUBSCRIBE, once and in order', async () => {
    const c = `sharded-${randomUUID()}`;
    const channel = streams.keys(c).channel;
    for (let i = 0; i < 10; i++) {
      const result = await streams.publish(c, 1, [chunk('m1', `${i}`)]);
      expect(result.ok).toBe(true);
    }
    const subscription = subscriber.subscribe(c);
    await subscription.ready;
    expect(await shardNumsub(channel)).toBe(1);
    const iterator = iteratorOf(subscription);
    const publishing = (async () => {
      for (let i = 10; i < 20; i++) await streams.publish(c, 1, [chunk('m1', `${i}`)]);
      expect((await streams.publish(c, null, [chunk('m1', 'unfenced')])).ok).toBe(true);
      expect(await streams.publish(c, 1, [completed('m1')])).toMatchObject({ ok: true });
    })();
    const events = await take(iterator, 22);
    await publishing;
    expect(texts(events)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `${i}`),
      'unfenced',
      'turn.completed',
    ]);
    expect(isTerminalEvent(events.at(-1)!.event)).toBe(true);
    expect(events.map((e) => e.id)).toEqual((await streams.read(c)).map((e) => e.id));
    subscription.close();
    await eventually(async () => expect(await shardNumsub(channel)).toBe(0), {
      timeoutMs: 10_000,
      intervalMs: 5,
    });
  });

  it('refuses a stale fence and does not deliver it', async () => {
    const c = `sharded-fence-${randomUUID()}`;
    const subscription = subscriber.subscribe(c);
    await subscription.ready;
    expect((await streams.publish(c, 3, [chunk('m1', 'a')])).ok).toBe(true);
    expect(await streams.publish(c, 2, [chunk('m1', 'zombie')])).toEqual({
      ok: false,
      reason: 'stale_fence',
      currentFence: 3,
    });
    expect((await streams.publish(c, 3, [completed('m1', 'a')])).ok).toBe(true);
    expect(texts(await take(iteratorOf(subscription), 2))).toEqual(['a', 'turn.completed']);
    subscription.close();
  });
});
