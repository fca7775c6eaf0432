import { deleteKeys } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds, createTurnStreams, type TurnStreams } from '../src/index.ts';
import { chunk, completed, connections, testPrefix } from './helpers.ts';

const conns = connections();
const prefix = testPrefix();
const redis = conns.open();
let streams: TurnStreams;

beforeAll(() => {
  streams = createTurnStreams({ redis, keyPrefix: prefix });
});

afterAll(async () => {
  await deleteKeys(redis, `${prefix}:*`);
  await conns.closeAll();
});

describe('keys', () => {
  it('share one hash tag per conversation', () => {
    const keys = streams.keys('c1');
    expect(keys).toEqual({
      log: `${prefix}:{conv:c1}:log`,
      fence: `${prefix}:{conv:c1}:fence`,
      ends: `${prefix}:{conv:c1}:ends`,
      channel: `${prefix}:{conv:c1}:live`,
      released: `${prefix}:{conv:c1}:released`,
    });
    expect(() => streams.keys('')).toThrow(TypeError);
  });
});

describe('publish / read / lastId', () => {
  it('assigns increasing ids and reads them back, exclusive of after', async () => {
    expect(await streams.lastId('rw')).toBeNull();
    expect(await streams.read('rw')).toEqual([]);
    const first = await streams.publish('rw', null, [chunk('m1', 'a'), chunk('m1', 'b')]);
    const second = await streams.publish('rw', 1, [chunk('m1', 'c'), completed('m1', 'abc')]);
    if (!first.ok || !second.ok) throw new Error('publish refused');
    const ids = [...first.ids, ...second.ids];
    expect(ids).toHaveLength(4);
    for (let i = 1; i < ids.length; i++) expect(compareStreamIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);

    const all = await streams.read('rw');
    expect(all.map((e) => e.id)).toEqual(ids);
    expect(all[0]!.event).toEqual(chunk('m1', 'a'));
    expect(all[3]!.event).toEqual(completed('m1', 'abc'));
    expect((await streams.read('rw', { after: ids[1]! })).map((e) => e.id)).toEqual(ids.slice(2));
    expect((await streams.read('rw', { after: ids[0]!, count: 2 })).map((e) => e.id)).toEqual(
      ids.slice(1, 3),
    );
    expect(await streams.read('rw', { after: ids[3]! })).toEqual([]);
    expect((await streams.read('rw', { after: '0-0' })).map((e) => e.id)).toEqual(ids);
    expect(await streams.lastId('rw')).toBe(ids[3]);
  });

  it('rejects invalid arguments before touching Redis', async () => {
    await expect(streams.read('x', { after: 'nope' })).rejects.toThrow(TypeError);
    await expect(streams.read('x', { count: 0 })).rejects.toThrow(RangeError);
    await expect(streams.publish('x', 0, [chunk('m', 'a')])).rejects.toThrow(RangeError);
    await expect(streams.publish('x', 1.5, [chunk('m', 'a')])).rejects.toThrow(RangeError);
    expect(() => createTurnStreams({ redis, maxLen: 0 })).toThrow(RangeError);
  });

  it('accepts an empty batch without writing', async () => {
    expect(await streams.publish('empty', 3, [])).toEqual({ ok: true, ids: [] });
    expect(await redis.exists(streams.keys('empty').log)).toBe(0);
    // The fence still moved: an older one is refused.
    expect(await streams.publish('empty', 2, [chunk('m', 'x')])).toEqual({
      ok: false,
      reason: 'stale_fence',
      currentFence: 3,
    });
  });
});

describe('fence', () => {
  it('refuses older fences, accepts equal and newer ones, and always accepts null', async () => {
    const c = 'fence';
    expect((await streams.publish(c, 5, [chunk('m1', 'a')])).ok).toBe(true);
    expect(await streams.publish(c, 4, [chunk('m1', 'zombie')])).toEqual({
      ok: false,
      reason: 'stale_fence',
      currentFence: 5,
    });
    expect((await streams.publish(c, 5, [chunk('m1', 'b')])).ok).toBe(true);
    expect((await streams.publish(c, null, [{ type: 'turn.queued', messageId: 'm2' }])).ok).toBe(true);
    expect((await streams.publish(c, 7, [chunk('m2', 'c')])).ok).toBe(true);
    expect(await streams.publish(c, 5, [chunk('m1', 'zombie2')])).toEqual({
      ok: false,
      reason: 'stale_fence',
      currentFence: 7,
    });
    expect((await streams.publish(c, null, [chunk('m2', 'd')])).ok).toBe(true);
    expect(await redis.get(streams.keys(c).fence)).toBe('7');
    const log = await streams.read(c);
    expect(log.map(({ event }) => ('text' in event ? event.text : event.type))).toEqual([
      'a',
      'b',
      'turn.queued',
      'c',
      'd',
    ]);
  });
});

describe('a turn ends once in the log', () => {
  it('appends the terminal event of a message once, whoever publishes it again, fenced or not', async () => {
    const conv = 'ends-once';
    const first = await streams.publish(conv, 2, [completed('m1', 'the reply')]);
    // A worker that took the job over rebuilds the end from the database and publishes it again.
    const again = await streams.publish(conv, null, [completed('m1', 'the reply')]);
    const newer = await streams.publish(conv, 3, [completed('m1', 'the reply')]);
    expect(first.ok && again.ok && newer.ok).toBe(true);
    expect(again).toEqual(first);
    expect(newer).toEqual(first);
    // Other events, and other messages' ends, are appended as usual.
    await streams.publish(conv, 3, [chunk('m2', 'next')]);
    await streams.publish(conv, 3, [completed('m2', 'next')]);
    const log = (await streams.read(conv)).map((d) => `${d.event.type}:${d.event.messageId}`);
    expect(log).toEqual(['turn.completed:m1', 'chunk:m2', 'turn.completed:m2']);
    expect(await redis.ttl(streams.keys(conv).ends)).toBeGreaterThan(0);
  });

  it('still refuses a stale fence for an end already in the log', async () => {
    const conv = 'ends-fenced';
    await streams.publish(conv, 5, [completed('m1')]);
    expect(await streams.publish(conv, 4, [completed('m1')])).toEqual({
      ok: false,
      reason: 'stale_fence',
      currentFence: 5,
    });
  });
});

describe('trim and TTL', () => {
  it('sets and refreshes the TTL of the log and the fence', async () => {
    const ttlStreams = createTurnStreams({ redis, keyPrefix: prefix, ttlSeconds: 600 });
    const keys = ttlStreams.keys('ttl');
    await ttlStreams.publish('ttl', 1, [chunk('m', 'a')]);
    for (const key of [keys.log, keys.fence]) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
    }
    await redis.expire(keys.log, 5);
    await redis.expire(keys.fence, 5);
    await ttlStreams.publish('ttl', null, [chunk('m', 'b')]);
    expect(await redis.ttl(keys.log)).toBeGreaterThan(590);
    expect(await redis.ttl(keys.fence)).toBeGreaterThan(590);
  });

  it('trims the log to about maxLen (MAXLEN ~) and keeps the newest entries', async () => {
    const maxLen = 20;
    const small = createTurnStreams({ redis, keyPrefix: prefix, maxLen });
    const config = (await redis.config('GET', 'stream-node-max-entries')) as string[];
    const nodeMax = Number(config[1] ?? 100);
    const ids: string[] = [];
    for (let batch = 0; batch < 60; batch++) {
      const events = Array.from({ length: 10 }, (_, i) => chunk('m', `${batch * 10 + i}`));
      const result = await small.publish('trim', 1, events);
      if (!result.ok) throw new Error('refused');
      ids.push(...result.ids);
    }
    const length = await redis.xlen(small.keys('trim').log);
    expect(length).toBeGreaterThanOrEqual(maxLen);
    expect(length).toBeLessThanOrEqual(maxLen + nodeMax);
    const log = await small.read('trim');
    expect(log.map((e) => e.id)).toEqual(ids.slice(ids.length - length));
    expect(await small.lastId('trim')).toBe(ids.at(-1));
  });
});
